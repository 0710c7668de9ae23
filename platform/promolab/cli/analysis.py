"""``promolab report``, ``analyze-table`` and ``power``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.economics import EconomicsConfig, parse_costs
from promolab.analysis.engines import resolve_engine
from promolab.analysis.filtering import TableFilters
from promolab.analysis.sequential import SequentialPlan
from promolab.cli.app import app, console
from promolab.cli.flags import POWER_FLAGS, REPORT_FLAGS, TABLE_FLAGS, flag_errors
from promolab.cli.options import DataOption, DbOption, EngineOption, JsonOption, SparkMasterOption
from promolab.cli.output import print_json
from promolab.cli.render import print_report
from promolab.errors import InputError
from promolab.spec.vocabulary import DEFAULT_SRM_THRESHOLD
from promolab.stats import mde_mean, mde_proportion, sample_size_mean, sample_size_proportion
from promolab.store import Registry

NoFilterOption = Annotated[bool, typer.Option(
    "--no-filter", help="Also show the result without abuse/bot filtering, beside the filtered one.")]
SegmentOption = Annotated[Optional[list[str]], typer.Option(
    "--segment", help="Drill down by this attribute column (repeatable), p-values adjusted across segments.")]
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
           keep_cross_variant: KeepCrossOption = False) -> None:
    """Significance report of a registry experiment."""
    with flag_errors(REPORT_FLAGS):
        result = analyze_experiment(Registry.open(db), key, cuped=cuped, compare_unfiltered=no_filter,
                                    segments=segment or (), engine=resolve_engine(engine, spark_master), data=data,
                                    srm_threshold=srm_threshold,
                                    cross_variant="keep" if keep_cross_variant else "exclude")
    print_json(result.to_dict()) if json_ else print_report(result)


@app.command("analyze-table")
def analyze_table_cmd(
    file: Annotated[Path, typer.Argument(help="Per-user table, CSV or Parquet.")],
    variant: Annotated[str, typer.Option("--variant", help="Column holding the variant.")],
    control: Annotated[str, typer.Option("--control", help="Value of the control variant.")],
    metric: Annotated[list[str], typer.Option("--metric", help="COL:binomial | COL:mean | NUM/DEN:ratio, then "
                                                                "optionally :decrease, :cap=N or :cap=p99, "
                                                                ":covariate=COL; repeatable.")],
    user: Annotated[Optional[str], typer.Option(
        "--user", help="User-id column: count users on several rows or in several variants.")] = None,
    keep_cross_variant: KeepCrossOption = False,
    srm_threshold: Annotated[float, typer.Option(
        "--srm-threshold", help="SRM when the chi-square p is below this.")] = DEFAULT_SRM_THRESHOLD,
    covariate: Annotated[Optional[str], typer.Option("--covariate", help="Pre-period column for CUPED.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    correction: Annotated[str, typer.Option("--correction", help="holm | bh | none")] = "holm",
    sequential: Annotated[Optional[str], typer.Option("--sequential", help="gst | msprt: peek-safe decisions.")] = None,
    looks: Annotated[Optional[int], typer.Option("--looks", help="Planned looks (with --sequential gst).")] = None,
    information_fraction: Annotated[float, typer.Option(
        "--information-fraction", help="Share of the planned users observed so far (1 = final look).")] = 1.0,
    spending: Annotated[str, typer.Option("--spending", help="obf | pocock | hsd | power")] = "obf",
    json_: JsonOption = False,
    no_filter: NoFilterOption = False,
    segment: SegmentOption = None,
    guardrail: Annotated[Optional[list[str]], typer.Option(
        "--guardrail", help="COL:kind[:direction][:margin] guardrail, margin absolute or N% relative "
                            "(e.g. refund:binomial:decrease:0.005); repeatable.")] = None,
    flag: Annotated[Optional[list[str]], typer.Option("--flag", help="Exclude rows where this 0/1 column is 1.")] = None,
    outlier: Annotated[Optional[list[str]], typer.Option(
        "--outlier", help="Exclude rows whose robust z of ln(1 + COL) exceeds --outlier-z.")] = None,
    shared: Annotated[Optional[list[str]], typer.Option(
        "--shared", help="Exclude rows whose COL value (device, payment fingerprint) more than --max-accounts share.")] = None,
    outlier_z: Annotated[float, typer.Option("--outlier-z", help="Robust z threshold for --outlier.")] = 5.0,
    max_accounts: Annotated[int, typer.Option("--max-accounts", help="Accounts allowed per --shared value.")] = 3,
    revenue: Annotated[Optional[str], typer.Option("--revenue", help="Revenue column: adds promotion economics.")] = None,
    orders: Annotated[Optional[str], typer.Option("--orders", help="Orders column (for shipping cost).")] = None,
    cost: Annotated[Optional[list[str]], typer.Option(
        "--cost", help="VARIANT:key=value[,key=value] with keys discount_pct, shipping_cost, coupon_value, "
                       "per_user; repeatable.")] = None,
    margin_rate: Annotated[float, typer.Option("--margin-rate", help="Gross margin on revenue (1 = not stated).")] = 1.0,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Analyse any exported per-user table."""
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
                               cross_variant="keep" if keep_cross_variant else "exclude")
    print_json(result.to_dict()) if json_ else print_report(result)


@app.command()
def power(
    baseline: Annotated[float, typer.Option("--baseline", help="Control conversion rate, or mean for --kind mean.")],
    mde: Annotated[Optional[float], typer.Option("--mde", help="Relative minimum detectable effect, e.g. 0.05.")] = None,
    n: Annotated[Optional[int], typer.Option("--n", help="Users per variant: solve for the MDE instead.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="binomial | mean")] = "binomial",
    sd: Annotated[Optional[float], typer.Option("--sd", help="Standard deviation (for --kind mean).")] = None,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    power_: Annotated[float, typer.Option("--power", help="Target power.")] = 0.8,
    variants: Annotated[int, typer.Option("--variants", help="Number of variants incl. control.")] = 2,
    daily_users: Annotated[Optional[int], typer.Option("--daily-users", help="Eligible users per day.")] = None,
    json_: JsonOption = False,
) -> None:
    """Sample size for an MDE, or the MDE for a sample size."""
    if (mde is None) == (n is None):
        raise InputError("--mde/--n", f"mde={mde}, n={n}", "exactly one of --mde or --n")
    if kind not in ("binomial", "mean"):
        raise InputError("--kind", kind, "binomial or mean")
    if kind == "mean" and sd is None:
        raise InputError("--sd", sd, "a standard deviation > 0 for --kind mean")
    with flag_errors(POWER_FLAGS):
        if kind == "binomial":
            result = (sample_size_proportion(baseline, mde, alpha, power_, variants) if mde is not None
                      else mde_proportion(baseline, n, alpha, power_, variants))
        else:
            result = (sample_size_mean(baseline, sd, mde, alpha, power_, variants) if mde is not None
                      else mde_mean(baseline, sd, n, alpha, power_, variants))
    days = None
    if daily_users is not None:
        if daily_users <= 0:
            raise InputError("--daily-users", daily_users, "a positive number of users per day")
        days = -(-result.n_total // daily_users)
    if json_:
        print_json({**result.__dict__, "days": days})
        return
    console.print(f"{result.n_per_variant:,} users per variant ({result.n_total:,} in total) detect a "
                  f"{result.mde_relative:.2%} relative ({result.mde_absolute:.4g} absolute) change from "
                  f"{result.baseline:.4g} with power {result.power:.0%} at alpha {result.alpha:g} ({result.method}).")
    if days is not None:
        console.print(f"At {daily_users:,} users a day that takes {days} days.")
