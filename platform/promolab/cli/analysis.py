"""``promolab report`` and ``analyze-table``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.economics import EconomicsConfig, parse_costs
from promolab.analysis.engines import resolve_engine
from promolab.analysis.filtering import TableFilters
from promolab.analysis.over_time import over_time
from promolab.analysis.sequential import SequentialPlan
from promolab.cli.app import app
from promolab.cli.flags import REPORT_FLAGS, TABLE_FLAGS, flag_errors
from promolab.cli.options import DataOption, DbOption, EngineOption, JsonOption, SparkMasterOption, open_registry
from promolab.cli.output import print_json
from promolab.cli.render import print_report
from promolab.cli.render_over_time import print_over_time
from promolab.errors import InputError
from promolab.spec.vocabulary import DEFAULT_SRM_THRESHOLD

NoFilterOption = Annotated[bool, typer.Option(
    "--no-filter", help="Also show the result without abuse/bot filtering, beside the filtered one.")]
SegmentOption = Annotated[Optional[list[str]], typer.Option(
    "--segment", metavar="COL...",
    help="Drill down by this attribute column (repeatable), p-values adjusted across segments.")]
KeepCrossOption = Annotated[bool, typer.Option(
    "--keep-cross-variant", help="Keep users exposed to more than one variant (default: excluded, with a note).")]


@app.command()
def report(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
           json_: JsonOption = False,
           cuped: Annotated[bool, typer.Option("--cuped/--no-cuped", help="Use declared covariates.")] = True,
           no_filter: NoFilterOption = False, segment: SegmentOption = None,
           engine: EngineOption = "duckdb", spark_master: SparkMasterOption = None, data: DataOption = None,
           srm_threshold: Annotated[Optional[float], typer.Option(
               "--srm-threshold", help="SRM when the chi-square p is below this (default: the spec's, 0.001).")] = None,
           keep_cross_variant: KeepCrossOption = False,
           over_time_: Annotated[bool, typer.Option(
               "--over-time", help="Per period of first exposure: cumulative means and lifts with CIs, users, "
                                   "the sequential boundary, and a trend check of the per-period lift.")] = False,
           period: Annotated[Optional[str], typer.Option(
               "--period", metavar="day|hour", help="Period of --over-time (default day, UTC).")] = None) -> None:
    """Significance report of a registry experiment.

    Example: promolab report hillstrom-email --db promolab-demo.duckdb
    """
    if over_time_ or period is not None:
        with flag_errors({**REPORT_FLAGS, "period": "--period"}):
            if not over_time_:
                raise InputError("--period", period, "--period only with --over-time")
            if segment or no_filter or srm_threshold is not None:
                raise InputError("--over-time", "with --segment, --no-filter or --srm-threshold",
                                 "--over-time alone (or with --no-cuped, --keep-cross-variant, --engine, --data)")
            series = over_time(open_registry(db), key, period or "day", cuped=cuped,
                               cross_variant="keep" if keep_cross_variant else "exclude",
                               engine=resolve_engine(engine, spark_master), data=data)
        print_json(series.to_dict()) if json_ else print_over_time(series)
        return
    with flag_errors(REPORT_FLAGS):
        result = analyze_experiment(open_registry(db), key, cuped=cuped, compare_unfiltered=no_filter,
                                    segments=segment or (), engine=resolve_engine(engine, spark_master), data=data,
                                    srm_threshold=srm_threshold,
                                    cross_variant="keep" if keep_cross_variant else "exclude")
    print_json(result.to_dict()) if json_ else print_report(result)


@app.command("analyze-table")
def analyze_table_cmd(
    file: Annotated[Path, typer.Argument(help="Per-user table, CSV or Parquet.")],
    variant: Annotated[str, typer.Option("--variant", metavar="COL", help="Column holding the variant.")],
    control: Annotated[str, typer.Option("--control", metavar="VARIANT", help="Value of the control variant.")],
    metric: Annotated[list[str], typer.Option("--metric", metavar="COL:kind...",
                                              help="COL:binomial | COL:mean | NUM/DEN:ratio, then "
                                                   "optionally :decrease, :cap=N or :cap=p99, "
                                                   ":covariate=COL, :windowed (empty = conversion window "
                                                   "still open); repeatable.")],
    user: Annotated[Optional[str], typer.Option(
        "--user", metavar="COL", help="User-id column: count users on several rows or in several variants.")] = None,
    exposure_ts: Annotated[Optional[str], typer.Option(
        "--exposure-ts", metavar="COL", help="Event-level input: the exposure-time column (with --event-ts, --user); "
                                             "events are summed per user from first exposure on.")] = None,
    event_ts: Annotated[Optional[str], typer.Option(
        "--event-ts", metavar="COL", help="Event-level input: the event-time column (empty on exposure-only rows).")
    ] = None,
    window_hours: Annotated[Optional[int], typer.Option(
        "--window-hours", metavar="H", help="Event-level input: count events until H hours after first exposure "
                                            "(+ delay); users whose window is still open are left out.")] = None,
    delay_hours: Annotated[int, typer.Option(
        "--delay-hours", metavar="H", help="Start the conversion window H hours after first exposure.")] = 0,
    keep_cross_variant: KeepCrossOption = False,
    srm_threshold: Annotated[float, typer.Option(
        "--srm-threshold", help="SRM when the chi-square p is below this.")] = DEFAULT_SRM_THRESHOLD,
    covariate: Annotated[Optional[str], typer.Option("--covariate", metavar="COL",
                                                     help="Pre-period column for CUPED.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    correction: Annotated[str, typer.Option("--correction", metavar="holm|bh|none", help="holm | bh | none")] = "holm",
    sequential: Annotated[Optional[str], typer.Option("--sequential", metavar="gst|msprt",
                                                      help="gst | msprt: peek-safe decisions.")] = None,
    looks: Annotated[Optional[int], typer.Option("--looks", help="Planned looks (with --sequential gst).")] = None,
    information_fraction: Annotated[float, typer.Option(
        "--information-fraction", help="Share of the planned users observed so far (1 = final look).")] = 1.0,
    spending: Annotated[str, typer.Option("--spending", metavar="obf|pocock|hsd|power",
                                          help="obf | pocock | hsd | power")] = "obf",
    json_: JsonOption = False,
    no_filter: NoFilterOption = False,
    segment: SegmentOption = None,
    guardrail: Annotated[Optional[list[str]], typer.Option(
        "--guardrail", metavar="COL:kind...",
        help="COL:kind[:direction][:margin] guardrail, margin absolute or N% relative "
             "(e.g. refund:binomial:decrease:0.005); repeatable.")] = None,
    flag: Annotated[Optional[list[str]], typer.Option("--flag", metavar="COL...",
                                                      help="Exclude rows where this 0/1 column is 1.")] = None,
    outlier: Annotated[Optional[list[str]], typer.Option(
        "--outlier", metavar="COL...", help="Exclude rows whose robust z of ln(1 + COL) exceeds --outlier-z.")] = None,
    shared: Annotated[Optional[list[str]], typer.Option(
        "--shared", metavar="COL...",
        help="Exclude rows whose COL value (device, payment fingerprint) more than --max-accounts share.")] = None,
    outlier_z: Annotated[float, typer.Option("--outlier-z", help="Robust z threshold for --outlier.")] = 5.0,
    max_accounts: Annotated[int, typer.Option("--max-accounts", help="Accounts allowed per --shared value.")] = 3,
    revenue: Annotated[Optional[str], typer.Option("--revenue", metavar="COL",
                                                   help="Revenue column: adds promotion economics.")] = None,
    orders: Annotated[Optional[str], typer.Option("--orders", metavar="COL",
                                                  help="Orders column (for shipping cost).")] = None,
    cost: Annotated[Optional[list[str]], typer.Option(
        "--cost", metavar="VARIANT:key=value...",
        help="VARIANT:key=value[,key=value] with keys discount_pct, shipping_cost, coupon_value, "
             "per_user; repeatable.")] = None,
    margin_rate: Annotated[float, typer.Option("--margin-rate", help="Gross margin on revenue (1 = not stated).")] = 1.0,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Analyse any exported per-user table, or an event-level one (--exposure-ts, --event-ts).

    Example: promolab analyze-table users.csv --variant variant --control control --metric converted:binomial
    """
    with flag_errors(TABLE_FLAGS):
        plan = (SequentialPlan(sequential, looks, information_fraction, spending) if sequential is not None
                else None)
        filters = TableFilters(tuple(flag or ()), tuple(outlier or ()), tuple(shared or ()), outlier_z, max_accounts)
        if cost and revenue is None:
            raise InputError("--cost", cost[0], "a --revenue column to price")
        economics = (EconomicsConfig(revenue, orders, None, margin_rate, None, parse_costs(cost or []))
                     if revenue is not None else None)
        result = analyze_table(file, variant, control, metric, user=user, covariate=covariate, alpha=alpha,
                               correction=correction, sequential=plan, guardrails=guardrail or (), filters=filters,
                               segments=segment or (), economics=economics, compare_unfiltered=no_filter,
                               engine=resolve_engine(engine, spark_master), srm_threshold=srm_threshold,
                               cross_variant="keep" if keep_cross_variant else "exclude",
                               exposure_ts=exposure_ts, event_ts=event_ts, window_hours=window_hours,
                               delay_hours=delay_hours)
    print_json(result.to_dict()) if json_ else print_report(result)
