"""Run the analysis where the data lives: SQL → sufficient statistics → report.

DuckDB is the default engine; anything that can run the SQL of ``promolab.analysis.sql``
and return its rows can feed ``build_report``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd

from promolab.analysis.engines import EngineLike, needed_tables, resolve_engine
from promolab.analysis.report import Report, VariantStats, build_report
from promolab.analysis.sequential import SequentialPlan
from promolab.analysis.sql import ColumnMetric, experiment_metrics, experiment_stats_sql, sufficient_stats_sql
from promolab.analysis.table import parse_metric
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.stats import JointStats, MeanStats
from promolab.store import Registry

if TYPE_CHECKING:
    from promolab.analysis.economics import EconomicsConfig
    from promolab.analysis.filtering import TableFilters


def stats_from_frame(frame: pd.DataFrame, metrics: Sequence[ColumnMetric]) -> dict[str, VariantStats]:
    """Rows of the sufficient-statistics query → VariantStats per variant."""
    out: dict[str, VariantStats] = {}
    for row in frame.to_dict("records"):
        per_metric: dict[str, MeanStats | JointStats] = {}
        n = int(row["n"])
        for m in metrics:
            p = m.name
            y, y2 = float(row[f"{p}__sum"] or 0.0), float(row[f"{p}__sum_sq"] or 0.0)
            if m.joint:
                per_metric[p] = JointStats(n, y, y2, float(row[f"{p}__sum_x"] or 0.0),
                                           float(row[f"{p}__sum_x2"] or 0.0), float(row[f"{p}__sum_xy"] or 0.0))
            else:
                per_metric[p] = MeanStats(n, y, y2)
        out[str(row["variant"])] = VariantStats(n, per_metric)
    return out


def analyze_table(
    path: str | Path,
    variant: str,
    control: str,
    metrics: Sequence[str | ColumnMetric],
    covariate: str | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
    weights: Mapping[str, float] | None = None,
    sequential: SequentialPlan | None = None,
    engine: EngineLike = "duckdb",
    *,
    guardrails: Sequence[str] = (),
    filters: "TableFilters | None" = None,
    segments: Sequence[str] = (),
    economics: "EconomicsConfig | None" = None,
    compare_unfiltered: bool = False,
) -> Report:
    """Analyse a per-user CSV/Parquet table; SRM is checked against ``weights`` (default equal).

    ``engine``: "duckdb" (default), "spark", or an engine from ``resolve_engine``.
    ``guardrails`` (``COL:kind[:direction][:margin]``), ``filters``, ``segments`` (columns),
    ``economics`` and ``compare_unfiltered`` add the report sections of
    ``promolab.analysis.sections`` (DuckDB only).
    """
    if not metrics:
        raise InputError("--metric", None, "at least one --metric COL:binomial|COL:mean|NUM/DEN:ratio")
    parsed = [parse_metric(m, covariate) if isinstance(m, str) else m for m in metrics]
    if guardrails or (filters is not None and filters.active) or segments or economics is not None:
        from promolab.analysis.sections import analyze_table_sections

        return analyze_table_sections(path, variant, control, parsed, alpha, correction, weights, sequential,
                                      guardrails, filters, segments, economics, compare_unfiltered)
    frame = resolve_engine(engine).table_stats(path, variant, control, parsed)
    stats = stats_from_frame(frame, parsed)
    expected = dict(weights) if weights else {v: 1.0 for v in stats}
    return build_report(stats, parsed, control, expected, alpha, correction, experiment=None, sequential=sequential)


def analyze_experiment(registry: Registry, key: str, cuped: bool = True, engine: EngineLike = "duckdb",
                       data: str | Path | None = None, *, filter_users: bool = True,
                       compare_unfiltered: bool = False, segments: Sequence[str] = ()) -> Report:
    """The report of a registry experiment from its exposures and events.

    ``engine`` runs the SQL ("duckdb" default, "spark"); ``data`` is a folder or URI of
    Parquet ``exposures``, ``events``, ``user_attributes`` to read instead of the registry's
    tables (the spec still comes from the registry).
    """
    experiment = registry.get_experiment(key)
    if experiment.kind == "bandit":
        from promolab.analysis.adaptive import analyze_bandit

        return analyze_bandit(registry, key)
    from promolab.analysis.filtering import analysis_ctes, filter_experiment
    from promolab.analysis.sections import experiment_sections, guardrail_margins

    metrics = experiment_metrics(experiment, cuped)
    runner = resolve_engine(engine)
    query = lambda sql: runner.experiment_stats(registry, sql, data, needed_tables(sql))  # noqa: E731
    rules = experiment.filtering if filter_users else None
    ctes, filtering = filter_experiment(experiment, rules, query, cuped) if rules is not None else (None, None)
    sql = (experiment_stats_sql(experiment, cuped) if ctes is None
           else ctes + sufficient_stats_sql("analysis_users", "variant", metrics))
    frame = query(sql)
    stats = with_every_variant(stats_from_frame(frame, metrics), experiment, key)
    weights = dict(zip(experiment.variant_keys, experiment.weights))
    labels = {m.key: m.label for m in experiment.metrics + experiment.guardrails}
    plan, notes = _declared_plan(experiment, sum(s.n for s in stats.values()), registry.status(key))
    report = build_report(
        stats, metrics, experiment.control, weights, experiment.plan.alpha, experiment.plan.correction,
        guardrails=frozenset(m.key for m in experiment.guardrails), experiment=key, labels=labels,
        sequential=plan, margins=guardrail_margins(experiment),
        srm_counts=None if filtering is None else filtering.exposed,
    )
    if filtering is not None and filtering.alert:
        notes += (filtering.alert_text(),)
    report = replace(report, notes=report.notes + notes, filtering=filtering)
    report = experiment_sections(report, experiment, metrics, query, ctes or analysis_ctes(experiment, None, cuped)[0],
                                 tuple(segments) or experiment.plan.segments)
    if compare_unfiltered and rules is not None:
        report = replace(report, unfiltered=analyze_experiment(registry, key, cuped, engine, data, filter_users=False))
    return report


def with_every_variant(stats: dict[str, VariantStats], experiment: Experiment, key: str) -> dict[str, VariantStats]:
    """Check that every variant of the spec has users; one with none at all is refused by
    name (it means assignment is broken, which an SRM check on the others would miss)."""
    if not stats:
        raise InputError("experiment", key, "an experiment with recorded exposures (none yet)")
    missing = [v for v in experiment.variant_keys if v not in stats]
    if missing:
        raise InputError(f"variant {missing[0]!r}", "n=0", "users exposed to every variant "
                         "(none has been assigned: check the weights, targeting and traffic)")
    return stats


def _declared_plan(experiment: Experiment, exposed: int, status: str) -> tuple[SequentialPlan | None, tuple[str, ...]]:
    """The sequential plan declared in the spec, at the information observed so far.

    Information fraction t = exposed users / planned users, capped at 1; a stopped
    experiment is at its final look (t = 1, all remaining α spent).
    """
    plan = experiment.plan
    if plan.sequential is None:
        return None, ()
    if status == "stopped" or plan.target_users is None:
        t = 1.0
    else:
        t = min(max(exposed / plan.target_users, 1e-6), 1.0)
    note = (f"sequential {plan.sequential}: {exposed:,} of {plan.target_users or exposed:,} planned users, "
            f"information fraction {t:.3f}")
    return SequentialPlan(plan.sequential, plan.looks, t, plan.spending), (note,)
