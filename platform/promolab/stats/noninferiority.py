"""One-sided non-inferiority tests for guardrail metrics, from sufficient statistics.

A guardrail with margin δ passes when the data show the treatment is *not worse than the
control by δ or more*. With s = +1 when higher is worse (``direction = "decrease"``, e.g.
refund rate) and s = −1 when lower is worse (``"increase"``, e.g. revenue):

    H0: s·Δ ≥ δ   (harmed by at least the margin)      H1: s·Δ < δ

rejected at one-sided level α. Equivalently the one-sided (1 − α) confidence bound on the
harmful side lies inside the margin. Scales:

* absolute (Δ = m_t − m_c, δ in the metric's units):
  binomial: Wald z with the unpooled variance, as
  ``statsmodels.stats.proportion.test_proportions_2indep(compare="diff", method="wald", value=±δ)``;
  mean: Welch t with Welch–Satterthwaite df, as
  ``statsmodels.stats.weightstats.ttest_ind(usevar="unequal", value=±δ)``.
* relative (Δ = log(m_t / m_c), δ' = log(1 + s·δ)): z on the log ratio,
  Var = Var(m_t)/m_t² + Var(m_c)/m_c² (delta method); for binomials this is
  ``test_proportions_2indep(compare="ratio", method="log", value=1 ± δ)``.

Ratio and CUPED metrics use the report's delta-method :class:`LiftResult` (normal z on the
absolute difference, or on the relative lift for a relative margin).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import special as _sp

from promolab.errors import InputError
from promolab.spec.vocabulary import DIRECTIONS
from promolab.stats.frequentist import LiftResult, _check_alpha, _check_binomial, _check_mean_stats
from promolab.stats.sufficient import MeanStats

__all__ = ["NonInferiorityResult", "noninferiority_test", "noninferiority_from_lift"]


@dataclass(frozen=True)
class NonInferiorityResult:
    """A guardrail's one-sided test. ``estimate`` and ``bound`` are absolute differences
    (t − c) for an absolute margin and relative lifts (t / c − 1) for a relative one."""

    margin: float
    margin_type: str
    direction: str
    estimate: float
    bound: float  # one-sided (1 − α) confidence bound on the harmful side
    threshold: float  # the margin on the estimate's scale, signed: +δ (decrease) or −δ (increase)
    statistic: float
    p_value: float  # one-sided p-value of H0 "worse by at least the margin"
    alpha: float
    passed: bool
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sign(direction: str) -> int:
    if direction not in DIRECTIONS:
        raise InputError("direction", direction, "increase or decrease")
    return 1 if direction == "decrease" else -1


def _check_margin(margin: float, margin_type: str, direction: str) -> None:
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise InputError("margin", margin, "a non-inferiority margin > 0")
    if margin_type not in ("absolute", "relative"):
        raise InputError("margin_type", margin_type, "absolute or relative")
    if margin_type == "relative" and direction == "increase" and margin >= 1:
        raise InputError("margin", margin, "a relative margin < 1 when lower is worse")


def _decide(estimate: float, se: float, boundary: float, s: int, alpha: float,
            df: float | None = None) -> tuple[float, float, float]:
    """(statistic, one-sided p, harmful-side bound) of H0: s·(estimate − boundary) ≥ 0, on the
    standard normal (``df`` None) or Student's t with ``df`` degrees of freedom."""
    crit = float(_sp.ndtri(1.0 - alpha) if df is None else _sp.stdtrit(df, 1.0 - alpha))  # = ppf
    if se == 0.0 or not math.isfinite(se):
        good = s * (estimate - boundary) < 0
        stat = -s * math.inf if good else (s * math.inf if estimate != boundary else 0.0)
        return stat, 0.0 if good else 1.0, estimate
    stat = (estimate - boundary) / se
    lower = stat if s == 1 else -stat  # p = cdf(stat) when s = 1, else sf(stat) = cdf(−stat)
    p = float(_sp.ndtr(lower) if df is None else _sp.stdtr(df, lower))
    return stat, p, estimate + s * crit * se


def _result(margin, margin_type, direction, estimate, bound, threshold, stat, p, alpha, method,
            to_relative: bool = False) -> NonInferiorityResult:
    if to_relative:  # log scale → relative lift
        estimate, bound, threshold = math.expm1(estimate), math.expm1(bound), math.expm1(threshold)
    return NonInferiorityResult(float(margin), margin_type, direction, float(estimate), float(bound),
                                float(threshold), float(stat), float(p), float(alpha), bool(p < alpha), method)


def noninferiority_test(
    control: MeanStats,
    treatment: MeanStats,
    kind: str,
    margin: float,
    margin_type: str = "absolute",
    direction: str = "decrease",
    alpha: float = 0.025,
) -> NonInferiorityResult:
    """Non-inferiority of ``treatment`` against ``control`` on a binomial or mean metric."""
    alpha = _check_alpha(alpha)
    _check_margin(margin, margin_type, direction)
    s = _sign(direction)
    if kind == "binomial":
        c, t = _check_binomial(control, "control"), _check_binomial(treatment, "treatment")
        mc, mt = c.sum / c.n, t.sum / t.n
        vc, vt = mc * (1 - mc) / c.n, mt * (1 - mt) / t.n
    elif kind == "mean":
        c, t = _check_mean_stats(control, "control"), _check_mean_stats(treatment, "treatment")
        mc, mt = c.mean, t.mean
        vc, vt = c.variance / c.n, t.variance / t.n
    else:
        raise InputError("kind", kind, "binomial or mean (ratio and CUPED metrics: noninferiority_from_lift)")
    if margin_type == "absolute":
        threshold = s * margin
        if kind == "binomial":
            df, method = None, "Wald z (unpooled), one-sided"
        else:
            a, b = vc, vt
            df = (a + b) ** 2 / (a * a / (c.n - 1) + b * b / (t.n - 1)) if a + b > 0 else math.inf
            method = "Welch t, one-sided"
        stat, p, bound = _decide(mt - mc, math.sqrt(vc + vt), threshold, s, alpha, df)
        return _result(margin, margin_type, direction, mt - mc, bound, threshold, stat, p, alpha, method)
    if mc <= 0 or mt <= 0:
        return NonInferiorityResult(float(margin), margin_type, direction, math.nan, math.nan,
                                    float(s * margin), math.nan, 1.0, alpha, False,
                                    "log-ratio z: undefined with a zero mean (not shown non-inferior)")
    estimate = math.log(mt / mc)
    se = math.sqrt(vt / mt**2 + vc / mc**2)
    threshold = math.log1p(s * margin)
    stat, p, bound = _decide(estimate, se, threshold, s, alpha)
    return _result(margin, margin_type, direction, estimate, bound, threshold, stat, p, alpha,
                   "log-ratio z (delta method), one-sided", to_relative=True)


def noninferiority_from_lift(
    lift: LiftResult, margin: float, margin_type: str = "absolute", direction: str = "decrease",
    alpha: float = 0.025,
) -> NonInferiorityResult:
    """Normal-approximation test from a delta-method lift (ratio metrics, CUPED-adjusted means)."""
    alpha = _check_alpha(alpha)
    _check_margin(margin, margin_type, direction)
    s = _sign(direction)
    if margin_type == "absolute":
        estimate, se = lift.absolute, lift.se_absolute
    else:
        estimate, se = lift.relative, lift.se_relative
    threshold = s * margin
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return NonInferiorityResult(float(margin), margin_type, direction, math.nan, math.nan, threshold,
                                    math.nan, 1.0, alpha, False, "undefined (zero control mean)")
    stat, p, bound = _decide(estimate, se, threshold, s, alpha)
    return _result(margin, margin_type, direction, estimate, bound, threshold, stat, p, alpha,
                   f"{lift.method}, z one-sided")
