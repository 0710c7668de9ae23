"""Where the sufficient-statistics SQL runs: DuckDB (default, embedded) or Spark.

An engine takes promolab's analysis SQL (written in DuckDB SQL, transpiled to the
engine's dialect when needed) and returns the per-variant sufficient-statistics frame
that ``stats_from_frame`` reads. Everything after that frame is engine-independent.

    resolve_engine("duckdb")                       # the embedded default
    resolve_engine("spark", "spark://host:7077")   # any Spark cluster (pyspark extra)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, Union

import pandas as pd

from promolab.analysis.sql import ColumnMetric
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.store import Registry

ENGINES = ("duckdb", "spark")

# Columns the experiment SQL reads from each source table (a Parquet file or folder each).
SOURCE_COLUMNS = {
    "exposures": ("experiment_key", "user_id", "variant_key", "first_exposed_at"),
    "events": ("user_id", "event", "value", "ts"),
    "user_attributes": ("user_id", "attribute", "value_num"),
}


class Engine(Protocol):
    """Runs promolab's SQL where the data lives and returns sufficient statistics."""

    name: str

    def table_stats(self, path: str | Path, variant: str, control: str,
                    metrics: Sequence[ColumnMetric]) -> pd.DataFrame:
        """Per-variant sufficient statistics of a per-user table (checked first)."""

    def experiment_stats(self, registry: "Registry", sql: str, data: str | Path | None,
                         tables: Sequence[str]) -> pd.DataFrame:
        """Run the experiment query over the registry's tables, or over the Parquet
        ``data`` folder holding ``exposures``, ``events``, ``user_attributes``."""


EngineLike = Union[str, Engine, None]


def resolve_engine(name: EngineLike = "duckdb", spark_master: str | None = None) -> Engine:
    """An engine by name (``duckdb`` | ``spark``); an Engine instance is returned as is.

    ``spark_master`` (e.g. ``spark://host:7077``, ``yarn``, ``local[4]``) only applies to
    Spark; without it Spark uses the standard settings (``spark-defaults.conf``,
    ``PYSPARK_SUBMIT_ARGS``) or, when none name a master, ``local[2]``.
    """
    if name is None:
        name = "duckdb"
    if not isinstance(name, str):
        return name
    key = name.strip().lower()
    if key == "duckdb":
        if spark_master:
            raise InputError("--spark-master", spark_master, "only with --engine spark")
        from promolab.analysis.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    if key == "spark":
        from promolab.analysis.engines.spark_engine import SparkEngine

        return SparkEngine(master=spark_master)
    raise InputError("--engine", name, "one of " + ", ".join(ENGINES))


def needed_tables(sql: str) -> tuple[str, ...]:
    """The source tables an experiment query reads (user_attributes only with CUPED)."""
    return tuple(t for t in SOURCE_COLUMNS if t != "user_attributes" or "user_attributes" in sql)


def parquet_location(data: str | Path, table: str) -> str:
    """``DATA/<table>.parquet`` if that file exists, else ``DATA/<table>`` (a file or a
    folder of Parquet parts; for a URI such as ``s3a://bucket/lake`` always the latter)."""
    text = str(data).rstrip("/")
    if "://" not in text:
        for candidate in (Path(text) / f"{table}.parquet", Path(text) / table):
            if candidate.exists():
                return str(candidate)
        raise InputError("--data", text, f"a folder holding {table}.parquet or {table}/ (Parquet)")
    return f"{text}/{table}"


def check_source_columns(table: str, location: str, columns: Sequence[str]) -> None:
    """One-line error naming the first column the experiment query needs but is missing."""
    present = set(columns)
    for column in SOURCE_COLUMNS[table]:
        if column not in present:
            raise InputError(f"{table} column", column,
                             f"a column of {location} ({', '.join(columns)})")


__all__ = ["ENGINES", "Engine", "SOURCE_COLUMNS", "check_source_columns", "needed_tables",
           "parquet_location", "resolve_engine"]
