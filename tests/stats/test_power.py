"""Sample size / MDE vs closed-form normal formulas, published values and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from promolab.errors import InputError
from promolab.stats import (
    MeanStats,
    PowerResult,
    mde_mean,
    mde_proportion,
    proportion_test,
    sample_size_mean,
    sample_size_proportion,
    welch_test,
)


def z(q: float) -> float:
    return float(sps.norm.ppf(q))


def cohens_h(p2: float, p1: float) -> float:
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


@pytest.mark.parametrize("baseline,mde,alpha,power,ratio", [
    (0.10, 0.10, 0.05, 0.8, 1.0),
    (0.03, 0.20, 0.05, 0.9, 1.0),
    (0.50, -0.05, 0.01, 0.8, 1.0),
    (0.20, 0.15, 0.10, 0.8, 2.0),
])
def test_sample_size_proportion_closed_form(baseline, mde, alpha, power, ratio):
    r = sample_size_proportion(baseline, mde, alpha=alpha, power=power, ratio=ratio)
    h = cohens_h(baseline * (1 + mde), baseline)
    n = ((z(1 - alpha / 2) + z(power)) / h) ** 2 * (1 + 1 / ratio)  # ignores the far tail
    assert isinstance(r, PowerResult)
    assert r.n_per_variant == pytest.approx(n, abs=1.5)
    assert r.n_total == r.n_per_variant + math.ceil(ratio * r.n_per_variant)
    assert r.mde_absolute == pytest.approx(baseline * mde)
    assert (r.mde_relative, r.alpha, r.power, r.baseline, r.variants) == (mde, alpha, power, baseline, 2)


def test_r_power_prop_test_example():
    # R ?power.prop.test: power.prop.test(p1 = .50, p2 = .75, power = .90)  =>  n = 76.7
    assert sample_size_proportion(0.5, 0.5, power=0.9).n_per_variant == 77


def test_kohavi_rule_of_thumb():
    """Kohavi et al.: n ≈ 16σ²/δ² per variant at α = 0.05, power 0.8."""
    p, rel = 0.05, 0.05
    delta = p * rel
    rule = 16 * p * (1 - p) / delta**2  # 121,600
    assert sample_size_proportion(p, rel).n_per_variant == pytest.approx(rule, rel=0.03)
    assert sample_size_mean(50.0, 120.0, 0.02).n_per_variant == pytest.approx(16 * 120**2 / 1.0**2, rel=0.025)


def test_variants_multiply_total():
    two = sample_size_proportion(0.1, 0.1)
    four = sample_size_proportion(0.1, 0.1, variants=4)
    assert four.n_per_variant == two.n_per_variant and four.n_total == 4 * two.n_per_variant


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 0.6), st.floats(0.02, 0.5), st.sampled_from([0.01, 0.05, 0.1]), st.sampled_from([0.8, 0.9]))
def test_mde_inverts_sample_size(baseline, mde, alpha, power):
    n = sample_size_proportion(baseline, mde, alpha=alpha, power=power).n_per_variant
    back = mde_proportion(baseline, n, alpha=alpha, power=power)
    assert back.mde_relative <= mde * (1 + 1e-9)  # ceil(n) can only make the MDE smaller
    assert back.mde_relative == pytest.approx(mde, rel=0.01, abs=1e-4)
    assert back.mde_absolute == pytest.approx(back.baseline * back.mde_relative)


def test_mde_mean_closed_form():
    r = mde_mean(25.0, 40.0, 10_000, alpha=0.05, power=0.8, variants=3)
    delta = (z(0.975) + z(0.8)) * 40.0 * math.sqrt(2 / 10_000)
    assert r.mde_absolute == pytest.approx(delta, rel=1e-4)
    assert r.mde_relative == pytest.approx(delta / 25.0, rel=1e-4)
    assert r.n_total == 30_000
    n = sample_size_mean(25.0, 40.0, r.mde_relative).n_per_variant
    assert n == pytest.approx(10_000, abs=1)


def test_simulated_power_of_proportion_test():
    """Run the z-test on 2,000 simulated experiments of the planned size: power ≈ 80 %."""
    plan = sample_size_proportion(0.10, 0.10)
    n = plan.n_per_variant
    rng = np.random.default_rng(2024)
    sc = rng.binomial(n, 0.10, 2000)
    st_ = rng.binomial(n, 0.11, 2000)
    hits = sum(
        proportion_test(MeanStats(n, float(a), float(a)), MeanStats(n, float(b), float(b))).p_value < 0.05
        for a, b in zip(sc, st_)
    )
    assert hits / 2000 == pytest.approx(0.80, abs=0.03)


def test_simulated_power_of_welch_test():
    plan = sample_size_mean(10.0, 8.0, 0.05, power=0.9)
    n = plan.n_per_variant
    rng = np.random.default_rng(7)
    reps = 1000
    c = rng.normal(10.0, 8.0, (reps, n))
    t = rng.normal(10.5, 8.0, (reps, n))

    def stats(a):
        return [MeanStats(n, float(s), float(q)) for s, q in zip(a.sum(1), (a * a).sum(1))]

    hits = sum(welch_test(a, b).p_value < 0.05 for a, b in zip(stats(c), stats(t)))
    assert hits / reps == pytest.approx(0.90, abs=0.03)


@pytest.mark.parametrize(
    "fn,kwargs,field",
    [
        (sample_size_proportion, dict(baseline=0.0, mde_relative=0.1), "baseline"),
        (sample_size_proportion, dict(baseline=1.0, mde_relative=0.1), "baseline"),
        (sample_size_proportion, dict(baseline=0.6, mde_relative=0.8), "mde_relative"),
        (sample_size_proportion, dict(baseline=0.1, mde_relative=0.0), "mde_relative"),
        (sample_size_proportion, dict(baseline=0.1, mde_relative=-1.0), "mde_relative"),
        (sample_size_proportion, dict(baseline=0.1, mde_relative=0.1, alpha=1.0), "alpha"),
        (sample_size_proportion, dict(baseline=0.1, mde_relative=0.1, power=0.0), "power"),
        (sample_size_proportion, dict(baseline=0.1, mde_relative=0.1, variants=1), "variants"),
        (sample_size_proportion, dict(baseline=0.1, mde_relative=0.1, ratio=0), "ratio"),
        (mde_proportion, dict(baseline=0.1, n_per_variant=1), "n_per_variant"),
        (mde_proportion, dict(baseline=0.99, n_per_variant=2), "n_per_variant"),
        (mde_proportion, dict(baseline=1.5, n_per_variant=100), "baseline"),
        (sample_size_mean, dict(mean=0.0, sd=1.0, mde_relative=0.1), "mean"),
        (sample_size_mean, dict(mean=1.0, sd=0.0, mde_relative=0.1), "sd"),
        (sample_size_mean, dict(mean=1.0, sd=1.0, mde_relative=float("nan")), "mde_relative"),
        (mde_mean, dict(mean=1.0, sd=-1.0, n_per_variant=100), "sd"),
        (mde_mean, dict(mean=1.0, sd=1.0, n_per_variant=100.0), "n_per_variant"),
        (mde_mean, dict(mean=1.0, sd=1.0, n_per_variant=100, power=1.2), "power"),
    ],
)
def test_validation(fn, kwargs, field):
    with pytest.raises(InputError) as e:
        fn(**kwargs)
    assert e.value.field == field


@pytest.mark.parametrize("n", [50, 42_515, 1_000_000])
def test_mde_has_exactly_the_requested_power(n):
    """The MDE is solved tightly: a z-test at that effect has the requested power."""
    r = mde_mean(1.0, 1.0, n, alpha=0.01, power=0.8)
    se = math.sqrt(2 / n)
    crit = z(0.995)
    d = r.mde_absolute / se
    achieved = sps.norm.sf(crit - d) + sps.norm.cdf(-crit - d)
    assert achieved == pytest.approx(0.8, abs=1e-9)
