"""Sample size and minimum detectable effect (MDE) for two-sided tests.

The two-sample z-test of ``statsmodels.stats.power.NormalIndPower`` (normal approximation,
two-sided, treatment n = ratio × control n), with the effect size

* proportions: Cohen's h = 2·asin√p₂ − 2·asin√p₁
  (as ``statsmodels.stats.proportion.proportion_effectsize``);
* means: standardised effect d = δ / σ.

Computed with the standard library only (:class:`statistics.NormalDist` for z quantiles,
``math.erfc`` for Φ), so ``promolab power`` starts without numpy, scipy or statsmodels.
With c = z_{1−α/2} and the effective size m = n·ratio / (1 + ratio) (n/2 at ratio 1),
the power at effect e is statsmodels' ``NormalIndPower.power``:

    power = Φ(e√m − c) + Φ(−e√m − c).

It depends on e and n only through x = e√m and rises from α (x = 0) to 1, so the one x*
with power(x*) = target is found by bisection in (0, c + z_power] to the last bit, and
then, in closed form,

    n = (x* / e)² · (1 + 1/ratio)   (rounded up),     e = x* / √(n/2)   (the MDE, ratio 1).

n is at least 2 (statsmodels' solver searches n ≥ 2 only, and returns NaN for an effect
that needs fewer). A power not above α is refused: no effect size reaches it.

statsmodels is the reference: tests hold n equal to ``NormalIndPower().solve_power``'s
(rounded up) and the MDE to a tight root of ``NormalIndPower().power`` within 1e-9 relative,
on hundreds of random cases.

Each treatment arm is compared with the control at the given α; no multiplicity
correction is applied for ``variants > 2`` (pass e.g. α / (variants − 1) for Bonferroni).
``n_total`` = control n + (variants − 1) × treatment n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from statistics import NormalDist

from promolab.errors import InputError
from promolab.stats.validation import _check_alpha, _check_finite

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
# above this means the effect asked for is too small to ever detect (and statsmodels' solver,
# the reference, returns NaN long before float precision runs out). An A/B/n test with more
# than 100 arms is not a promotion test (and splits traffic 100 ways). A treatment:control ratio beyond 1000:1 leaves
# the smaller arm too small for the normal approximation.
MAX_N_PER_VARIANT = 10_000_000_000
MAX_VARIANTS = 100
MAX_RATIO = 1_000.0

_PROP_METHOD = "two-sided z-test, normal approximation, Cohen's h"
_MEAN_METHOD = "two-sided z-test, normal approximation, d = delta/sd"

_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)


def _check_common(alpha: object, power: object, variants: object) -> tuple[float, float, int]:
    alpha_, power_ = _no_overflow(_check_alpha, alpha), _no_overflow(_check_alpha, power, "power")
    if not power_ > alpha_:  # a level-α test rejects with probability α at no effect at all
        raise InputError("power", power, f"a power above alpha ({alpha_:g})")
    return alpha_, power_, _check_count(variants, "variants", MAX_VARIANTS)


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

    n ≈ ((z_{1−α/2} + z_power) / effect)² · (1 + 1/ratio), an upper bound of the exact n
    (x* ≤ c + z_power, see the module doc).
    """
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
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


def _phi(x: float) -> float:
    """Φ(x), the standard normal CDF (``erfc`` keeps the lower tail accurate)."""
    return 0.5 * math.erfc(-x / _SQRT2)


def _power_at(x: float, crit: float) -> float:
    """Power of the two-sided z-test at standardised shift x = e√m: Φ(x − c) + Φ(−x − c)."""
    return _phi(x - crit) + _phi(-x - crit)


def _critical_shift(alpha: float, power: float) -> float:
    """x* = e√m at which the two-sided level-α z-test has the given power (α < power < 1).

    power(x) rises from α at x = 0; at x = c + z_power it is power + Φ(−2c − z_power) ≥ power,
    and c + z_power > 0 when power > α. So x* is in (0, c + z_power]: bisected until the
    interval cannot shrink (the last bit of a double).
    """
    crit = -_NORMAL.inv_cdf(alpha / 2.0)  # z_{1−α/2}, without rounding 1 − α/2 (α = 1e-6 keeps 16 digits)
    lo, hi = 0.0, crit + _NORMAL.inv_cdf(power)
    while True:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            return hi
        if _power_at(mid, crit) < power:
            lo = mid
        else:
            hi = mid


def _solve_n(effect: float, alpha: float, power: float, ratio: float) -> int:
    """Control n, rounded up (at least 2): n = (x* / |effect|)² · (1 + 1/ratio)."""
    q = _critical_shift(alpha, power) / abs(effect)
    n = q * q * (1.0 + 1.0 / ratio)  # inf, not OverflowError, for a tiny effect
    if not math.isfinite(n):  # guarded by _check_detectable; never a bare OverflowError
        raise InputError("effect", effect, "an effect a sample size can be solved for")
    return max(int(math.ceil(n - 1e-9)), 2)


def _solve_effect(n: int, alpha: float, power: float) -> float:
    """Standardised effect with the given power at n per arm (ratio 1): x* / √(n/2)."""
    return _critical_shift(alpha, power) / math.sqrt(n / 2.0)


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
    effect = 2.0 * (math.asin(math.sqrt(p2)) - math.asin(math.sqrt(p1)))  # Cohen's h, as statsmodels computes it
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
