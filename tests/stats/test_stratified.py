"""Period-stratified estimates after adaptive allocation: the naive pooled estimate is
biased under a time trend (Simpson's paradox), the stratified one is not."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from promolab.errors import InputError
from promolab.stats import MeanStats
from promolab.stats.stratified import stratified_mean, stratified_test


def _stats(x: np.ndarray) -> MeanStats:
    return MeanStats(len(x), float(x.sum()), float((x * x).sum()))


def test_single_period_equals_unequal_variance_z_test() -> None:
    rng = np.random.default_rng(1)
    c, t = rng.normal(10, 3, 400), rng.normal(10.6, 4, 500)
    r = stratified_test([_stats(c)], [_stats(t)], [900])
    z, p = CompareMeans(DescrStatsW(t), DescrStatsW(c)).ztest_ind(usevar="unequal")
    assert r.statistic == pytest.approx(z, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    lo, hi = CompareMeans(DescrStatsW(t), DescrStatsW(c)).zconfint_diff(usevar="unequal")
    assert (r.abs_ci_low, r.abs_ci_high) == pytest.approx((lo, hi), rel=1e-9)


def test_naive_pooling_is_biased_under_a_time_trend_and_stratification_is_not() -> None:
    """Conversion rises over three periods for both arms (true lift +0.01 in every period)
    while the bandit moves traffic to B; pooling over-weights B's late, high periods."""
    rng = np.random.default_rng(7)
    base = np.array([0.02, 0.05, 0.08])
    true_lift = 0.01
    share_b = np.array([0.5, 0.7, 0.9])
    users = np.array([20_000, 20_000, 20_000])
    reps = 2_000
    n_b = np.round(users * share_b).astype(int)
    n_a = users - n_b
    conv_a = rng.binomial(n_a, base, size=(reps, 3))
    conv_b = rng.binomial(n_b, base + true_lift, size=(reps, 3))
    naive = conv_b.sum(1) / n_b.sum() - conv_a.sum(1) / n_a.sum()
    strat = np.array([
        stratified_test([MeanStats(int(n), float(s), float(s)) for n, s in zip(n_a, ca)],
                        [MeanStats(int(n), float(s), float(s)) for n, s in zip(n_b, cb)], users).absolute
        for ca, cb in zip(conv_a, conv_b)
    ])
    se_naive = naive.std(ddof=1) / np.sqrt(reps)
    se_strat = strat.std(ddof=1) / np.sqrt(reps)
    assert naive.mean() - true_lift > 10 * se_naive  # clearly biased upwards
    assert abs(strat.mean() - true_lift) < 3 * se_strat  # unbiased


def test_stratified_interval_covers_at_nominal_rate() -> None:
    rng = np.random.default_rng(3)
    base, users, share_b = np.array([0.03, 0.06]), np.array([5_000, 5_000]), np.array([0.3, 0.8])
    n_b = np.round(users * share_b).astype(int)
    n_a = users - n_b
    hits = 0
    reps = 1_000
    for _ in range(reps):
        ca, cb = rng.binomial(n_a, base), rng.binomial(n_b, base)
        r = stratified_test([MeanStats(int(n), float(s), float(s)) for n, s in zip(n_a, ca)],
                            [MeanStats(int(n), float(s), float(s)) for n, s in zip(n_b, cb)], users)
        hits += r.abs_ci_low <= 0 <= r.abs_ci_high
    assert abs(hits / reps - 0.95) < 3 * np.sqrt(0.95 * 0.05 / reps)


def test_periods_without_both_arms_are_left_out() -> None:
    a = [MeanStats(100, 10.0, 10.0), MeanStats(0, 0.0, 0.0)]
    b = [MeanStats(100, 20.0, 20.0), MeanStats(300, 90.0, 90.0)]
    r = stratified_test(a, b, [200, 300])
    assert r.control_mean == pytest.approx(0.1) and r.treatment_mean == pytest.approx(0.2)
    assert stratified_mean(b, [200, 300]).mean == pytest.approx(0.4 * 0.2 + 0.6 * 0.3)


def test_bad_input_named() -> None:
    with pytest.raises(InputError, match="period_totals"):
        stratified_mean([MeanStats(10, 1.0, 1.0)], [1.0, 2.0])
    with pytest.raises(InputError, match="periods"):
        stratified_test([MeanStats(1, 1.0, 1.0)], [MeanStats(1, 1.0, 1.0)], [2])
