"""``promolab sql``, ``analyze-stats`` and ``export-parquet``: analysis where the data lives.

Also the ``--engine`` / ``--spark-master`` / ``--data`` options that ``report`` and
``analyze-table`` use (``resolve_engine`` turns them into an engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.analysis.dialect import DIALECTS, experiment_sql, export_parquet, export_users
from promolab.analysis.stats_file import analyze_stats_file
from promolab.cli.app import app
from promolab.cli.flags import SQL_FLAGS, STATS_FLAGS, flag_errors
from promolab.cli.options import DbOption, JsonOption, open_registry
from promolab.cli.output import print_json, say
from promolab.cli.render import print_report

@app.command("sql")
def sql_cmd(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    dialect: Annotated[str, typer.Option("--dialect", metavar="|".join(DIALECTS),
                                         help=" | ".join(DIALECTS))] = "duckdb",
    db: DbOption = None,
    cuped: Annotated[bool, typer.Option("--cuped/--no-cuped", help="Include CUPED covariate sums.")] = True,
    window_days: Annotated[Optional[int], typer.Option(
        "--window-days", help="Count events until N days after first exposure (default: no end).")] = None,
    schema: Annotated[Optional[str], typer.Option(
        "--schema", metavar="SCHEMA",
        help="Qualify exposures/events/user_attributes, e.g. analytics or project.dataset.")] = None,
) -> None:
    """Print the experiment's sufficient-statistics SQL for a warehouse.

    Run it where the data lives, save its rows (one per variant) as CSV or JSON, and
    feed them to ``promolab analyze-stats FILE --experiment KEY``. Metrics with a
    conversion window (``window_hours``) count only events inside it and users whose
    window has closed by the data's latest time (column ``METRIC__n``).

    Example: promolab sql hillstrom-email --dialect bigquery --schema analytics
    """
    experiment = open_registry(db).get_experiment(key)
    with flag_errors(SQL_FLAGS):
        text = experiment_sql(experiment, dialect, cuped=cuped, window_days=window_days, schema=schema)
    print(text + ";")


@app.command("analyze-stats")
def analyze_stats_cmd(
    file: Annotated[Path, typer.Argument(help="Per-variant sufficient statistics, CSV or JSON.")],
    control: Annotated[Optional[str], typer.Option("--control", metavar="VARIANT", help="The control variant.")] = None,
    metric: Annotated[Optional[list[str]], typer.Option(
        "--metric", metavar="NAME:kind...",
        help="NAME:binomial | NAME:mean | NAME:ratio (optionally :decrease); repeatable. "
             "Default: the JSON 'metrics' header or --experiment's spec.")] = None,
    experiment: Annotated[Optional[str], typer.Option(
        "--experiment", metavar="KEY", help="Take metric kinds, control, weights, alpha and guardrails from this "
                                            "registry experiment.")] = None,
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="Significance level (default 0.05).")] = None,
    correction: Annotated[Optional[str], typer.Option("--correction", metavar="holm|bh|none",
                                                      help="holm | bh | none")] = None,
    srm_threshold: Annotated[Optional[float], typer.Option(
        "--srm-threshold", help="SRM when the chi-square p is below this (default 0.001).")] = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """The report from per-variant sufficient statistics computed elsewhere.

    Columns: variant, n, and per metric M: M__sum, M__sum_sq; ratio metrics (y =
    numerator, x = denominator) and CUPED metrics (x = covariate) add M__sum_x,
    M__sum_x2, M__sum_xy. ``promolab sql`` prints a query producing exactly these.

    Example: promolab analyze-stats stats.csv --experiment hillstrom-email
    """
    registry = open_registry(db) if experiment else None
    spec = registry.get_experiment(experiment) if registry else None
    with flag_errors(STATS_FLAGS):
        result = analyze_stats_file(file, metric or (), control, alpha, correction, experiment=spec,
                                    srm_threshold=srm_threshold,
                                    final=registry is not None and registry.status(experiment) == "stopped")
    print_json(result.to_dict()) if json_ else print_report(result)


@app.command("export-parquet")
def export_parquet_cmd(
    out: Annotated[Path, typer.Argument(help="Folder to write exposures/events/user_attributes .parquet into.")],
    experiment: Annotated[Optional[str], typer.Option(
        "--experiment", metavar="KEY",
        help="Only this experiment's exposures and its users' events and attributes.")] = None,
    db: DbOption = None,
) -> None:
    """Export the registry's exposures, events and attributes to Parquet (for Spark or a lake).

    Example: promolab export-parquet lake/ --experiment hillstrom-email
    """
    written = export_parquet(open_registry(db), out, experiment)
    for table, path in written.items():
        say(f"{table}: {path}", soft_wrap=True)


@app.command("export-users")
def export_users_cmd(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    out: Annotated[Path, typer.Argument(help="File to write: .csv or .parquet.")],
    db: DbOption = None,
) -> None:
    """Write the report's per-user rows (variant, metrics, covariates) for ``analyze-table`` or a notebook.

    Example: promolab export-users hillstrom-email users.csv
    """
    with flag_errors({"path": "OUT"}):
        rows = export_users(open_registry(db), key, out)
    say(f"{rows:,} users: {out}", soft_wrap=True)
