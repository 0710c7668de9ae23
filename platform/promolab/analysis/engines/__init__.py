"""Where the analysis SQL runs: DuckDB (default, embedded) or Spark.

An engine opens a *session* over a source — a per-user table, or a registry's tables
(or a Parquet copy of them) — and runs promolab's SQL there (written in DuckDB SQL,
transpiled to the engine's dialect when needed), returning small frames of sufficient
statistics. Everything after those frames is engine-independent. An engine lists the
report sections it can compute (``sections``); the pipeline refuses a plan that asks
one it cannot, naming the engine and the section.

    resolve_engine("duckdb")                       # the embedded default
    resolve_engine("spark", "spark://host:7077")   # any Spark cluster (pyspark extra)
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Union

from promolab.analysis.engines.duckdb_engine import DuckDBEngine
from promolab.analysis.engines.sources import SOURCE_COLUMNS, SqlSession, check_source_columns, parquet_location
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.store import Registry

ENGINES = ("duckdb", "spark")


class Engine(Protocol):
    name: str
    sections: frozenset[str]

    def open_table(self, path: str | Path) -> AbstractContextManager[SqlSession]: ...

    def open_experiment(self, registry: "Registry", data: str | Path | None) -> AbstractContextManager[SqlSession]:
        ...


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
            raise InputError("spark_master", spark_master, "only with engine spark")
        return DuckDBEngine()
    if key == "spark":  # its module (sqlglot's transpiler; pyspark on use) loads only when asked for
        return importlib.import_module("promolab.analysis.engines.spark_engine").SparkEngine(master=spark_master)
    raise InputError("engine", name, "one of " + ", ".join(ENGINES))


__all__ = ["ENGINES", "Engine", "EngineLike", "SOURCE_COLUMNS", "SqlSession", "check_source_columns",
           "parquet_location", "resolve_engine"]
