"""Reports off the server: one worker process, a time limit, cancelled when nobody waits.

``GET /v1/experiments/{key}/report`` must never starve ``/v1/assign`` nor hold the server:
a report (SQL over every exposure and event, then the statistics) is CPU work of seconds
on a large registry. :class:`ReportRunner` therefore runs it in a separate process
(``promolab.service.report_worker``, started on the first report and kept warm), one
report at a time, at a lower CPU priority, and the route only awaits it:

- **time limit** (``timeout``, default :data:`DEFAULT_TIMEOUT` s, ``promolab serve
  --report-timeout``): counted from the request, waiting for the worker included; past
  it the route answers 504 naming the limit, and the worker is killed;
- **cancelled** when the client disconnects (the worker is killed: no CPU is spent on an
  answer nobody reads) and when the server shuts down (:meth:`ReportRunner.begin_shutdown`
  runs on SIGTERM/SIGINT, before uvicorn's graceful shutdown waits for open requests:
  those get 503 at once, so shutdown does not wait for reports);
- **bounded queue**: more than :data:`MAX_WAITING` reports waiting answer 503 + Retry-After.

The data. DuckDB lets no second process open a file that a process holds for writing (the
service holds its registry for its lifetime), even read-only. The worker therefore reads a
**snapshot**: a copy of the registry file (and its WAL) taken while the registry's lock is
held - no transaction can be in progress or start, so the files are consistent - and opened
read-only by the worker. The copy is a kernel file copy (no CPU in the server's Python),
taken in a thread; writes wait for it (acknowledged event batches, not assignment, which
never waits on the database). A snapshot is reused by the next report while nothing was
committed since (writer commits and admin changes unchanged) and deleted when replaced or
when the service stops (a killed service's are deleted by the next one that takes a
snapshot). It needs free space in the temp folder the size of the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable

from promolab.service.errors import ApiError
from promolab.service.report_worker import NICE, PARENT_ENV

log = logging.getLogger("promolab.service.reports")

DEFAULT_TIMEOUT = 30.0
MAX_WAITING = 8
MAX_REPLY_BYTES = 256 * 2**20


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.jobs = 0

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def call(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The worker's reply to ``job``, or None when the worker exited first."""
        stdin, stdout = self.process.stdin, self.process.stdout
        stdin.write(json.dumps(job).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await stdin.drain()
        while True:
            line = await stdout.readline()
            if not line:
                return None
            reply = json.loads(line)
            if reply.get("ok"):  # the report's JSON text follows
                try:
                    reply["body"] = (await stdout.readexactly(reply["length"] + 1))[:-1]
                except asyncio.IncompleteReadError:
                    return None
            if reply.get("id") == job["id"]:
                self.jobs += 1
                return reply

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class ReportRunner:
    """Reports of one service, in one worker process (see the module docstring)."""

    def __init__(self, state, timeout: float = DEFAULT_TIMEOUT, *, max_waiting: int = MAX_WAITING,
                 compute: str = "promolab.service.report_worker:compute_report", snapshot_dir: str | None = None):
        if not timeout > 0:
            raise ValueError("the report time limit must be > 0 seconds")
        self.state = state
        self.timeout = float(timeout)
        self.max_waiting = max_waiting
        self.compute = compute  # module:function the worker calls with (snapshot path, key)
        self._snapshot_parent = snapshot_dir
        self._dir: Path | None = None
        self._snapshot: tuple[tuple[int, int], Path] | None = None
        self._snapshots = 0
        self._slot = asyncio.Lock()
        self._closing = asyncio.Event()
        self._worker: _Worker | None = None
        self._jobs = 0
        self._tasks: set[asyncio.Future] = set()
        self._killed: list[_Worker] = []
        self.waiting = 0
        self.started = 0  # worker processes started
        self.killed = 0  # worker processes killed (time limit, client gone, shutdown)

    # -- the route's side ----------------------------------------------------------------

    async def report(self, key: str, client_gone: Callable[[], Awaitable[Any]] | None = None) -> bytes:
        """The report as JSON text; raises ApiError (409 no data yet, 503, 504) otherwise."""
        if self._closing.is_set():
            raise self._shutting_down()
        if self.waiting >= self.max_waiting:
            raise ApiError(503, "unavailable", f"report: {self.waiting} reports are already waiting for the report "
                           "worker; retry later", headers={"Retry-After": "5"})
        job = asyncio.ensure_future(self._run(key))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)
        watchers = [asyncio.ensure_future(self._closing.wait())]
        if client_gone is not None:
            watchers.append(asyncio.ensure_future(client_gone()))
        self.waiting += 1
        try:
            done, _ = await asyncio.wait([job, *watchers], timeout=self.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the request itself was cancelled
            job.cancel()
            raise
        finally:
            self.waiting -= 1
            for w in watchers:
                w.cancel()
        if job in done:
            return job.result()
        job.cancel()
        with contextlib.suppress(BaseException):
            await job  # the worker is killed before this returns
        if self._closing.is_set():
            raise self._shutting_down()
        if len(watchers) > 1 and watchers[1] in done:
            log.info("report of %s cancelled: the client disconnected", key)
            raise ApiError(503, "unavailable", "report: cancelled, the client disconnected")
        log.warning("report of %s cancelled: not ready within %g s", key, self.timeout)
        raise ApiError(504, "timeout", f"report: not ready within the time limit of {self.timeout:g} s; the "
                       "report was cancelled (raise the limit with promolab serve --report-timeout)",
                       "timeout", self.timeout, f"a report computed within {self.timeout:g} s")

    def _shutting_down(self) -> ApiError:
        return ApiError(503, "unavailable", "report: the server is shutting down; retry", headers={"Retry-After": "5"})

    # -- one job at a time -----------------------------------------------------------------

    async def _run(self, key: str) -> bytes:
        async with self._slot:
            path = await self._fresh_snapshot()
            worker = await self._get_worker()
            self._jobs += 1
            job = {"id": self._jobs, "path": str(path), "key": key, "compute": self.compute}
            try:
                reply = await worker.call(job)
            except BaseException:  # cancelled (time limit, client gone, shutdown) or a broken pipe
                self._kill(worker)
                with contextlib.suppress(BaseException):
                    await asyncio.shield(worker.process.wait())
                raise
        if reply is None:
            self._kill(worker)
            if self._closing.is_set():
                raise self._shutting_down()
            log.error("report worker exited (code %s) during the report of %s", worker.process.returncode, key)
            raise ApiError(503, "unavailable", "report: the report worker stopped; retry", headers={"Retry-After": "1"})
        if reply.get("ok"):
            return reply["body"]
        if reply.get("error") == "input":  # not enough data yet (no exposures, a variant with < 2 users, ...)
            raise ApiError(409, "conflict", reply.get("message", ""), reply.get("field"), reply.get("value"),
                           reply.get("expected"))
        raise RuntimeError(f"report worker failed on {key}:\n{reply.get('traceback', '')}")

    async def _get_worker(self) -> _Worker:
        if self._worker is not None and self._worker.alive:
            return self._worker
        env = dict(os.environ)
        env[PARENT_ENV] = str(os.getpid())
        # whatever this process imports, the worker imports (promolab from a source tree, a test's helpers)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "promolab.service.report_worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env, limit=MAX_REPLY_BYTES, start_new_session=True)
        with contextlib.suppress(AttributeError, OSError):  # a lower CPU priority than the server's
            os.setpriority(os.PRIO_PROCESS, process.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE))
        self._worker = _Worker(process)
        self.started += 1
        log.info("report worker started (pid %d)", process.pid)
        return self._worker

    def _kill(self, worker: _Worker) -> None:
        if worker.alive:
            worker.kill()
            self.killed += 1
            self._killed = [w for w in self._killed if w.alive] + [worker]
            log.info("report worker killed (pid %d)", worker.process.pid)
        if self._worker is worker:
            self._worker = None

    # -- snapshots -------------------------------------------------------------------------

    def _version(self) -> tuple[int, int]:
        return self.state.version, self.state.writer.commits

    async def _fresh_snapshot(self) -> Path:
        version = self._version()
        if self._snapshot is not None and self._snapshot[0] == version and self._snapshot[1].exists():
            return self._snapshot[1]
        loop = asyncio.get_running_loop()
        copy = loop.run_in_executor(None, self._take_snapshot)
        try:
            path = await asyncio.shield(copy)
        except asyncio.CancelledError:  # the copy goes on in its thread: delete it when it is done
            copy.add_done_callback(lambda f: f.exception() is None and _remove(f.result()))
            raise
        old, self._snapshot = self._snapshot, (version, path)
        if old is not None:
            _remove(old[1])
        return path

    def _take_snapshot(self) -> Path:
        """Copy the registry (file and WAL) while its lock is held: a consistent, private copy."""
        registry = self.state.registry
        with _counter_lock:
            if self._dir is None:
                _remove_orphans(self._snapshot_parent)
                self._dir = Path(tempfile.mkdtemp(prefix=f"{SNAPSHOT_PREFIX}{os.getpid()}-",
                                                  dir=self._snapshot_parent))
            self._snapshots += 1
            n = self._snapshots
        dest = self._dir / f"snapshot-{n}.duckdb"
        source = Path(registry.path)
        wal = Path(f"{source}.wal")
        with registry.transaction():  # the registry's lock: no transaction in progress, none can start
            shutil.copyfile(source, dest)
            if wal.exists():
                shutil.copyfile(wal, Path(f"{dest}.wal"))
        return dest

    # -- life cycle ------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """Refuse new reports, answer the waiting ones 503 and kill the worker (on SIGTERM)."""
        self._closing.set()
        if self._worker is not None:
            self._kill(self._worker)

    async def close(self) -> None:
        self.begin_shutdown()
        for task in list(self._tasks):
            task.cancel()
        for worker in self._killed:  # reap them
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(worker.process.wait(), 5)
        self._killed = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._snapshot = None


_counter_lock = threading.Lock()
SNAPSHOT_PREFIX = "promolab-report-"


def _remove_orphans(parent: str | None) -> None:
    """Delete the snapshot folders of services that are gone (killed before they could)."""
    folder = Path(parent or tempfile.gettempdir())
    for path in folder.glob(f"{SNAPSHOT_PREFIX}*-*"):
        pid = path.name[len(SNAPSHOT_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive (another user's process, say)
            pass


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        with contextlib.suppress(OSError):
            p.unlink()
