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
from promolab.store import Registry
from promolab.store.location import DB_ENV, DEFAULT_DB, DEMO_DB, demo_fallback


def open_registry(db: Optional[Path], must_exist: bool = True) -> Registry:
    """The registry a command uses: ``--db``, else the default (``resolve_db_path``). With no
    --db, no $PROMOLAB_DB and no ./promolab.duckdb but the demo's registry here, that is the
    one, and the command says so once, on stderr. ``must_exist``: a command that only reads
    or changes what is there never creates a file (it says where it looked)."""
    if db is None and demo_fallback():
        typer.echo(f"registry: ./{DEMO_DB} (the demo's: there is no ./{DEFAULT_DB} here; "
                   f"--db or ${DB_ENV} chooses another)", err=True)
    return Registry.open(db, must_exist=must_exist)


DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", metavar="FILE", envvar=DB_ENV, show_envvar=True,
                 help=f"Registry file (default ./{DEFAULT_DB}; after `promolab demo`, ./{DEMO_DB} if there is "
                      f"no ./{DEFAULT_DB})."),
]

__all__ = ["ByOption", "DataOption", "DbOption", "EngineOption", "JsonOption", "ReasonOption", "SparkMasterOption",
           "open_registry"]
