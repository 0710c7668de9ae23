"""Opening the registry file per operation, so that many processes can share it.

DuckDB lets one process write a database file, or several read it, at a time, and a
process keeps its lock for as long as a connection is open. promolab therefore never
holds the file between operations: a read opens it read-only (a shared lock: readers
run side by side), a transaction opens it for writing (exclusive), and the connection
is closed when the operation ends (DuckDB checkpoints its WAL on close). The service,
any number of service processes, the dashboard and the CLI thus take turns on one file.

- **Our own lock, next to DuckDB's.** Before DuckDB opens the file, a process takes an
  ``flock`` on ``<registry>.lock`` (shared to read, exclusive to write) and keeps it until
  DuckDB has closed the file. DuckDB's own lock is a POSIX record lock, which a process
  loses when it closes *any* descriptor of the file and which DuckDB gives up while it
  is still closing; two writers at once then overwrite each other's commits (seen in
  the multi-process tests before this lock). ``flock`` locks belong to the open file
  description, so only our own ``close`` releases them. DuckDB's lock still guards
  against programs that do not take ours.
- **Waiting.** A lock held by another process is retried with exponential back-off
  (1 ms doubling to 5 ms, with jitter) for up to :func:`lock_timeout` seconds (10 by
  default, ``$PROMOLAB_LOCK_TIMEOUT``), then refused in one line.
- **Lingering, politely.** Opening costs ~12 ms (DuckDB's start-up, even in memory),
  so a connection stays open for :attr:`FileAccess.linger` (30 ms) after an operation,
  for the next one - unless another process is waiting: a waiter holds a shared
  ``flock`` on ``<registry>.waiting`` while it retries, and a holder that sees one
  closes at the end of its operation and lets the waiter in (it opens again only after
  :attr:`FileAccess.gap`). A busy service therefore hands the file over between group
  commits instead of starving the CLI.
- **One connection per process and file**, shared by every ``Registry`` of that path
  and serialised by one re-entrant lock: nested operations reuse the outer one's
  connection, and :meth:`FileAccess.hold` keeps it across several operations (a report's
  queries see one state; a read-then-write is atomic across processes when held for
  writing).
"""

from __future__ import annotations

import atexit
import fcntl
import math
import os
import random
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import duckdb

from promolab.errors import InputError
from promolab.store import files
from promolab.store.preflight import RegistryFileError

LOCK_TIMEOUT_ENV = "PROMOLAB_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10.0
MAX_LOCK_TIMEOUT = 3600.0
WAITING_SUFFIX = ".waiting"
T = TypeVar("T")
LOCK_SUFFIX = ".lock"

_HOLDER = re.compile(r"\(PID (\d+)\)")


def lock_timeout() -> float:
    """Seconds to wait for another process's lock: ``$PROMOLAB_LOCK_TIMEOUT`` or 10."""
    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_LOCK_TIMEOUT:
        raise InputError(LOCK_TIMEOUT_ENV, text, f"a number of seconds in (0, {MAX_LOCK_TIMEOUT:g}]")
    return value


def is_lock_conflict(exc: BaseException) -> bool:
    """True for DuckDB's error when another process holds the file's lock."""
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


def _other_configuration(exc: BaseException) -> bool:
    return "different configuration" in str(exc).lower()


class _WaitSignal:
    """A shared ``flock`` on ``<registry>.waiting`` held while this process waits for the file."""

    def __init__(self, path: Path):
        self.path = Path(f"{path}{WAITING_SUFFIX}")
        self._fd: int | None = None

    def __enter__(self) -> "_WaitSignal":
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(self._fd, fcntl.LOCK_SH)
        except OSError:  # a folder we may not write: wait without signalling (holders linger)
            self._release()
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def others_waiting(path: Path) -> bool:
    """Is another process waiting for ``path`` (a shared lock on its ``.waiting`` file)?"""
    try:
        fd = os.open(f"{path}{WAITING_SUFFIX}", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also releases the exclusive lock taken just to look
    return False


def _busy(path: Path, limit: float, holder: str = "another process") -> RegistryFileError:
    return RegistryFileError(f"{path}: is busy: {holder} has held it for over {limit:g} s "
                             f"(${LOCK_TIMEOUT_ENV} sets how long to wait)")


def _retry(path: Path, attempt: Callable[[], T | None], limit: float, busy: Callable[[], RegistryFileError]) -> T:
    """``attempt()`` again, with back-off (1 ms doubling to 5 ms, with jitter) and the waiting
    signal held, until it returns something; ``busy()`` is raised after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    delay = 0.001
    with _WaitSignal(path):
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise busy()
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 2, 0.005)
            result = attempt()
            if result is not None:
                return result


def lock_file(path: Path, exclusive: bool, timeout: float | None = None) -> int | None:
    """Take the ``flock`` on ``<path>.lock`` (see the module doc), waiting like
    :func:`connect_waiting`; the descriptor to close to release it, or None when the lock
    file cannot be created (a folder this process may not write: DuckDB's lock only)."""
    try:
        fd = os.open(f"{path}{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return None
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    try:
        fcntl.flock(fd, mode)
        return fd
    except BlockingIOError:
        pass
    except OSError:
        os.close(fd)
        return None
    limit = lock_timeout() if timeout is None else timeout

    def attempt() -> int | None:
        try:
            fcntl.flock(fd, mode)
            return fd
        except BlockingIOError:
            return None

    try:
        return _retry(path, attempt, limit, lambda: _busy(path, limit))
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def locked(path: Path, exclusive: bool) -> Iterator[None]:
    """The block runs holding the ``flock`` of ``path`` (if the file exists: opening a registry
    that is not there yet leaves no lock file behind; its creation is guarded by DuckDB)."""
    fd = lock_file(path, exclusive) if path.exists() else None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def connect_waiting(path: Path, read_only: bool, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
    """``files.connect``, waiting (see the module doc) while another process holds the lock."""
    limit = lock_timeout() if timeout is None else timeout
    conflicts: list[BaseException] = []

    def attempt() -> duckdb.DuckDBPyConnection | None:
        try:
            return files.connect(path, read_only)
        except RegistryFileError as exc:
            if exc.__cause__ is None or not is_lock_conflict(exc.__cause__):
                raise
            conflicts.append(exc.__cause__)
            return None

    def busy() -> RegistryFileError:
        found = _HOLDER.search(str(conflicts[-1]))
        return _busy(path, limit, f"process {found.group(1)}" if found else "another process")

    first = attempt()
    return first if first is not None else _retry(path, attempt, limit, busy)


def close_all() -> None:
    """Close every lingering connection of this process (at exit: DuckDB must checkpoint and
    close on the main thread before the interpreter tears down the daemon closer threads)."""
    for access in list(FileAccess._by_path.values()):
        access.close()


class FileAccess:
    """This process's access to one registry file (see the module doc); one per path."""

    _by_path: dict[Path, "FileAccess"] = {}
    _by_path_lock = threading.Lock()

    linger = 0.030  # seconds an idle connection stays open for the next operation
    gap = 0.010  # seconds this process stays out after handing the file to a waiter

    @classmethod
    def of(cls, path: Path) -> "FileAccess":
        with cls._by_path_lock:
            access = cls._by_path.get(path)
            if access is None:
                access = cls._by_path[path] = cls(path)
            return access

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()
        self._idle = threading.Condition(self.lock)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock_fd: int | None = None  # our flock, held while DuckDB has the file open
        self._writable = False
        self._depth = 0
        self._released = 0.0
        self._handed_over = 0.0
        self._closer: threading.Thread | None = None
        self.opens = 0  # connections opened (for tests and benchmarks)

    @property
    def is_open(self) -> bool:
        return self._con is not None

    @contextmanager
    def use(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file's connection for one operation: read-only unless ``write`` (or unless this
        process already has it open for writing)."""
        with self.lock:
            if self._con is not None and write and not self._writable:
                self._close()  # an open read-only connection cannot take the write lock
            if self._con is None:
                self._open(write)
            self._depth += 1
            try:
                yield self._con
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._released = time.monotonic()
                    if others_waiting(self.path):
                        self._close()
                        self._handed_over = self._released
                    else:
                        self._idle.notify()

    @contextmanager
    def hold(self, write: bool = False) -> Iterator[None]:
        """Keep one connection across every operation inside the block (this thread only)."""
        with self.use(write):
            yield

    def close(self) -> None:
        """Close the connection now if no operation is using it."""
        with self.lock:
            if self._depth == 0 and self._con is not None:
                self._close()

    # -- internals (under self.lock) ---------------------------------------------------------

    def _open(self, write: bool) -> None:
        pause = self._handed_over + self.gap - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._lock_fd = lock_file(self.path, exclusive=write)
        try:
            try:
                self._con = connect_waiting(self.path, read_only=not write)
                self._writable = write
            except RegistryFileError as exc:
                if write or exc.__cause__ is None or not _other_configuration(exc.__cause__):
                    raise
                # this process has the file open for writing elsewhere (a plain DuckDB
                # connection): a read joins that database instance
                self._con = connect_waiting(self.path, read_only=False)
                self._writable = True
        except BaseException:
            self._unlock()
            raise
        self.opens += 1
        if self._closer is None:  # the closer of the last connection has ended (under this lock)
            self._closer = threading.Thread(target=self._close_when_idle, name=f"promolab-registry-{self.path.name}",
                                            daemon=True)
            self._closer.start()

    def _close(self) -> None:
        con, self._con = self._con, None
        try:
            if con is not None:
                con.close()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _close_when_idle(self) -> None:
        with self.lock:
            try:
                while self._con is not None:
                    idle = time.monotonic() - self._released
                    if self._depth == 0 and idle >= self.linger:
                        self._close()
                        return
                    self._idle.wait(self.linger if self._depth else self.linger - idle)
            finally:
                self._closer = None  # still under the lock: the next open starts a new closer


atexit.register(close_all)

__all__ = ["DEFAULT_LOCK_TIMEOUT", "FileAccess", "close_all", "lock_file", "locked", "LOCK_TIMEOUT_ENV", "connect_waiting", "is_lock_conflict",
           "lock_timeout", "others_waiting"]
