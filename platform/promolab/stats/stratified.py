"""Period-stratified estimates for experiments whose allocation changed over time.

A bandit changes its weights between periods; when outcomes drift over time (a weekend,
promotion fatigue), pooling users across periods mixes different period shares into each
arm and biases the comparison (Simpson's paradox). Post-stratifying by weight period
fixes the mix: each arm's mean is Σ_p w_p ȳ_{a,p} with the same period weights w_p for
every arm (w_p = the period's share of all users), and

    Var = Σ_p w_p² s²_{a,p} / n_{a,p}.

Only periods where both arms have at least two users enter a comparison. This is the
estimator GrowthBook uses for bandit results (weights per period, not pooled means).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


from promolab.errors import InputError
from promolab.stats.frequentist import LiftResult, _check_alpha, _lift, _z_p, two_sided_z
from promolab.stats.sufficient import MeanStats


@dataclass(frozen=True)
class StratifiedMean:
    mean: float
    variance: float  # variance of the mean
    n: int


def _weights(period_totals: Sequence[float], keep: Sequence[bool]) -> list[float]:
    total = sum(t for t, k in zip(period_totals, keep) if k)
    if total <= 0:
        raise InputError("periods", list(period_totals), "at least one period where both arms have 2+ users")
    return [t / total if k else 0.0 for t, k in zip(period_totals, keep)]


def stratified_mean(strata: Sequence[MeanStats], period_totals: Sequence[float],
                    keep: Sequence[bool] | None = None) -> StratifiedMean:
    """Σ_p w_p ȳ_p and Σ_p w_p² s_p²/n_p over the kept periods (w ∝ period_totals)."""
    if len(strata) != len(period_totals):
        raise InputError("period_totals", len(period_totals), f"one total per stratum ({len(strata)})")
    keep = [s.n >= 2 for s in strata] if keep is None else list(keep)
    w = _weights(period_totals, keep)
    mean = sum(wp * s.mean for wp, s in zip(w, strata) if wp > 0)
    var = sum(wp * wp * s.variance / s.n for wp, s in zip(w, strata) if wp > 0)
    return StratifiedMean(mean, var, sum(s.n for s, k in zip(strata, keep) if k))


def stratified_test(control: Sequence[MeanStats], treatment: Sequence[MeanStats],
                    period_totals: Sequence[float], alpha: float = 0.05) -> LiftResult:
    """z-test of the period-stratified difference.

    z = (m_t − m_c) / sqrt(V_c + V_t) with the stratified means and variances above,
    two-sided normal p-value; absolute CI (m_t − m_c) ± z_{1−α/2} sqrt(V_c + V_t) and the
    relative CI is Fieller's interval for m_t / m_c on the same V_c, V_t and z_{1−α/2}
    (see :func:`promolab.stats.frequentist._lift`), so both exclude 0 exactly when p < α.
    A zero standard error gives z = 0, p = 1 (equal means) or z = ±inf, p = 0.
    """
    alpha = _check_alpha(alpha)
    if len(control) != len(treatment):
        raise InputError("treatment", len(treatment), f"one stratum per period ({len(control)})")
    keep = [c.n >= 2 and t.n >= 2 for c, t in zip(control, treatment)]
    c = stratified_mean(control, period_totals, keep)
    t = stratified_mean(treatment, period_totals, keep)
    z, p = _z_p(t.mean - c.mean, math.sqrt(c.variance + t.variance))
    crit = two_sided_z(alpha)
    return _lift(c.mean, t.mean, c.variance, t.variance, crit, z, p, "period-stratified z-test")
