"""Which registry file a command uses when none is named: one rule for the CLI, the
service and the dashboard (no DuckDB or pandas here, so options can import it cheaply)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "promolab.duckdb"
DEMO_DB = "promolab-demo.duckdb"  # what `promolab demo` builds
DB_ENV = "PROMOLAB_DB"


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """The registry file: ``path``, else $PROMOLAB_DB, else ./promolab.duckdb if it exists,
    else ./promolab-demo.duckdb if it exists (after ``promolab demo``), else ./promolab.duckdb."""
    chosen = path or os.environ.get(DB_ENV)
    if not chosen:
        chosen = DEMO_DB if not Path(DEFAULT_DB).exists() and Path(DEMO_DB).exists() else DEFAULT_DB
    return Path(chosen).resolve()


def demo_fallback(path: str | os.PathLike | None = None) -> bool:
    """True when :func:`resolve_db_path` picks the demo's registry because nothing else is named
    or present (a command says so once, on stderr)."""
    return not path and not os.environ.get(DB_ENV) and resolve_db_path().name == DEMO_DB


def missing_hint() -> str:
    """Where a command looked for a registry, for the error on a missing file."""
    return (f"no registry there (looked at --db, ${DB_ENV}, ./{DEFAULT_DB}, ./{DEMO_DB}); "
            "run `promolab demo`, or `promolab experiment create SPEC --db FILE` to start one")


__all__ = ["DB_ENV", "DEFAULT_DB", "DEMO_DB", "demo_fallback", "missing_hint", "resolve_db_path"]
