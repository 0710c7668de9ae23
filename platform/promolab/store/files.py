"""The registry file itself: is it there, is it a DuckDB database, is it whole, may we write it.

``Registry`` opens a file in two steps so that nothing is written to a file promolab
cannot use:

1. before DuckDB sees it (:func:`inspect_path`): not a folder, not empty, starts like a
   DuckDB database (``DUCK`` after the 8-byte checksum), at least a DuckDB header long;
   for a new file, its folder can be created (:func:`prepare_folder`);
2. with a read-only connection: the length the DuckDB header promises (a copy cut short
   is refused, :func:`check_length`), the catalog (DuckDB verifies the checksum of every
   block it reads), the promolab schema (:func:`promolab.store.migrations.schema_version`)
   and, read in full, the small control tables (:func:`check_tables`). Only then is the
   file opened for writing and migrated.

The bulk tables (events, exposures, attributes) are not read on open: that would be a
full scan per command. A damaged block there is reported by the operation that reads
it, as the same one-line :class:`RegistryFileError` (:func:`file_error`);
``Registry.verify()`` reads everything.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import duckdb

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


def _fail(path: Path, problem: str) -> RegistryFileError:
    return RegistryFileError(f"{path}: {problem}")


def _duckdb_line(path: Path, exc: BaseException) -> str:
    """DuckDB's message, on one line, without the path (the error already names it)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(f'"{path}"', "the file").replace(str(path), "the file")


def inspect_path(path: Path) -> bool:
    """True if ``path`` is an existing file that starts like a DuckDB database, False if there
    is no file yet; a RegistryFileError for anything else."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _fail(path, "is a folder, expected a registry file")
    if not stat.S_ISREG(info.st_mode):
        raise _fail(path, "is not a regular file, expected a registry file")
    if info.st_size == 0:
        raise _fail(path, "is empty (0 bytes), not a registry; delete it to create a new registry there")
    try:
        with open(path, "rb") as f:
            head = f.read(MAGIC_OFFSET + len(MAGIC))
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror})") from None
    if head[MAGIC_OFFSET:] != MAGIC:
        raise _fail(path, "is not a DuckDB database file; expected a promolab registry (or a new file name)")
    if info.st_size < HEADER_BYTES:
        raise _fail(path, f"is truncated: {info.st_size:,} bytes, shorter than a DuckDB header "
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
        raise _fail(path, f"cannot create the registry: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _fail(path, f"cannot create the registry: no write permission in {existing}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(path, f"cannot create the registry: cannot create {path.parent} ({exc.strerror})") from None


_LOCATION = re.compile(r"block at location (\d+)")


def damage_error(path: Path, exc: BaseException, table: str | None = None) -> RegistryFileError | None:
    """The one-line error for a DuckDB error that means the registry file is damaged, else None.

    Narrow on purpose: a query error (a bad column, a COPY to a folder that cannot be
    written) is not the registry's fault and keeps its own message."""
    if isinstance(exc, duckdb.ProgrammingError):  # parser, binder, catalog, invalid input: the query's fault
        return None
    text = str(exc)
    low = text.lower()
    where = f" (table {table})" if table else ""
    if "could not read enough bytes" in low:
        size = path.stat().st_size if path.exists() else 0
        return _fail(path, f"is truncated: {size:,} bytes, and DuckDB needs data past its end{where}; {RESTORE}")
    if "corrupt database file" in low or ("checksum" in low and "does not match" in low):
        at = _LOCATION.search(text)
        block = f"the block at byte {int(at.group(1)):,}" if at else "a block"
        return _fail(path, f"is damaged: {block} fails its checksum{where}; {RESTORE}")
    if isinstance(exc, duckdb.FatalException):  # DuckDB gave up on the file after an earlier error
        return _fail(path, f"is damaged or unreadable ({_duckdb_line(path, exc)}); {RESTORE}")
    return None


def connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to ``path``, or a one-line RegistryFileError saying why not."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if "not a valid duckdb database" in str(exc).lower():
            raise _fail(path, "is not a DuckDB database file; expected a promolab registry") from exc
        raise (damage_error(path, exc) or _fail(path, f"cannot open the registry ({_duckdb_line(path, exc)})")) from exc


def check_length(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file shorter than the used blocks its DuckDB header counts (a cut-short copy).

    DuckDB cuts free blocks off the end of the file when it checkpoints, so only the
    blocks in use (total less free) are a lower bound on the length."""
    block_size, blocks, free = con.execute(
        "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()[0]
    expected = HEADER_BYTES + (int(blocks) - int(free)) * int(block_size)
    size = path.stat().st_size
    if size < expected:
        raise _fail(path, f"is truncated: {size:,} bytes, its DuckDB header counts {expected:,} in use; "
                          f"{RESTORE}")


def check_tables(con: duckdb.DuckDBPyConnection, path: Path, tables: list[str] | tuple[str, ...]) -> None:
    """Read every column of ``tables`` in full, so DuckDB verifies the checksum of each of their blocks."""
    for table in tables:
        try:
            con.execute(f'SELECT bit_xor(hash("{table}")) FROM "{table}"').fetchall()
        except duckdb.Error as exc:
            error = damage_error(path, exc, table)
            if error is None:
                raise
            raise error from exc


def user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views of the open database file (not temporary or registered ones)."""
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "ORDER BY table_name"
    ).fetchall()]
