"""Does an effect trend over time? A weighted least-squares slope of per-period estimates.

Given per-period estimates d_k (e.g. each period's absolute lift, on that period's users
alone) with standard errors s_k at times x_k, fit d_k = a + b·x_k by weighted least squares
with weights w_k = 1/s_k² and test b = 0 with the t statistic on n − 2 degrees of freedom;
the (1 − α) CI on b is b ± t_{n−2, 1−α/2}·se(b). In closed form, with x̄ and ȳ the
w-weighted means: b = Σw(x − x̄)(d − ȳ) / Sxx, Sxx = Σw(x − x̄)², a = ȳ − b·x̄ and
se(b)² = σ̂²/Sxx with σ̂² = Σw(d − a − b·x)² / (n − 2), as statsmodels'
``WLS(d, [1, x], weights=w).fit()`` computes them. The residual scale σ̂² is estimated (an
ordinary WLS fit), so period-to-period variation beyond the stated standard errors (a
weekday mix, a campaign) widens the CI instead of reading as a trend.

Assumptions: the estimates are independent (each period has its own users), approximately
normal (enough users per period) and the trend is linear in x. It is a check, not a
verdict: a slope can come from who arrives when as much as from time since exposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import special as _sp

from promolab.errors import InputError
from promolab.stats.validation import _check_alpha

MIN_PERIODS = 3  # a slope and a residual scale need n − 2 >= 1 degrees of freedom


@dataclass(frozen=True)
class TrendResult:
    """The WLS line through per-period estimates: slope per unit of x, its CI and p-value."""

    slope: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, H0: slope = 0
    intercept: float  # the fitted estimate at x = 0
    periods: int  # estimates used
    df: int


def weighted_trend(x: Sequence[float], estimate: Sequence[float], se: Sequence[float],
                   alpha: float = 0.05) -> TrendResult:
    """Slope of ``estimate`` on ``x`` by WLS with weights 1/se² (see the module docstring)."""
    alpha = _check_alpha(alpha)
    xs, ys, ss = (np.asarray(v, dtype=float) for v in (x, estimate, se))
    if not xs.shape == ys.shape == ss.shape or xs.ndim != 1:
        raise InputError("estimate", f"{xs.shape}, {ys.shape}, {ss.shape}", "x, estimate and se of one length")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise InputError("estimate", "non-finite values", "finite x and estimates")
    if not (np.isfinite(ss).all() and (ss > 0).all()):
        raise InputError("se", "a standard error <= 0 or not finite", "standard errors > 0")
    if len(xs) < MIN_PERIODS or np.ptp(xs) == 0:
        raise InputError("periods", len(xs), f"at least {MIN_PERIODS} estimates at two or more distinct times")
    w = 1.0 / ss ** 2
    df = len(xs) - 2
    x_bar, y_bar = float(np.dot(w, xs) / w.sum()), float(np.dot(w, ys) / w.sum())
    sxx = float(np.dot(w, (xs - x_bar) ** 2))
    slope = float(np.dot(w, (xs - x_bar) * (ys - y_bar)) / sxx)
    intercept = y_bar - slope * x_bar
    scale = float(np.dot(w, (ys - intercept - slope * xs) ** 2)) / df
    se_slope = math.sqrt(scale / sxx)
    crit = float(_sp.stdtrit(df, 1.0 - alpha / 2.0))  # = t.ppf
    t = abs(slope) / se_slope if se_slope > 0 else (math.inf if slope else 0.0)  # an exact line: t = ∞
    p = float(2.0 * _sp.stdtr(df, -t))  # = 2·t.sf(|t|, df)
    return TrendResult(slope, slope - crit * se_slope, slope + crit * se_slope, p, intercept, len(xs), df)
