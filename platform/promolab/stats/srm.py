"""Sample ratio mismatch (SRM): is the observed split the one we configured?

Chi-square goodness-of-fit test (``scipy.stats.chisquare``) of the observed counts per
variant against total × weight / Σweights. The default threshold p < 0.001 is the
industry convention (GrowthBook, Optimizely; Fabijan et al., KDD 2019; Kohavi, Tang &
Xu, *Trustworthy Online Controlled Experiments*, ch. 21).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import stats as _st

from promolab.errors import InputError
from promolab.stats.frequentist import _check_alpha

__all__ = ["SrmResult", "srm_test"]


@dataclass(frozen=True)
class SrmResult:
    """``ok`` is False when p_value < threshold (a sample ratio mismatch)."""

    ok: bool
    p_value: float
    statistic: float
    expected: dict[str, float]
    observed: dict[str, int]
    threshold: float


def srm_test(
    observed: Mapping[str, int], weights: Mapping[str, float], threshold: float = 0.001
) -> SrmResult:
    """χ² = Σ (O_k − E_k)² / E_k with E_k = N·w_k/Σw, df = K − 1; ok = p ≥ threshold.

    ``observed`` and ``weights`` must name the same (≥ 2) variants; weights are positive
    and need not sum to 1. With no users at all the test is vacuous: ok, p = 1.
    """
    threshold = _check_alpha(threshold, "threshold")
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
    w_arr = np.asarray(w) / sum(w)
    f_obs = np.asarray([counts[k] for k in names], dtype=float)
    total = f_obs.sum()
    f_exp = total * w_arr
    expected = {k: float(e) for k, e in zip(names, f_exp)}
    if total == 0:
        return SrmResult(True, 1.0, 0.0, expected, counts, threshold)
    stat, p = _st.chisquare(f_obs, f_exp)
    return SrmResult(bool(p >= threshold), float(p), float(stat), expected, counts, threshold)
