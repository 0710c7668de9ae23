"""Sample ratio mismatch (SRM): is the observed split the one we configured?

``srm_test``: chi-square goodness-of-fit test (``scipy.stats.chisquare``) of the observed
counts per variant against total × weight / Σweights, for a read-out. The default threshold
p < 0.001 is the industry convention (GrowthBook, Optimizely; Fabijan et al., KDD 2019;
Kohavi, Tang & Xu, *Trustworthy Online Controlled Experiments*, ch. 21).

``sequential_srm_test``: the anytime-valid test of Lindon & Malek (2022), for checks
repeated while users arrive (the service's hourly health checks): peeking at the χ² test
every hour for two weeks raises a false SRM alarm on ~2.3 % of sound splits at p < 0.001;
this test keeps it at or below the threshold however often it is checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import special as _sp
from scipy.special import gammaln, xlogy

from promolab.errors import InputError
from promolab.stats.frequentist import _check_alpha

__all__ = ["DEFAULT_CONCENTRATION", "SequentialSrmResult", "SrmResult", "sequential_srm_test", "srm_test"]

DEFAULT_CONCENTRATION = 100.0  # Σα of the Dirichlet mixture (Lindon & Malek 2022; savvi's default k)
MAX_CONCENTRATION = 1e6  # beyond it the Bayes factor is a difference of huge log-gammas (cancellation)


@dataclass(frozen=True)
class SrmResult:
    """``ok`` is False when p_value < threshold (a sample ratio mismatch)."""

    ok: bool
    p_value: float
    statistic: float
    expected: dict[str, float]
    observed: dict[str, int]
    threshold: float


def _checked(observed: Mapping[str, int], weights: Mapping[str, float]) -> tuple[list[str], dict[str, int], np.ndarray]:
    """(variant names, counts, weights normalised to sum 1), validated."""
    if not isinstance(observed, Mapping):
        raise InputError("observed", observed, "a mapping variant -> count")
    if not isinstance(weights, Mapping):
        raise InputError("weights", weights, "a mapping variant -> weight")
    if len(weights) < 2:
        raise InputError("weights", dict(weights), "at least 2 variants")
    if set(observed) != set(weights):
        raise InputError(
            "observed", sorted(map(str, observed)), f"the same variants as weights: {sorted(map(str, weights))}"
        )
    names = list(weights)
    counts: dict[str, int] = {}
    for k in names:
        v = observed[k]
        if isinstance(v, bool) or not isinstance(v, (Integral, Real)):
            raise InputError(f"observed[{k!r}]", v, "a non-negative integer count")
        if not math.isfinite(float(v)) or float(v) < 0 or float(v) != int(v):
            raise InputError(f"observed[{k!r}]", v, "a non-negative integer count")
        counts[k] = int(v)
    w = []
    for k in names:
        v = weights[k]
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)) or float(v) <= 0:
            raise InputError(f"weights[{k!r}]", v, "a positive finite number")
        w.append(float(v))
    return names, counts, np.asarray(w) / sum(w)


def srm_test(
    observed: Mapping[str, int], weights: Mapping[str, float], threshold: float = 0.001
) -> SrmResult:
    """χ² = Σ (O_k − E_k)² / E_k with E_k = N·w_k/Σw, df = K − 1; ok = p ≥ threshold.

    ``observed`` and ``weights`` must name the same (≥ 2) variants; weights are positive
    and need not sum to 1. With no users at all the test is vacuous: ok, p = 1.
    """
    threshold = _check_alpha(threshold, "threshold")
    names, counts, w_arr = _checked(observed, weights)
    f_obs = np.asarray([counts[k] for k in names], dtype=float)
    total = f_obs.sum()
    f_exp = total * w_arr
    expected = {k: float(e) for k, e in zip(names, f_exp)}
    if total == 0:
        return SrmResult(True, 1.0, 0.0, expected, counts, threshold)
    stat = float(((f_obs - f_exp) ** 2 / f_exp).sum())
    p = float(_sp.chdtrc(len(names) - 1, stat))  # = scipy.stats.chisquare(f_obs, f_exp).pvalue
    return SrmResult(bool(p >= threshold), p, stat, expected, counts, threshold)


@dataclass(frozen=True)
class SequentialSrmResult:
    """``ok`` is False when the always-valid ``p_value`` = min(1, 1/BF) is below ``threshold``."""

    ok: bool
    p_value: float
    log_bayes_factor: float
    expected: dict[str, float]
    observed: dict[str, int]
    threshold: float
    concentration: float


def sequential_srm_test(
    observed: Mapping[str, int], weights: Mapping[str, float], threshold: float = 0.001,
    concentration: float = DEFAULT_CONCENTRATION,
) -> SequentialSrmResult:
    """Anytime-valid SRM test (Lindon & Malek, "Anytime-Valid Inference for Multinomial Count
    Data", NeurIPS 2022): the Dirichlet(α = c·w) mixture of multinomials against the
    configured split w, on the counts n (N = Σn) so far,

        BF = [B(α + n) / B(α)] / Π w_kⁿᵏ,   B(a) = Π Γ(a_k) / Γ(Σ a_k),

    a nonnegative martingale with mean 1 under the configured split, so by Ville's inequality
    P(BF ≥ 1/threshold at any N) ≤ threshold: p = min(1, 1/BF) may be checked after every
    user without inflating false alarms. ``concentration`` c = Σα (prior strength), at most
    1e6 (a larger prior is the null itself, and its log-gammas cancel to noise).
    """
    threshold = _check_alpha(threshold, "threshold")
    if isinstance(concentration, bool) or not isinstance(concentration, Real) or not (
            0 < float(concentration) <= MAX_CONCENTRATION):
        raise InputError("concentration", concentration, f"a number in (0, {MAX_CONCENTRATION:g}]")
    names, counts, w = _checked(observed, weights)
    n = np.asarray([counts[k] for k in names], dtype=float)
    alpha = float(concentration) * w
    log_bf = float(gammaln(alpha + n).sum() - gammaln(alpha.sum() + n.sum()) - gammaln(alpha).sum()
                   + gammaln(alpha.sum()) - xlogy(n, w).sum())
    p = float(min(1.0, math.exp(-log_bf))) if log_bf > 0 else 1.0
    expected = {k: float(e) for k, e in zip(names, n.sum() * w)}
    return SequentialSrmResult(bool(p >= threshold), p, log_bf, expected, counts, threshold, float(concentration))
