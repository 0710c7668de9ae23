"""Warehouse-native analysis: the report SQL in any warehouse's dialect, and the registry
exported to Parquet for a lake (Spark, DuckDB, a warehouse's external tables).

The SQL of ``promolab.analysis.sql`` is written once, in DuckDB SQL restricted to a
portable subset (CASE, COALESCE, LEAST, SUM, COUNT, MAX, GROUP BY expressions, plain
timestamp ranges with ``INTERVAL 'N' DAY`` / ``HOUR``) and transpiled with sqlglot. Metrics
with a conversion window close it against the data's own latest time (the ``clock``
CTE, never the warehouse's clock), so a warehouse computes the registry report's numbers. It avoids what
does not travel: ``GROUP BY ALL`` (Postgres rejects it), ``arg_min`` (passed through
unchanged) and ``date_diff`` (boundaries crossed in DuckDB, elapsed time in Spark).

An analyst runs the printed query in the warehouse, saves its few rows (one per
variant) as CSV or JSON and gets the same report with ``promolab analyze-stats``
(``promolab.analysis.stats_file``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from promolab.analysis.engines.sources import SOURCE_COLUMNS
from promolab.analysis.filtering import analysis_ctes
from promolab.analysis.sql import experiment_stats_sql, literal
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.spec import Experiment
    from promolab.store import Registry

DIALECTS = ("duckdb", "spark", "bigquery", "snowflake", "postgres")


def to_dialect(sql: str, dialect: str, schema: str | None = None, pretty: bool = True) -> str:
    """DuckDB SQL → ``dialect`` (one of DIALECTS); ``schema`` (``db`` or ``catalog.db``,
    e.g. a BigQuery ``project.dataset``) qualifies the source tables exposures, events
    and user_attributes."""
    key = (dialect or "").strip().lower()
    if key not in DIALECTS:
        raise InputError("dialect", dialect, "one of " + ", ".join(DIALECTS))
    tree = sqlglot.parse_one(sql, read="duckdb")
    if schema:
        parts = schema.split(".")
        if len(parts) > 2 or not all(parts):
            raise InputError("schema", schema, "a schema name, or catalog.schema (project.dataset)")
        for table in tree.find_all(exp.Table):
            if table.name in SOURCE_COLUMNS and not table.args.get("db"):
                table.set("db", exp.to_identifier(parts[-1]))
                if len(parts) == 2:
                    table.set("catalog", exp.to_identifier(parts[0]))
    return tree.sql(dialect=key, pretty=pretty, unsupported_level=ErrorLevel.RAISE)


def experiment_sql(experiment: "Experiment", dialect: str = "duckdb", cuped: bool = True,
                   window_days: int | None = None, schema: str | None = None) -> str:
    """The whole report query of ``experiment`` in ``dialect``."""
    return to_dialect(experiment_stats_sql(experiment, cuped, window_days), dialect, schema)


def export_parquet(registry: "Registry", out_dir: str | Path, key: str | None = None) -> dict[str, Path]:
    """Write exposures, events, user_attributes and exposure_conflicts to ``out_dir/<table>.parquet``.

    With ``key`` only that experiment's exposures (and conflicts) and its exposed users'
    events and attributes. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if key is not None:
        registry.get_experiment(key)  # unknown key → the registry's own error
    users = ("(SELECT user_id FROM exposures WHERE experiment_key = " + literal(key) + ")") if key else None
    only = f" WHERE experiment_key = {literal(key)}" if key else ""
    queries = {
        "exposures": "SELECT * FROM exposures" + only,
        "events": "SELECT * FROM events" + (f" WHERE user_id IN {users}" if key else ""),
        "user_attributes": "SELECT * FROM user_attributes" + (f" WHERE user_id IN {users}" if key else ""),
        "exposure_conflicts": "SELECT * FROM exposure_conflicts" + only,
    }
    written = {}
    for table, query in queries.items():
        path = out / f"{table}.parquet"
        registry.query(f"COPY ({query}) TO {literal(str(path))} (FORMAT parquet)")
        written[table] = path
    return written


USER_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def analysed_users_ctes(registry: "Registry", key: str) -> str:
    """``WITH`` clauses ending in ``analysis_users``: the report's analysed users of ``key``
    (abuse filtering and, when there are any, users exposed to several variants excluded)."""
    experiment = registry.get_experiment(key)
    conflicts = registry.query("SELECT COUNT(*) AS n FROM exposure_conflicts WHERE experiment_key = ?",
                               [key])["n"].iloc[0]
    return analysis_ctes(experiment, experiment.filtering, exclude_conflicts=bool(conflicts))[0]


def export_users(registry: "Registry", key: str, path: str | Path) -> int:
    """Write the report's per-user rows of ``key`` (one per analysed user: user_id, variant,
    exposed_at, one column per base metric, the CUPED covariates) to a CSV or Parquet file,
    the input ``promolab analyze-table`` takes; returns the rows written.

    The rows are the report's analysed users: abuse filtering and the exclusion of users
    exposed to several variants applied as the report applies them. A metric with a
    conversion window is empty for users whose window is still open (``analyze-table``
    reads it with ``COL:kind:windowed``).
    """
    path = Path(path)
    fmt = USER_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError("path", str(path), "a file ending in " + " or ".join(USER_FORMATS))
    ctes = analysed_users_ctes(registry, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    registry.query(f"COPY ({ctes}SELECT * FROM analysis_users ORDER BY user_id) TO {literal(str(path))} "
                   f"(FORMAT {fmt})")
    return int(registry.query(f"{ctes}SELECT COUNT(*) AS n FROM analysis_users")["n"].iloc[0])
