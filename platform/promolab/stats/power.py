"""Sample size and minimum detectable effect (MDE) for two-sided tests.

Thin wrappers over ``statsmodels.stats.power.NormalIndPower`` (normal approximation,
two-sided, treatment n = ratio × control n):

* proportions: Cohen's h = 2·asin√p₂ − 2·asin√p₁
  (``statsmodels.stats.proportion.proportion_effectsize``);
* means: standardised effect d = δ / σ.

Each treatment arm is compared with the control at the given α; no multiplicity
correction is applied for ``variants > 2`` (pass e.g. α / (variants − 1) for Bonferroni).
``n_total`` = control n + (variants − 1) × treatment n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from statistics import NormalDist

from scipy import optimize as _optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from promolab.errors import InputError
from promolab.stats.frequentist import _check_alpha, _check_finite

__all__ = [
    "PowerResult",
    "sample_size_proportion",
    "mde_proportion",
    "sample_size_mean",
    "mde_mean",
]


@dataclass(frozen=True)
class PowerResult:
    """``n_per_variant`` is the control arm's size (every arm's when ratio = 1)."""

    n_per_variant: int
    n_total: int
    mde_absolute: float
    mde_relative: float
    alpha: float
    power: float
    baseline: float
    variants: int
    method: str


# Bounds. No experiment has more users per variant than there are people (8e9); a sample size
# above this means the effect asked for is too small to ever detect, and statsmodels' solver
# returns NaN long before float precision runs out. An A/B/n test with more than 100 arms is not
# a promotion test (and splits traffic 100 ways). A treatment:control ratio beyond 1000:1 leaves
# the smaller arm too small for the normal approximation.
MAX_N_PER_VARIANT = 10_000_000_000
MAX_VARIANTS = 100
MAX_RATIO = 1_000.0

_PROP_METHOD = "two-sided normal approximation, Cohen's h (statsmodels NormalIndPower)"
_MEAN_METHOD = "two-sided normal approximation, d = delta/sd (statsmodels NormalIndPower)"


def _check_common(alpha: object, power: object, variants: object) -> tuple[float, float, int]:
    return (_no_overflow(_check_alpha, alpha), _no_overflow(_check_alpha, power, "power"),
            _check_count(variants, "variants", MAX_VARIANTS))


def _no_overflow(check, value: object, field: str = "alpha") -> float:
    """Run a number check; an integer too large for a float (10**400) is refused like inf."""
    try:
        return check(value, field)
    except OverflowError:
        raise InputError(field, value, "a finite number") from None


def _check_count(n: object, field: str, high: int) -> int:
    """An integer in [2, high] (a bool or a float such as 1e6 is refused)."""
    if isinstance(n, bool) or not isinstance(n, Integral) or not 2 <= int(n) <= high:
        raise InputError(field, n, f"an integer in [2, {high}]")
    return int(n)


def _check_detectable(effect: float, alpha: float, power: float, ratio: float, field: str, value: object) -> None:
    """Refuse an effect needing more than MAX_N_PER_VARIANT users per variant, before solving.

    n ≈ ((z_{1−α/2} + z_power) / effect)² · (1 + 1/ratio), the formula statsmodels solves.
    """
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    if not abs(effect) >= z * math.sqrt((1 + 1 / ratio) / MAX_N_PER_VARIANT):  # no overflow for tiny effects
        raise InputError(field, value, f"an effect detectable with at most {MAX_N_PER_VARIANT:,} users per variant "
                                       f"(standardised effect {abs(effect):.3g} is too small)")


def _check_baseline(baseline: object) -> float:
    if isinstance(baseline, bool) or not isinstance(baseline, Real) or not 0.0 < baseline < 1.0:
        raise InputError("baseline", baseline, "a conversion rate in (0, 1)")
    return float(baseline)


def _check_positive(value: object, field: str) -> float:
    v = _no_overflow(_check_finite, value, field)
    if v <= 0:
        raise InputError(field, value, "a positive number")
    return v


def _check_mde(mde: object) -> float:
    v = _no_overflow(_check_finite, mde, "mde_relative")
    if v == 0.0:
        raise InputError("mde_relative", mde, "a non-zero relative effect")
    return v


def _solve_n(effect: float, alpha: float, power: float, ratio: float) -> int:
    n = NormalIndPower().solve_power(
        effect_size=abs(effect), nobs1=None, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    if not math.isfinite(float(n)):  # guarded by _check_detectable; never a bare ValueError
        raise InputError("effect", effect, "an effect statsmodels can solve a sample size for")
    return max(int(math.ceil(float(n) - 1e-9)), 2)


def _solve_effect(n: int, alpha: float, power: float) -> float:
    """Effect size with the given power at n per arm.

    statsmodels' own effect-size solve stops at a loose tolerance (MDE off by ~1e-4
    relative at n = 10⁶), so its power function is root-found here with brentq.
    """
    solver = NormalIndPower()
    guess = float(solver.solve_power(effect_size=None, nobs1=n, alpha=alpha, power=power, ratio=1.0))

    def gap(es: float) -> float:
        return float(solver.power(es, n, alpha, ratio=1.0, alternative="two-sided")) - power

    lo, hi = guess * 0.5, guess * 2.0
    while gap(lo) > 0:
        lo /= 2.0
    while gap(hi) < 0:
        hi *= 2.0
    return float(_optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-13))


def sample_size_proportion(
    baseline: float,
    mde_relative: float,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    ratio: float = 1.0,
) -> PowerResult:
    """Users per variant to detect p₁ = baseline → p₂ = baseline·(1 + mde_relative).

    ``ratio`` = treatment n / control n per treatment arm; ``n_per_variant`` is the
    control n (rounded up), each treatment arm gets ⌈ratio · n⌉.
    """
    alpha, power, variants = _check_common(alpha, power, variants)
    p1 = _check_baseline(baseline)
    mde = _check_mde(mde_relative)
    ratio = _check_positive(ratio, "ratio")
    if not 1 / MAX_RATIO <= ratio <= MAX_RATIO:
        raise InputError("ratio", ratio, f"a number in [{1 / MAX_RATIO:g}, {MAX_RATIO:g}]")
    p2 = p1 * (1.0 + mde)
    if not 0.0 < p2 < 1.0:
        raise InputError("mde_relative", mde_relative, f"an effect keeping baseline·(1 + mde) in (0, 1); got {p2:g}")
    effect = float(proportion_effectsize(p2, p1))
    _check_detectable(effect, alpha, power, ratio, "mde_relative", mde_relative)
    n = _solve_n(effect, alpha, power, ratio)
    n_t = int(math.ceil(ratio * n - 1e-9))
    return PowerResult(n, n + (variants - 1) * n_t, p2 - p1, mde, alpha, power, p1, variants, _PROP_METHOD)


def mde_proportion(
    baseline: float, n_per_variant: int, alpha: float = 0.05, power: float = 0.8, variants: int = 2
) -> PowerResult:
    """Smallest upward change detectable with ``n_per_variant`` users in every arm.

    Solves Cohen's h, then inverts it: p₂ = sin²(asin√p₁ + h/2).
    """
    alpha, power, variants = _check_common(alpha, power, variants)
    p1 = _check_baseline(baseline)
    n = _check_count(n_per_variant, "n_per_variant", MAX_N_PER_VARIANT)
    h = _solve_effect(n, alpha, power)
    angle = math.asin(math.sqrt(p1)) + h / 2.0
    if angle >= math.pi / 2:
        raise InputError("n_per_variant", n_per_variant, "enough users to detect a rate below 1 (too few)")
    p2 = math.sin(angle) ** 2
    return PowerResult(n, n * variants, p2 - p1, p2 / p1 - 1.0, alpha, power, p1, variants, _PROP_METHOD)


def sample_size_mean(
    mean: float, sd: float, mde_relative: float, alpha: float = 0.05, power: float = 0.8, variants: int = 2
) -> PowerResult:
    """Users per variant to detect δ = mean·mde_relative with per-user SD ``sd`` (d = δ/sd).

    Approximately n ≈ 2(z_{1−α/2} + z_{power})² σ²/δ² (≈ 16σ²/δ² at α = 0.05, 80 %).
    """
    alpha, power, variants = _check_common(alpha, power, variants)
    m = _no_overflow(_check_finite, mean, "mean")
    if m == 0.0:
        raise InputError("mean", mean, "a non-zero baseline mean (the MDE is relative to it)")
    s = _check_positive(sd, "sd")
    mde = _check_mde(mde_relative)
    delta = m * mde
    _check_detectable(delta / s, alpha, power, 1.0, "mde_relative", mde_relative)
    n = _solve_n(delta / s, alpha, power, 1.0)
    return PowerResult(n, n * variants, delta, mde, alpha, power, m, variants, _MEAN_METHOD)


def mde_mean(
    mean: float, sd: float, n_per_variant: int, alpha: float = 0.05, power: float = 0.8, variants: int = 2
) -> PowerResult:
    """Smallest detectable change δ = d·sd with ``n_per_variant`` users per arm; relative = δ/|mean|."""
    alpha, power, variants = _check_common(alpha, power, variants)
    m = _no_overflow(_check_finite, mean, "mean")
    if m == 0.0:
        raise InputError("mean", mean, "a non-zero baseline mean (the MDE is relative to it)")
    s = _check_positive(sd, "sd")
    n = _check_count(n_per_variant, "n_per_variant", MAX_N_PER_VARIANT)
    delta = _solve_effect(n, alpha, power) * s
    return PowerResult(n, n * variants, delta, delta / abs(m), alpha, power, m, variants, _MEAN_METHOD)
