"""Mixture sequential probability ratio test (mSPRT) for A/B tests.

Johari, Pekelis & Walsh (2017), "Always valid inference: continuous monitoring of A/B
tests" (arXiv:1512.04922; Operations Research 70, 2022) — Optimizely's Stats Engine.
With effect estimate d = ȳ_T − ȳ_C, its variance V (σ_T²/n_T + σ_C²/n_C; for two equal
arms of n with common σ², V = 2σ²/n) and a normal mixture θ ~ N(θ0, τ²) on the effect,

    Λ_n = √(V / (V + τ²)) · exp( τ² (d − θ0)² / (2V(V + τ²)) ),

which for V = 2σ²/n is the paper's √(2σ²/(2σ²+nτ²)) · exp(n²τ²(d−θ0)²/(4σ²(2σ²+nτ²))).
Λ_n is a martingale under H0, so by Ville's inequality P(sup Λ_n ≥ 1/α) ≤ α:

* always-valid p-value p_n = min(p_{n−1}, 1/Λ_n), p_0 = 1;
* always-valid CI = {θ0 : Λ_n(θ0) < 1/α} = d ± √( V(V+τ²)/τ² · (2 ln(1/α) + ln((V+τ²)/V)) ),
  intersected with the previous interval.

Variances are plug-in estimates (sample variances; p(1−p) for proportions), the paper's
large-sample practice. The mixing variance τ² is fixed before the test starts (choosing it
from the data would break the martingale property). Two ways to set it:

* from the effect you expect: the mixture is N(0, τ²), so τ is the typical effect size;
  Optimizely sets it from the distribution of effects in past experiments. ``msprt_test``
  defaults to τ = 5 % of the control mean (a 5 % relative lift), the usual promo scale;
* for a planned horizon (``tau2_for_horizon``): τ² = r*·V_H, where V_H is the estimate's
  variance at the planned sample size and r* = 2 ln(1/α) + ln(1 + r*) minimises the
  always-valid CI width at that horizon (≈ 8.2·V_H at α = 0.05).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from promolab.errors import InputError
from promolab.stats.roots import brentq
from promolab.stats.sequential.spending import check_level
from promolab.stats.sufficient import MeanStats

MetricKind = Literal["binomial", "mean"]
DEFAULT_RELATIVE_EFFECT = 0.05


@dataclass(frozen=True)
class MsprtResult:
    """Always-valid inference on the absolute difference treatment − control."""

    kind: str
    difference: float
    variance: float  # V, variance of the difference estimate
    tau2: float
    likelihood_ratio: float  # Λ_n at θ0 = 0
    p_value: float  # always valid: running minimum of 1/Λ, capped at 1
    interval: tuple[float, float]  # always-valid (1 − α) CI on the difference
    alpha: float
    significant: bool  # p_value ≤ α


def log_mixture_likelihood_ratio(
    difference: np.ndarray | float, variance: np.ndarray | float, tau2: float, theta0: float = 0.0
) -> np.ndarray | float:
    """ln Λ = ½ ln(V/(V+τ²)) + τ²(d − θ0)² / (2V(V+τ²)); vectorised over d and V."""
    v = np.asarray(variance, float)
    return 0.5 * np.log(v / (v + tau2)) + tau2 * (np.asarray(difference) - theta0) ** 2 / (2.0 * v * (v + tau2))


def always_valid_p_values(difference: np.ndarray, variance: np.ndarray, tau2: float) -> np.ndarray:
    """p_n = min_{m ≤ n} min(1, 1/Λ_m), running along the last axis (looks)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lr = log_mixture_likelihood_ratio(difference, variance, tau2)
    p = np.minimum(1.0, np.exp(-np.nan_to_num(log_lr, nan=0.0, neginf=0.0)))
    return np.minimum.accumulate(p, axis=-1)


def msprt_halfwidth(variance: float, tau2: float, alpha: float) -> float:
    """Half-width √( V(V+τ²)/τ² · (2 ln(1/α) + ln((V+τ²)/V)) ) of the always-valid CI."""
    return float(np.sqrt(variance * (variance + tau2) / tau2 * (2.0 * np.log(1.0 / alpha) + np.log1p(tau2 / variance))))


def tau2_for_horizon(variance_at_horizon: float, alpha: float = 0.05) -> float:
    """τ² = r*·V_H with r* = 2 ln(1/α) + ln(1 + r*): the narrowest always-valid CI at the horizon."""
    check_level("alpha", alpha)
    if not (np.isfinite(variance_at_horizon) and variance_at_horizon > 0):
        raise InputError("variance_at_horizon", variance_at_horizon, "a positive number")
    c = 2.0 * np.log(1.0 / alpha)
    r = brentq(lambda r: r - c - np.log1p(r), c, 10.0 * c + 10.0)
    return float(r * variance_at_horizon)


def difference_variance(control: MeanStats, treatment: MeanStats, kind: MetricKind) -> float:
    """Plug-in V = Var_T/n_T + Var_C/n_C (p(1−p) for proportions, sample variance for means)."""
    if kind not in ("binomial", "mean"):
        raise InputError("kind", kind, '"binomial" or "mean"')
    for name, s in (("control", control), ("treatment", treatment)):
        if s.n < 2:
            raise InputError(f"{name}.n", s.n, "at least 2 users")
        if kind == "binomial" and not (0 <= s.sum <= s.n):
            raise InputError(f"{name}.sum", s.sum, f"a count of conversions in [0, n = {s.n}]")
    if kind == "binomial":
        return sum(s.mean * (1.0 - s.mean) / s.n for s in (control, treatment))
    return control.variance / control.n + treatment.variance / treatment.n


def msprt_test(
    control: MeanStats,
    treatment: MeanStats,
    kind: MetricKind = "mean",
    alpha: float = 0.05,
    tau2: float | None = None,
    previous_p_value: float = 1.0,
    previous_interval: tuple[float, float] | None = None,
) -> MsprtResult:
    """mSPRT at the current look; pass the last look's p-value and interval to keep them running.

    ``tau2=None`` uses τ = 5 % of the control mean (module docstring); fix it before launch.
    """
    check_level("alpha", alpha)
    variance = difference_variance(control, treatment, kind)
    if tau2 is None:
        tau2 = (DEFAULT_RELATIVE_EFFECT * control.mean) ** 2
        if tau2 == 0.0:
            raise InputError("tau2", None, "a positive number (the control mean is 0, so no default)")
    if not (isinstance(tau2, (int, float)) and np.isfinite(tau2) and tau2 > 0):
        raise InputError("tau2", tau2, "a positive number")
    if not (0.0 < previous_p_value <= 1.0):
        raise InputError("previous_p_value", previous_p_value, "a number in (0, 1]")
    difference = treatment.mean - control.mean
    if variance > 0:
        lr = float(np.exp(log_mixture_likelihood_ratio(difference, variance, tau2)))
        half = msprt_halfwidth(variance, tau2, alpha)
        lower, upper = difference - half, difference + half
    else:  # no variation yet: no evidence either way
        lr, lower, upper = 1.0, -np.inf, np.inf
    if previous_interval is not None:
        lower, upper = max(lower, previous_interval[0]), min(upper, previous_interval[1])
    p_value = min(previous_p_value, 1.0 / lr if lr > 0 else 1.0, 1.0)
    return MsprtResult(
        kind=kind,
        difference=difference,
        variance=variance,
        tau2=float(tau2),
        likelihood_ratio=lr,
        p_value=p_value,
        interval=(lower, upper),
        alpha=alpha,
        significant=p_value <= alpha,
    )
