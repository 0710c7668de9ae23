"""The registry file as DuckDB opens it: is it whole, is it a promolab registry, is a block damaged.

``Registry`` opens a file in two steps so that nothing is written to a file promolab
cannot use:

1. before DuckDB sees it (:mod:`promolab.store.preflight`): not a folder, not empty, starts
   like a DuckDB database (``DUCK`` after the 8-byte checksum), at least a DuckDB header
   long; for a new file, its folder can be created;
2. with a read-only connection: the length the DuckDB header promises (a copy cut short
   is refused, :func:`check_length`), the catalog (DuckDB verifies the checksum of every
   block it reads), the promolab schema (:func:`promolab.store.migrations.schema_version`)
   and, read in full, the small control tables (:func:`check_tables`). Only then is the
   file opened for writing and migrated.

The bulk tables (events, exposures, attributes) are not read on open: that would be a
full scan per command. A damaged block there is reported by the operation that reads
it, as the same one-line :class:`RegistryFileError` (:func:`damage_error`);
``Registry.verify()`` reads everything.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from promolab.store.preflight import HEADER_BYTES, RESTORE, RegistryFileError, fail


def _duckdb_line(path: Path, exc: BaseException) -> str:
    """DuckDB's message, on one line, without the path (the error already names it)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(f'"{path}"', "the file").replace(str(path), "the file")


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
        return fail(path, f"is truncated: {size:,} bytes, and DuckDB needs data past its end{where}; {RESTORE}")
    if "corrupt database file" in low or ("checksum" in low and "does not match" in low):
        at = _LOCATION.search(text)
        block = f"the block at byte {int(at.group(1)):,}" if at else "a block"
        return fail(path, f"is damaged: {block} fails its checksum{where}; {RESTORE}")
    if isinstance(exc, duckdb.FatalException):  # DuckDB gave up on the file after an earlier error
        return fail(path, f"is damaged or unreadable ({_duckdb_line(path, exc)}); {RESTORE}")
    return None


def connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to ``path``, or a one-line RegistryFileError saying why not."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if "not a valid duckdb database" in str(exc).lower():
            raise fail(path, "is not a DuckDB database file; expected a promolab registry") from exc
        raise (damage_error(path, exc) or fail(path, f"cannot open the registry ({_duckdb_line(path, exc)})")) from exc


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
        raise fail(path, f"is truncated: {size:,} bytes, its DuckDB header counts {expected:,} in use; "
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
