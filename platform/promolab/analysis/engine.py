"""Run the analysis where the data lives: SQL → sufficient statistics → report.

DuckDB is the default engine; anything that can run the SQL of ``promolab.analysis.sql``
and return its rows can feed ``build_report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import duckdb
import pandas as pd

from promolab.analysis.report import Report, VariantStats, build_report
from promolab.analysis.sql import ColumnMetric, experiment_metrics, experiment_stats_sql, sufficient_stats_sql
from promolab.analysis.table import check_table, open_table, parse_metric
from promolab.errors import InputError
from promolab.stats import JointStats, MeanStats
from promolab.store import Registry


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
) -> Report:
    """Analyse a per-user CSV/Parquet table; SRM is checked against ``weights`` (default equal)."""
    if not metrics:
        raise InputError("--metric", None, "at least one --metric COL:binomial|COL:mean|NUM/DEN:ratio")
    parsed = [parse_metric(m, covariate) if isinstance(m, str) else m for m in metrics]
    con = duckdb.connect()
    try:
        relation = open_table(con, path, "per_user_input")
        check_table(con, relation, variant, control, parsed, str(path))
        frame = con.execute(sufficient_stats_sql(relation, variant, parsed)).df()
    finally:
        con.close()
    stats = stats_from_frame(frame, parsed)
    expected = dict(weights) if weights else {v: 1.0 for v in stats}
    return build_report(stats, parsed, control, expected, alpha, correction, experiment=None)


def analyze_experiment(registry: Registry, key: str, cuped: bool = True) -> Report:
    """The report of a registry experiment from its exposures and events."""
    experiment = registry.get_experiment(key)
    metrics = experiment_metrics(experiment, cuped)
    frame = registry.query(experiment_stats_sql(experiment, cuped))
    stats = stats_from_frame(frame, metrics)
    if not stats:
        raise InputError("experiment", key, "an experiment with recorded exposures (none yet)")
    weights = dict(zip(experiment.variant_keys, experiment.weights))
    labels = {m.key: m.label for m in experiment.metrics + experiment.guardrails}
    return build_report(
        stats, metrics, experiment.control, weights, experiment.plan.alpha, experiment.plan.correction,
        guardrails=frozenset(m.key for m in experiment.guardrails), experiment=key, labels=labels,
    )
