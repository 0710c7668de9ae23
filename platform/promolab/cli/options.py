"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.store import DB_ENV

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", envvar=DB_ENV, help="Registry file (default ./promolab.duckdb).", show_envvar=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ByOption = Annotated[str, typer.Option("--by", help="Who makes the change (recorded in history).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in history).")]
EngineOption = Annotated[str, typer.Option(
    "--engine", help="Where the SQL runs: duckdb (embedded) | spark (pip install 'promolab[spark]').")]
SparkMasterOption = Annotated[Optional[str], typer.Option(
    "--spark-master", envvar="PROMOLAB_SPARK_MASTER", show_envvar=True,
    help="Spark master URL (spark://host:7077, yarn, k8s://…, local[4]); default: Spark's own settings, "
         "else local[2].")]
DataOption = Annotated[Optional[str], typer.Option(
    "--data", help="Folder or URI with Parquet exposures, events, user_attributes to read instead of the "
                   "registry's tables.")]
