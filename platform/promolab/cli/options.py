"""Options shared by several commands. ``DbOption`` shows the registry's environment
variable, taken from ``promolab.store.location`` (no DuckDB or pandas); the options that
need no registry live in ``promolab.cli.common_options`` and are re-exported here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.cli.common_options import (
    ByOption,
    DataOption,
    EngineOption,
    JsonOption,
    ReasonOption,
    SparkMasterOption,
)
from promolab.store.location import DB_ENV, DEFAULT_DB, DEMO_DB, demo_fallback


def _say_demo_fallback(value: Optional[Path]) -> Optional[Path]:
    """No --db, no $PROMOLAB_DB and no ./promolab.duckdb, but the demo's registry is here:
    the command uses it (``resolve_db_path``) and says so once, on stderr."""
    if value is None and demo_fallback():
        typer.echo(f"registry: ./{DEMO_DB} (the demo's: there is no ./{DEFAULT_DB} here; "
                   f"--db or ${DB_ENV} chooses another)", err=True)
    return value


DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", metavar="FILE", envvar=DB_ENV, callback=_say_demo_fallback, show_envvar=True,
                 help=f"Registry file (default ./{DEFAULT_DB}; after `promolab demo`, ./{DEMO_DB} if there is "
                      f"no ./{DEFAULT_DB})."),
]

__all__ = ["ByOption", "DataOption", "DbOption", "EngineOption", "JsonOption", "ReasonOption", "SparkMasterOption"]
