"""The registry file before DuckDB opens it: is it there, is it a DuckDB database at all, can
its folder be created, may we write it.

Step 1 of opening a registry (step 2, with DuckDB, is :mod:`promolab.store.files`). It needs
no DuckDB, so ``promolab dashboard`` checks its file without importing DuckDB before the
server starts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from promolab.errors import StateError

#: a DuckDB file: a main header and two database headers of 4 KiB, then fixed-size blocks
HEADER_BYTES = 3 * 4096
MAGIC = b"DUCK"
MAGIC_OFFSET = 8

RESTORE = "restore it from a backup"


class RegistryFileError(StateError):
    """The registry file cannot be used as it is: missing, damaged, truncated, not a DuckDB
    database, someone else's database, or not writable when a write is needed.

    Raised by ``Registry.open`` (and by an operation that finds a damaged block); one
    line, starting with the file's path.
    """


def fail(path: Path, problem: str) -> RegistryFileError:
    """The error for ``path``: its path, then the problem."""
    return RegistryFileError(f"{path}: {problem}")


def inspect_path(path: Path) -> bool:
    """True if ``path`` is an existing file that starts like a DuckDB database, False if there
    is no file yet; a RegistryFileError for anything else."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise fail(path, "is a folder, expected a registry file")
    if not stat.S_ISREG(info.st_mode):
        raise fail(path, "is not a regular file, expected a registry file")
    if info.st_size == 0:
        raise fail(path, "is empty (0 bytes), not a registry; delete it to create a new registry there")
    try:
        with open(path, "rb") as f:
            head = f.read(MAGIC_OFFSET + len(MAGIC))
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror})") from None
    if head[MAGIC_OFFSET:] != MAGIC:
        raise fail(path, "is not a DuckDB database file; expected a promolab registry (or a new file name)")
    if info.st_size < HEADER_BYTES:
        raise fail(path, f"is truncated: {info.st_size:,} bytes, shorter than a DuckDB header "
                          f"({HEADER_BYTES:,}); {RESTORE}")
    return True


def _nearest_existing(folder: Path) -> Path:
    for p in (folder, *folder.parents):
        if os.path.lexists(p):
            return p
    return Path(folder.anchor or ".")


def writable(path: Path) -> bool:
    """May this process write ``path`` (an existing file) and create its WAL next to it?"""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def prepare_folder(path: Path) -> None:
    """Create the folder of a new registry file, or say in one line why it cannot be."""
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise fail(path, f"cannot create the registry: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise fail(path, f"cannot create the registry: no write permission in {existing}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(path, f"cannot create the registry: cannot create {path.parent} ({exc.strerror})") from None
