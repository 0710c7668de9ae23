"""Options shared by several commands that need no registry: importing this module does
not import ``promolab.store`` (DuckDB, pandas), so a command such as ``power`` that opens
no registry starts without them. ``promolab.cli.options`` re-exports these beside
``DbOption``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ByOption = Annotated[str, typer.Option("--by", metavar="NAME", help="Who makes the change (recorded in history).")]
ReasonOption = Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why (recorded in history).")]
EngineOption = Annotated[str, typer.Option(
    "--engine", metavar="duckdb|spark",
    help="Where the SQL runs: duckdb (embedded) | spark (pip install 'promolab\\[spark]').")]
SparkMasterOption = Annotated[Optional[str], typer.Option(
    "--spark-master", metavar="URL", envvar="PROMOLAB_SPARK_MASTER", show_envvar=True,
    help="Spark master URL (spark://host:7077, yarn, k8s://…, local[4]); default: Spark's own settings, "
         "else local[2].")]
DataOption = Annotated[Optional[str], typer.Option(
    "--data", metavar="PATH|URI", help="Folder or URI with Parquet exposures, events, user_attributes to read "
                                       "instead of the registry's tables.")]
