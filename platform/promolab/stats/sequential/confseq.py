"""Asymptotic confidence sequences for the lift, as GrowthBook's sequential testing uses.

Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory
and asymptotic confidence sequences" (arXiv:2103.06476), Theorem 2.2 / eq. (9): with n
observations and per-observation variance σ̂², the two-sided (1 − α) sequence is

    estimate ± σ̂ · √( 2(nρ² + 1) / (n²ρ²) · ln( √(nρ² + 1) / α ) ).

The tuning parameter ρ sets where the sequence is tightest relative to a fixed-n interval;
ρ = √( (−2 ln α + ln(−2 ln α + 1)) / N* ) makes it tightest at sample size N* (the paper's
eq. 161 approximation). GrowthBook calls N* the "sequential tuning parameter", default
5,000: choose it near the sample size you expect at your first serious look.

For two arms, as GrowthBook does: n = n_C + n_T and σ̂² = n · Var(estimate), where
Var(estimate) is Var_T/n_T + Var_C/n_C for the absolute lift and the delta-method
variance for the relative lift ȳ_T/ȳ_C − 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.errors import InputError
from promolab.stats.sequential.spending import check_level
from promolab.stats.sufficient import MeanStats

DEFAULT_N_OPT = 5000.0


@dataclass(frozen=True)
class ConfidenceSequenceResult:
    """Always-valid (1 − α) intervals for treatment − control and treatment/control − 1."""

    absolute_lift: float
    absolute_interval: tuple[float, float]
    relative_lift: float | None  # None when the control mean is 0
    relative_interval: tuple[float, float] | None
    alpha: float
    rho: float
    n: int  # n_C + n_T


def rho_for_sample_size(n_opt: float, alpha: float = 0.05) -> float:
    """ρ = √((−2 ln α + ln(−2 ln α + 1)) / N*): the sequence is tightest at N* observations."""
    check_level("alpha", alpha)
    if not (np.isfinite(n_opt) and n_opt > 0):
        raise InputError("n_opt", n_opt, "a positive number of observations")
    la = -2.0 * np.log(alpha)
    return float(np.sqrt((la + np.log(la + 1.0)) / n_opt))


def cs_halfwidth(
    variance_of_estimate: np.ndarray | float, n: np.ndarray | float, alpha: float, rho: float
) -> np.ndarray | float:
    """√(n·Var) · √( 2(nρ² + 1)/(n²ρ²) · ln(√(nρ² + 1)/α) ); vectorised over Var and n."""
    n = np.asarray(n, float)
    a = n * rho**2 + 1.0
    return np.sqrt(variance_of_estimate * n) * np.sqrt(2.0 * a / (n**2 * rho**2) * np.log(np.sqrt(a) / alpha))


def confidence_sequence(
    control: MeanStats,
    treatment: MeanStats,
    alpha: float = 0.05,
    n_opt: float = DEFAULT_N_OPT,
    rho: float | None = None,
) -> ConfidenceSequenceResult:
    """Asymptotic confidence sequences for the absolute and relative lift (Waudby-Smith et al. 2023).

    ``rho`` overrides ``n_opt``; works for binary (0/1) and continuous metrics alike.
    """
    check_level("alpha", alpha)
    for name, s in (("control", control), ("treatment", treatment)):
        if s.n < 2:
            raise InputError(f"{name}.n", s.n, "at least 2 users")
    if rho is None:
        rho = rho_for_sample_size(n_opt, alpha)
    elif not (np.isfinite(rho) and rho > 0):
        raise InputError("rho", rho, "a positive number")
    n = control.n + treatment.n
    v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
    absolute = treatment.mean - control.mean
    half = float(cs_halfwidth(v_c + v_t, n, alpha, rho))
    relative = rel_interval = None
    if control.mean != 0:
        mc, mt = control.mean, treatment.mean
        relative = mt / mc - 1.0
        rel_var = v_t / mc**2 + mt**2 * v_c / mc**4
        rel_half = float(cs_halfwidth(rel_var, n, alpha, rho))
        rel_interval = (relative - rel_half, relative + rel_half)
    return ConfidenceSequenceResult(
        absolute_lift=absolute,
        absolute_interval=(absolute - half, absolute + half),
        relative_lift=relative,
        relative_interval=rel_interval,
        alpha=alpha,
        rho=rho,
        n=n,
    )
