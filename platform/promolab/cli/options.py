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
