"""The report sections of issue 8 — filtering, guardrail margins, segments, economics —
computed where the data lives and attached to a ``Report``.

``analyze_experiment`` and ``analyze_table`` (``promolab.analysis.engine``) call these;
each section is optional and leaves the base report unchanged when not asked for.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import duckdb
import pandas as pd

from promolab.analysis.economics import EconomicsConfig, economics_from_frame, economics_sql, experiment_config
from promolab.analysis.filtering import TableFilters, summarise, table_counts_sql, table_ctes
from promolab.analysis.guardrails import Margin
from promolab.analysis.report import Report, build_report
from promolab.analysis.segments import MIN_USERS, drilldown, registry_segment_sql, table_segment_sql
from promolab.analysis.sql import ColumnMetric, sufficient_stats_sql
from promolab.analysis.table import check_table, column_types, open_table, parse_metric
from promolab.errors import InputError
from promolab.spec import Experiment

Query = Callable[[str], pd.DataFrame]


def guardrail_margins(experiment: Experiment) -> dict[str, Margin]:
    return {m.key: Margin(m.margin, m.margin_type) for m in experiment.guardrails if m.margin is not None}


def experiment_sections(report: Report, experiment: Experiment, metrics: Sequence[ColumnMetric], query: Query,
                        ctes: str, segments: Sequence[str] = (), min_users: int = MIN_USERS) -> Report:
    """Attach segment drill-downs and promotion economics to a registry experiment's report."""
    weights = dict(zip(experiment.variant_keys, experiment.weights))
    labels = {m.key: m.label for m in experiment.metrics + experiment.guardrails}
    guardrails = frozenset(m.key for m in experiment.guardrails)
    drills = tuple(
        drilldown(query(registry_segment_sql(ctes, column, metrics)), column, metrics, experiment.control, weights,
                  experiment.plan.alpha, experiment.plan.correction, guardrails, labels, min_users)
        for column in segments)
    config = experiment_config(experiment)
    econ = None
    if config is not None:
        econ = economics_from_frame(query(economics_sql(ctes, "variant", config)), config, experiment.control,
                                    experiment.plan.alpha)
    notes = tuple(w for d in drills for w in d.warnings if "skipped" in w)
    return replace(report, segments=drills, economics=econ, notes=report.notes + notes)


# --------------------------------------------------------------------------- per-user tables


def parse_guardrail(text: str) -> tuple[ColumnMetric, Margin | None]:
    """``COL:kind[:direction][:margin]``; a margin ending in ``%`` is relative (``5%`` = 0.05).

    e.g. ``refund:binomial:decrease:0.005`` or ``spend:mean:increase:2%``.
    """
    parts = text.split(":")
    margin = None
    if len(parts) >= 3 and parts[-1] not in ("increase", "decrease"):
        raw = parts.pop()
        try:
            margin = (Margin(float(raw[:-1]) / 100.0, "relative") if raw.endswith("%")
                      else Margin(float(raw), "absolute"))
        except ValueError:
            raise InputError("--guardrail", text, "COL:kind[:direction][:margin], margin a number or N%") from None
        if margin.value <= 0:
            raise InputError("--guardrail", text, "a margin > 0")
    try:
        metric = parse_metric(":".join(parts))
    except InputError as exc:
        raise InputError("--guardrail", text, f"COL:kind[:direction][:margin] ({exc.expected})") from None
    return metric, margin


def _need_columns(con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str], flag: str,
                  source: str) -> None:
    types = column_types(con, relation)
    for column in columns:
        if column not in types:
            raise InputError(flag, column, f"a column of {source} ({', '.join(types)})")


def analyze_table_sections(
    path: str | Path,
    variant: str,
    control: str,
    metrics: Sequence[ColumnMetric],
    alpha: float = 0.05,
    correction: str = "holm",
    weights: Mapping[str, float] | None = None,
    sequential=None,
    guardrails: Sequence[str] = (),
    filters: TableFilters | None = None,
    segments: Sequence[str] = (),
    economics: EconomicsConfig | None = None,
    compare_unfiltered: bool = False,
    min_users: int = MIN_USERS,
) -> Report:
    """``analyze_table`` with guardrails, filtering, segments and economics (DuckDB)."""
    from promolab.analysis.engine import stats_from_frame

    parsed_guardrails = [parse_guardrail(g) for g in guardrails]
    all_metrics = list(metrics) + [m for m, _ in parsed_guardrails]
    names = [m.name for m in all_metrics]
    if len(set(names)) != len(names):
        raise InputError("--metric/--guardrail", names, "each column analysed once")
    margins = {m.name: margin for m, margin in parsed_guardrails if margin is not None}
    guard_names = frozenset(m.name for m, _ in parsed_guardrails)
    con = duckdb.connect()
    try:
        relation = open_table(con, path, "per_user_input")
        check_table(con, relation, variant, control, all_metrics, str(path))
        if filters is not None:
            _need_columns(con, relation, filters.columns(), "--filter column", str(path))
        _need_columns(con, relation, segments, "--segment", str(path))
        if economics is not None:
            _need_columns(con, relation, [c for c in (economics.revenue, economics.orders, economics.buyers) if c],
                          "--revenue/--orders", str(path))
        ctes, rules = table_ctes(relation, filters)
        query = lambda sql: con.execute(sql).df()  # noqa: E731
        stats = stats_from_frame(query(ctes + sufficient_stats_sql("analysis_users", variant, all_metrics)),
                                 all_metrics)
        filtering = summarise(query(table_counts_sql(ctes, variant, rules)), rules) if rules else None
        expected = dict(weights) if weights else {v: 1.0 for v in stats}
        report = build_report(stats, all_metrics, control, expected, alpha, correction, guardrails=guard_names,
                              sequential=sequential, margins=margins,
                              srm_counts=None if filtering is None else filtering.exposed)
        drills = tuple(drilldown(query(table_segment_sql(ctes, column, variant, all_metrics)), column, all_metrics,
                                 control, expected, alpha, correction, guard_names, None, min_users)
                       for column in segments)
        econ = None
        if economics is not None:
            econ = economics_from_frame(query(economics_sql(ctes, variant, economics)), economics, control, alpha)
    finally:
        con.close()
    notes = tuple(w for d in drills for w in d.warnings if "skipped" in w)
    if filtering is not None and filtering.alert:
        notes += (filtering.alert_text(),)
    report = replace(report, filtering=filtering, segments=drills, economics=econ, notes=report.notes + notes)
    if compare_unfiltered and filtering is not None:
        report = replace(report, unfiltered=analyze_table_sections(
            path, variant, control, metrics, alpha, correction, weights, sequential, guardrails, None, (), economics))
    return report
