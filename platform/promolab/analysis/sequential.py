"""Sequential read-outs added to a report so teams can peek safely.

``gst``: the Lan-DeMets group-sequential boundary at the current look. The current
information fraction t is observed (users so far / planned users); the current look is
k = ⌈t·K⌉ and earlier looks are taken to have happened at the planned fractions j/K,
j < k (Lan & DeMets 1983 make the boundary valid for whatever the timing was).

``msprt``: the mixture SPRT's always-valid p-value and interval (Johari, Pekelis & Walsh
2017; mixing variance chosen for the planned horizon) and the asymptotic confidence sequence on the absolute and relative lift
(Waudby-Smith et al. 2023). These are valid at any look, so they are reported with
either method. A single report only sees the current look; the running minimum over
looks is what the dashboard's sequential page draws from the exposure history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from promolab.errors import InputError
from promolab.stats import LiftResult
from promolab.stats.sequential import gst_look
from promolab.stats.sequential.confseq import DEFAULT_N_OPT, cs_halfwidth, rho_for_sample_size
from promolab.stats.sequential.msprt import log_mixture_likelihood_ratio, msprt_halfwidth, tau2_for_horizon

METHODS = ("gst", "msprt")


@dataclass(frozen=True)
class SequentialPlan:
    """How the experiment is monitored: method, planned looks, observed information."""

    method: str
    looks: int | None = None
    information_fraction: float = 1.0
    spending: str = "obf"
    tau2_relative: float | None = None  # mSPRT mixing sd as a fraction of the control mean

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError("--sequential", self.method, "gst or msprt")
        if self.method == "gst" and (not isinstance(self.looks, int) or self.looks < 1):
            raise InputError("--looks", self.looks, "an integer >= 1 with --sequential gst")
        if not 0 < self.information_fraction <= 1:
            raise InputError("information_fraction", self.information_fraction, "a number in (0, 1]")

    @property
    def current_look(self) -> int:
        return max(1, min(self.looks or 1, math.ceil(self.information_fraction * (self.looks or 1) - 1e-12)))

    @property
    def previous_fractions(self) -> list[float]:
        k, big_k = self.current_look, self.looks or 1
        return [j / big_k for j in range(1, k) if j / big_k < self.information_fraction]


def gst_readout(plan: SequentialPlan, lift: LiftResult, alpha: float) -> dict[str, Any]:
    """Boundary, z and whether it was crossed at the current look."""
    look = gst_look(lift.statistic if math.isfinite(lift.statistic) else math.copysign(40.0, lift.statistic),
                    plan.information_fraction, plan.previous_fractions, plan.looks, alpha, plan.spending)
    return {
        "method": "gst",
        "spending": plan.spending,
        "look": look.look,
        "looks": plan.looks,
        "information_fraction": look.information_fraction,
        "z": look.z,
        "boundary": look.boundary,
        "nominal_p": look.nominal_p,
        "alpha_spent": look.alpha_spent,
        "crossed": look.crossed,
    }


def always_valid_readout(plan: SequentialPlan, lift: LiftResult, n_total: int, alpha: float) -> dict[str, Any]:
    """mSPRT p-value and interval on the difference, confidence sequences on the lift.

    Both need only the estimate and its variance (V = se²), so they apply to every metric
    kind, CUPED-adjusted and ratio metrics included. The mixing variance τ² defaults to
    r*·V_H, the value that makes the always-valid interval narrowest at the planned
    horizon (V_H = V·t, t the information fraction; ``tau2_for_horizon``); with
    ``tau2_relative`` it is (tau2_relative × control mean)², an expected relative effect.
    """
    variance = lift.se_absolute**2
    if plan.tau2_relative is not None:
        tau2 = (plan.tau2_relative * lift.control_mean) ** 2
    elif variance > 0:
        tau2 = tau2_for_horizon(variance * plan.information_fraction, alpha)
    else:
        tau2 = 0.0
    if tau2 <= 0 or not variance > 0:
        return {"always_valid_p_value": 1.0, "always_valid_ci_low": -math.inf, "always_valid_ci_high": math.inf,
                "tau2": tau2}
    lr = math.exp(float(log_mixture_likelihood_ratio(lift.absolute, variance, tau2)))
    half = msprt_halfwidth(variance, tau2, alpha)
    rho = rho_for_sample_size(DEFAULT_N_OPT, alpha)
    cs_abs = float(cs_halfwidth(variance, n_total, alpha, rho))
    cs_rel = float(cs_halfwidth(lift.se_relative**2, n_total, alpha, rho))
    return {
        "always_valid_p_value": min(1.0, 1.0 / lr),
        "always_valid_ci_low": lift.absolute - half,
        "always_valid_ci_high": lift.absolute + half,
        "tau2": tau2,
        "cs_abs_ci_low": lift.absolute - cs_abs,
        "cs_abs_ci_high": lift.absolute + cs_abs,
        "cs_rel_ci_low": lift.relative - cs_rel,
        "cs_rel_ci_high": lift.relative + cs_rel,
    }
