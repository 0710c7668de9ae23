"""Intervals of the off-policy estimators: the bootstrap's moments, the empirical-Bernstein
fallback and the clipping rule (never negative, never of zero width on a nonnegative
reward), checked against values computed here by hand; and the bounds on the work."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.stats import norm

from promolab.errors import InputError
from promolab.sim.evaluation import evaluate_target
from promolab.sim.logged import LoggedData
from promolab.sim import ope_intervals
from promolab.sim.ope import doubly_robust, ips, snips
from promolab.sim.ope_intervals import (MAX_BOOTSTRAP_WORK, Resampling, bootstrap_sums,
                                        empirical_bernstein_radius)
from promolab.sim.replay import replay_estimate

FAST = Resampling(n_bootstrap=200)


@pytest.mark.parametrize("dense_cells", [ope_intervals.DENSE_CELLS, 0], ids=["dense", "sparse"])
def test_resample_sums_have_the_multinomial_moments(dense_cells: int, monkeypatch: pytest.MonkeyPatch):
    """For counts c ~ Multinomial(n, 1/n): E Σcᵢuᵢ = Σuᵢ, Var Σcᵢuᵢ = Σuᵢ² − (Σuᵢ)²/n, and Σcᵢ = n,
    whether the columns are summed as a dense array or sparse."""
    monkeypatch.setattr(ope_intervals, "DENSE_CELLS", dense_cells)
    u = np.random.default_rng(0).exponential(size=30)
    columns = sparse.csc_array(np.column_stack([u, np.ones_like(u)]))
    sums = bootstrap_sums(columns, lambda s: s, Resampling(n_bootstrap=20_000, seed=3))
    assert sums.shape == (20_000, 2)
    assert np.all(sums[:, 1] == 30)
    assert sums[:, 0].mean() == pytest.approx(u.sum(), rel=0.005)
    assert sums[:, 0].var() == pytest.approx((u @ u) - u.sum() ** 2 / 30, rel=0.04)


def test_the_bootstrap_is_seeded_and_the_seed_matters():
    rng = np.random.default_rng(1)
    action, reward = rng.integers(3, size=500), (rng.random(500) < 0.2).astype(float)
    args = (reward, action, np.full(500, 1 / 3), np.array([0.2, 0.3, 0.5]))
    assert ips(*args, resampling=Resampling(seed=4)) == ips(*args, resampling=Resampling(seed=4))
    assert ips(*args, resampling=Resampling(seed=4)).lower != ips(*args, resampling=Resampling(seed=5)).lower


def test_percentile_interval_of_ips_is_the_normal_one_on_a_large_log():
    """On 20,000 rows IPS is nearly normal: the percentile interval ≈ V̂ ± z·sd(wr)/√n."""
    rng = np.random.default_rng(2)
    n = 20_000
    action = rng.integers(2, size=n)
    reward = (rng.random(n) < np.array([0.1, 0.3])[action]).astype(float)
    target = np.array([0.2, 0.8])
    terms = target[action] / 0.5 * reward
    half = norm.ppf(0.975) * terms.std(ddof=1) / math.sqrt(n)
    e = ips(reward, action, np.full(n, 0.5), target, resampling=Resampling(n_bootstrap=4000))
    assert e.method == "bootstrap" and e.se == pytest.approx(terms.std(ddof=1) / math.sqrt(n))
    assert e.lower == pytest.approx(terms.mean() - half, abs=0.06 * half)
    assert e.upper == pytest.approx(terms.mean() + half, abs=0.06 * half)


def test_empirical_bernstein_radius_by_hand():
    """Maurer & Pontil (2009), Thm 4, two-sided at 95 %: √(2 s² ln(80) / n) + 7 b ln(80) / (3 (n − 1))."""
    terms = np.array([0.0, 0.0, 0.0, 1.0])  # s² = 0.25
    expected = math.sqrt(2 * 0.25 * math.log(80) / 4) + 7 * 2.0 * math.log(80) / 9
    assert empirical_bernstein_radius(terms, 2.0, 0.95) == pytest.approx(expected)
    assert empirical_bernstein_radius(np.array([0.7]), 3.0, 0.95) == 3.0  # one row: the whole range


def test_all_zero_rewards_fall_back_to_empirical_bernstein_above_zero():
    """No click at all: every resample is 0. The interval is [0, 7 b ln(80) / (3 (n − 1))] with b the
    largest weight × the reward range [0, 1] (IPS), never [0, 0]."""
    n = 1000
    action = np.arange(n) % 4
    propensity = np.array([0.4, 0.3, 0.2, 0.1])[action]
    target = np.array([0.1, 0.1, 0.3, 0.5])
    e = ips(np.zeros(n), action, propensity, target, resampling=FAST)
    assert e.method == "empirical-bernstein" and e.value == 0 and e.lower == 0
    assert e.upper == pytest.approx(7 * 5.0 * math.log(80) / (3 * (n - 1)))
    for other in (snips(np.zeros(n), action, propensity, target, resampling=FAST),
                  doubly_robust(np.zeros(n), action, propensity, target, np.zeros(4), resampling=FAST)):
        assert other.lower == 0 < other.upper and other.method == "empirical-bernstein"


def test_one_accepted_row_gets_the_whole_reward_range():
    reward = np.array([0.0, 12.5, 30.0])  # revenue: not 0/1, so not Wilson
    e = replay_estimate(np.array([12.5]), reward, FAST)
    assert e.method == "empirical-bernstein" and (e.lower, e.upper) == (0.0, 12.5 + 30.0)


def test_replay_of_a_click_log_uses_wilson():
    """Wilson's score interval: (p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)."""
    kept = np.array([1.0] * 3 + [0.0] * 17)
    p, n, z = 0.15, 20, norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    e = replay_estimate(kept, np.array([0.0, 1.0]), FAST)
    assert e.method == "wilson" and e.value == pytest.approx(p)
    assert (e.lower, e.upper) == pytest.approx((centre - half, centre + half))
    assert replay_estimate(np.zeros(4), np.array([0.0, 1.0]), FAST).lower == 0  # 0 of 4: [0, 0.49]


@st.composite
def sparse_logs(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, 4))
    action = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    clicks = draw(st.lists(st.sampled_from([0.0, 0.0, 0.0, 1.0, 2.5]), min_size=n, max_size=n))
    propensity = np.array(draw(st.lists(st.sampled_from([0.01, 0.1, 0.5, 1.0]), min_size=n, max_size=n)))
    weights = np.array(draw(st.lists(st.integers(0, 5), min_size=k, max_size=k)), dtype=float) + 1e-3
    q = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 3.0]), min_size=k, max_size=k)))
    return LoggedData("h", tuple(map(str, range(k))), action, np.array(clicks), propensity), weights / weights.sum(), q


@settings(max_examples=60, deadline=None)
@given(sparse_logs())
def test_intervals_on_a_nonnegative_reward_are_never_negative_nor_empty(case):
    log, target, q = case
    for model in (None, q):  # DR can go negative with a bad fixed model: clipped, and still wide
        evaluation = evaluate_target(log, target, model, tau=2.0, resampling=Resampling(n_bootstrap=100))
        for e in evaluation.estimates:
            if np.isfinite(e.value):
                assert 0 <= e.lower < e.upper, e


def test_a_negative_reward_is_not_clipped():
    rng = np.random.default_rng(5)
    action = rng.integers(2, size=400)
    margin = rng.normal(-1.0, 2.0, 400)  # a loss-making promotion
    e = ips(margin, action, np.full(400, 0.5), np.array([0.5, 0.5]), resampling=FAST)
    assert e.lower < e.upper < 0


def test_bootstrap_settings_and_work_are_bounded():
    with pytest.raises(InputError, match=r"^n_bootstrap: got 50, expected an integer in \[100, 100000\]"):
        Resampling(n_bootstrap=50)
    with pytest.raises(InputError, match=r"^level: got 1.0, expected a number in \[0.5, 0.999\]"):
        Resampling(level=1.0)
    rows = MAX_BOOTSTRAP_WORK // 1000 + 1
    with pytest.raises(InputError, match=rf"^n_bootstrap: got 1000, expected at most 999 for {rows:,} rows"):
        Resampling().check_rows(rows)
