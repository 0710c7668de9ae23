"""``promolab.stats.power`` (standard library only) against statsmodels, its reference.

Sample sizes equal ``NormalIndPower().solve_power`` rounded up, exactly; MDEs equal a tight
root of ``NormalIndPower().power`` (statsmodels' own effect-size solve stops at ~1e-4
relative) within 1e-9 relative; Cohen's h is ``proportion_effectsize``. Several hundred
random cases each, seeded.
"""

from __future__ import annotations

import math
import random
import warnings

import pytest
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from promolab.errors import InputError
from promolab.stats.power import (
    MAX_N_PER_VARIANT,
    _critical_shift,
    _power_at,
    mde_mean,
    mde_proportion,
    sample_size_mean,
    sample_size_proportion,
)

CASES = 300
REL = 1e-9
SM = NormalIndPower()


def sm_n(effect: float, alpha: float, power: float, ratio: float = 1.0) -> int | None:
    """statsmodels' control n, rounded up as promolab rounds it; None where its solver gives up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = float(SM.solve_power(effect_size=abs(effect), nobs1=None, alpha=alpha, power=power, ratio=ratio,
                                 alternative="two-sided"))
    return max(math.ceil(n - 1e-9), 2) if math.isfinite(n) else None


def sm_effect(n: int, alpha: float, power: float) -> float:
    """The effect at which statsmodels' power function equals ``power`` (brentq, tight)."""
    def gap(es: float) -> float:
        return float(SM.power(es, n, alpha, ratio=1.0, alternative="two-sided")) - power

    lo, hi = 1e-12, 1.0
    while gap(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(gap, lo, hi, xtol=1e-15, rtol=1e-14, maxiter=500))


def draw(rnd: random.Random) -> tuple[float, float]:
    alpha = rnd.choice([0.01, 0.05, 0.1, rnd.uniform(0.001, 0.3)])
    power = rnd.choice([0.8, 0.9, rnd.uniform(max(0.5, alpha + 0.05), 0.999)])
    return alpha, power


def test_sample_size_proportion_equals_statsmodels() -> None:
    rnd = random.Random(13)
    checked = 0
    while checked < CASES:
        alpha, power = draw(rnd)
        ratio = rnd.choice([1.0, 1.0, rnd.uniform(0.2, 5.0), rnd.choice([0.01, 50.0])])
        p1 = rnd.uniform(0.002, 0.9)
        mde = rnd.choice([0.01, 0.05, 0.1, rnd.uniform(-0.6, 1.5)])
        variants = rnd.choice([2, 3, 5])
        if not 0 < p1 * (1 + mde) < 1:
            continue
        try:
            r = sample_size_proportion(p1, mde, alpha, power, variants, ratio)
        except InputError as exc:  # more users than MAX_N_PER_VARIANT: nothing to compare
            assert "at most" in str(exc)
            continue
        h = float(proportion_effectsize(p1 * (1 + mde), p1))
        n = sm_n(h, alpha, power, ratio)
        if n is None:  # statsmodels searches n >= 2 only
            assert r.n_per_variant == 2
            continue
        assert r.n_per_variant == n, (p1, mde, alpha, power, ratio)
        assert r.n_total == n + (variants - 1) * math.ceil(ratio * n - 1e-9)
        assert r.mde_absolute == p1 * (1 + mde) - p1
        checked += 1


def test_sample_size_mean_equals_statsmodels() -> None:
    rnd = random.Random(14)
    for _ in range(CASES):
        alpha, power = draw(rnd)
        mean = rnd.choice([-1, 1]) * 10 ** rnd.uniform(-2, 3)
        sd = abs(mean) * 10 ** rnd.uniform(-1, 1.5)
        mde = rnd.choice([0.01, 0.05, rnd.uniform(-0.5, 0.5)])
        r = sample_size_mean(mean, sd, mde, alpha, power)
        n = sm_n(mean * mde / sd, alpha, power)
        assert r.n_per_variant == (2 if n is None else n), (mean, sd, mde, alpha, power)
        assert r.n_total == 2 * r.n_per_variant


def test_mde_equals_statsmodels() -> None:
    rnd = random.Random(15)
    for _ in range(CASES):
        alpha, power = draw(rnd)
        n = rnd.choice([100, 1_000, 31_218, 10**6, rnd.randint(50, 10**9)])
        es = sm_effect(n, alpha, power)
        assert SM.power(es, n, alpha) == pytest.approx(power, abs=1e-12)
        mean, sd = rnd.uniform(-100, 100), rnd.uniform(0.1, 100)
        r = mde_mean(mean, sd, n, alpha, power, variants=3)
        assert r.mde_absolute == pytest.approx(es * sd, rel=REL)
        assert r.mde_relative == pytest.approx(es * sd / abs(mean), rel=REL)
        assert r.n_total == 3 * n
        p1 = rnd.uniform(0.001, 0.9)
        if math.asin(math.sqrt(p1)) + es / 2 < math.pi / 2:
            p2 = math.sin(math.asin(math.sqrt(p1)) + es / 2) ** 2
            r = mde_proportion(p1, n, alpha, power)
            assert r.mde_absolute == pytest.approx(p2 - p1, rel=REL)
            assert r.mde_relative == pytest.approx(p2 / p1 - 1, rel=REL)
            assert float(proportion_effectsize(p1 + r.mde_absolute, p1)) == pytest.approx(es, rel=REL)


def test_power_function_is_statsmodels() -> None:
    """The power at x = e·√(n·ratio/(1+ratio)) is NormalIndPower.power at (e, n, ratio)."""
    rnd = random.Random(16)
    for _ in range(CASES):
        alpha = rnd.uniform(0.001, 0.5)
        es, n, ratio = 10 ** rnd.uniform(-3, 0), rnd.uniform(2, 1e7), rnd.uniform(0.01, 100)
        crit = float(sps.norm.isf(alpha / 2))  # statsmodels' critical value
        x = es * math.sqrt(1 / (1 / n + 1 / (n * ratio)))
        assert _power_at(x, crit) == pytest.approx(float(SM.power(es, n, alpha, ratio=ratio)), rel=REL, abs=1e-15)


@pytest.mark.parametrize("alpha,power", [(0.05, 0.8), (0.01, 0.9), (0.2, 0.21), (0.05, 0.999999), (1e-6, 0.5)])
def test_critical_shift_solves_the_power_equation(alpha, power) -> None:
    x = _critical_shift(alpha, power)
    crit = float(sps.norm.isf(alpha / 2))
    assert _power_at(x, crit) == pytest.approx(power, abs=1e-14)
    assert 0 < x <= crit + float(sps.norm.ppf(power))


@pytest.mark.parametrize("power", [0.05, 0.03, 0.001])
def test_power_not_above_alpha_is_refused(power) -> None:
    """No effect size gives a level-α test power ≤ α (statsmodels' solver fails there)."""
    for call in (lambda: sample_size_proportion(0.1, 0.1, 0.05, power), lambda: mde_mean(1.0, 1.0, 100, 0.05, power)):
        with pytest.raises(InputError) as err:
            call()
        assert err.value.field == "power" and "above alpha (0.05)" in str(err.value)


def test_very_large_effects_need_two_users() -> None:
    """d = 5 needs n ≈ 0.6 per arm: rounded up to the minimum of 2 (statsmodels' solver,
    which searches n >= 2, returns NaN here)."""
    assert sample_size_mean(1.0, 1.0, 5.0).n_per_variant == 2
    assert sample_size_mean(1.0, 1.0, 5.0).n_total == 4


def test_largest_sample_size_still_matches() -> None:
    """Near MAX_N_PER_VARIANT the closed form and statsmodels still agree."""
    r = sample_size_mean(1.0, 1.0, 4e-5)
    assert r.n_per_variant == sm_n(4e-5, 0.05, 0.8) and r.n_per_variant <= MAX_N_PER_VARIANT
