"""The embedded default: DuckDB runs the SQL as written."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from promolab.analysis.engines.sources import (
    REQUIRED,
    SOURCE_COLUMNS,
    SqlSession,
    check_source_columns,
    parquet_location,
)
from promolab.analysis.sql import literal, quote
from promolab.analysis.table import column_types, duckdb_numeric, exact_path, open_table
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.store import Registry


class DuckDBEngine:
    name = "duckdb"
    sections = frozenset({"filtering", "segments", "economics", "bandit periods", "health", "tails"})

    @contextmanager
    def open_table(self, path: str | Path) -> Iterator[SqlSession]:
        con = duckdb.connect()
        try:
            relation = open_table(con, path, "per_user_input")
            yield SqlSession(lambda sql: con.execute(sql).df(), frozenset({relation}), relation,
                             column_types(con, relation), duckdb_numeric, temporary=True)
        finally:  # closing the in-memory database drops its temporary tables
            con.close()

    @contextmanager
    def open_experiment(self, registry: "Registry", data: str | Path | None) -> Iterator[SqlSession]:
        if data is None:
            with registry.hold():  # the report's queries see one state of the file and open it once
                present = set(registry.query("SELECT table_name FROM information_schema.tables")["table_name"])
                session = SqlSession(registry.query, frozenset(present), temporary=True)
                try:
                    yield session
                finally:  # the registry's connection outlives the session
                    session.unpin()
            return
        con = duckdb.connect()
        try:
            found = set()
            for table in SOURCE_COLUMNS:
                location = parquet_location(data, table, required=table in REQUIRED)
                if location is None:
                    continue
                reader = (f"read_parquet({literal(exact_path(location) + '/**/*.parquet')})"
                          if Path(location).is_dir() else f"read_parquet({literal(exact_path(location))})")
                try:
                    con.execute(f"CREATE VIEW {quote(table)} AS SELECT * FROM {reader}")
                    columns = list(column_types(con, table))
                except duckdb.Error as exc:
                    raise InputError("data", location, f"readable Parquet ({str(exc).splitlines()[0]})") from exc
                check_source_columns(table, location, columns)
                found.add(table)
            # the registry's own small tables (bandit weights) stay where they are
            yield SqlSession(lambda sql: con.execute(sql).df(), frozenset(found), temporary=True)
        finally:
            con.close()
