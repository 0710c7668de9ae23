"""Reports of bandit experiments: estimates that stay honest after adaptive allocation.

Users are stratified by the weight period of their first exposure; each arm's mean is
the period-stratified mean with the same period weights for every arm
(``promolab.stats.stratified``), and SRM is checked against the weights actually in
force: expected share of arm a = Σ_p N_p w_{p,a} / N. Ratio metrics keep the pooled
delta-method test (noted in the report).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.sufficient import VariantStats, stats_from_frame
from promolab.spec import Experiment
from promolab.stats import JointStats, LiftResult, MeanStats
from promolab.stats.stratified import stratified_mean, stratified_test
from promolab.store import Registry

RATIO_NOTE = "ratio metrics use the pooled delta-method test (not period-adjusted)"
ESTIMATOR_NOTE = ("bandit estimates are period-stratified: users are grouped by the weight period of their "
                  "first exposure and every arm is weighted by the same period shares (pooled means would be "
                  "biased when outcomes drift over time)")


@dataclass(frozen=True)
class PeriodStats:
    """Per period, per variant sufficient statistics of each metric."""

    periods: tuple[int, ...]
    cells: dict[tuple[int, str], dict[str, MeanStats | JointStats]]
    counts: dict[tuple[int, str], int]

    def totals(self) -> list[int]:
        return [sum(n for (p, _), n in self.counts.items() if p == period) for period in self.periods]

    def strata(self, metric: str, variant: str) -> list[MeanStats]:
        out = []
        for p in self.periods:
            s = self.cells.get((p, variant), {}).get(metric)
            if s is None:
                out.append(MeanStats(0, 0.0, 0.0))
            else:
                out.append(s.y if isinstance(s, JointStats) else s)
        return out


class StratifiedEstimator:
    """The report's Estimator for bandit experiments."""

    def __init__(self, periods: PeriodStats):
        self.periods = periods

    def lift(self, metric: ColumnMetric, control: str, variant: str, alpha: float) -> LiftResult | None:
        if metric.kind == "ratio" or len(self.periods.periods) < 2:
            return None
        return stratified_test(self.periods.strata(metric.name, control), self.periods.strata(metric.name, variant),
                               self.periods.totals(), alpha)

    def mean(self, metric: ColumnMetric, variant: str) -> float | None:
        if metric.kind == "ratio" or len(self.periods.periods) < 2:
            return None
        return stratified_mean(self.periods.strata(metric.name, variant), self.periods.totals()).mean


def period_stats(frame: pd.DataFrame, metrics: list[ColumnMetric]) -> PeriodStats:
    """Rows of ``promolab.analysis.sql.period_stats_sql`` → per (period, variant) statistics."""
    cells, counts = {}, {}
    for period, rows in frame.groupby("stratum", sort=True):
        for variant, vs in stats_from_frame(rows, metrics).items():
            cells[(int(period), variant)] = dict(vs.metrics)
            counts[(int(period), variant)] = vs.n
    return PeriodStats(tuple(sorted({p for p, _ in counts})), cells, counts)


def pooled(periods: PeriodStats, variants: tuple[str, ...]) -> dict[str, VariantStats]:
    out = {}
    for v in variants:
        cells = [periods.cells[(p, v)] for p in periods.periods if (p, v) in periods.cells]
        if not cells:
            continue
        metrics = {name: sum((c[name] for c in cells[1:]), cells[0][name]) for name in cells[0]}
        out[v] = VariantStats(sum(periods.counts.get((p, v), 0) for p in periods.periods), metrics)
    return out


def expected_shares(registry: Registry, experiment: Experiment, periods: PeriodStats) -> dict[str, float]:
    """Σ_p N_p w_{p,a}: the split the stored weights should have produced."""
    history = registry.weight_history(experiment.key)
    by_period = [dict(zip(experiment.variant_keys, experiment.weights))]
    for _, rows in history.groupby("updated_at", sort=True):
        by_period.append(dict(zip(rows.variant_key, rows.weight.astype(float))))
    expected = dict.fromkeys(experiment.variant_keys, 0.0)
    for period, total in zip(periods.periods, periods.totals()):
        for v, w in by_period[min(period, len(by_period) - 1)].items():
            expected[v] += total * w
    return expected
