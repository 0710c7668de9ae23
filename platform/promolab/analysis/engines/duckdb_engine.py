"""The embedded default: DuckDB runs the SQL as written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import duckdb
import pandas as pd

from promolab.analysis.engines import check_source_columns, parquet_location
from promolab.analysis.sql import ColumnMetric, literal, quote, sufficient_stats_sql
from promolab.analysis.table import check_table, column_types, open_table
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.store import Registry


class DuckDBEngine:
    name = "duckdb"

    def table_stats(self, path: str | Path, variant: str, control: str,
                    metrics: Sequence[ColumnMetric]) -> pd.DataFrame:
        con = duckdb.connect()
        try:
            relation = open_table(con, path, "per_user_input")
            check_table(con, relation, variant, control, list(metrics), str(path))
            return con.execute(sufficient_stats_sql(relation, variant, list(metrics))).df()
        finally:
            con.close()

    def experiment_stats(self, registry: "Registry", sql: str, data: str | Path | None,
                         tables: Sequence[str]) -> pd.DataFrame:
        if data is None:
            return registry.query(sql)
        con = duckdb.connect()
        try:
            for table in tables:
                location = parquet_location(data, table)
                reader = (f"read_parquet({literal(location + '/**/*.parquet')})" if Path(location).is_dir()
                          else f"read_parquet({literal(location)})")
                try:
                    con.execute(f"CREATE VIEW {quote(table)} AS SELECT * FROM {reader}")
                    columns = list(column_types(con, table))
                except duckdb.Error as exc:
                    raise InputError("--data", location,
                                     f"readable Parquet ({str(exc).splitlines()[0]})") from exc
                check_source_columns(table, location, columns)
            return con.execute(sql).df()
        finally:
            con.close()
