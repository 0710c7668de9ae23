"""Sequential read-outs so teams can peek safely, with multiplicity handled in the decision.

``gst``: the Lan-DeMets group-sequential boundary at the current look. The current
information fraction t is observed (users so far / planned users); the current look is
k = ⌈t·K⌉ and earlier looks are taken to have happened at the planned fractions j/K,
j < k (Lan & DeMets 1983 make the boundary valid for whatever the timing was).

``msprt``: the mixture SPRT's always-valid p-value and interval (Johari, Pekelis & Walsh
2017; mixing variance chosen for the planned horizon) and the asymptotic confidence
sequence on the absolute and relative lift (Waudby-Smith et al. 2023). These are valid
at any look, so they are reported with either method.

Several hypotheses (variants × metrics): each row's decision rests on one valid p-value
— the group-sequential *repeated p-value* (the smallest level α' whose boundary |z|
crosses at this look; Jennison & Turnbull 2000, §9.1) or the mSPRT always-valid p-value
— and the family of those is corrected with the plan's method (Holm or BH). With Holm
this is the graphical approach of Maurer & Bretz (2013) for the Holm graph: H_i is
rejected at the current look when it crosses its boundary at level α·w_i, with the
weights of rejected hypotheses passed on. A row is "crossed" exactly when its adjusted
p-value is below α, so the flag, the adjusted p and the verdict always agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Hashable, Mapping, Sequence

from promolab.analysis.results import SequentialReadout
from promolab.errors import InputError
from promolab.spec.vocabulary import (
    MAX_LOOKS,
    SEQUENTIAL_METHODS,
    SPENDING_FUNCTIONS,
    Correction,
    SequentialMethod,
    Spending,
)
from promolab.stats import LiftResult, adjust_pvalues
from promolab.stats.sequential import gst_look, gst_repeated_p_value
from promolab.stats.sequential.confseq import DEFAULT_N_OPT, cs_halfwidth, rho_for_sample_size
from promolab.stats.sequential.msprt import log_mixture_likelihood_ratio, msprt_halfwidth, tau2_for_horizon

Z_CAP = 40.0  # an infinite z (zero variance) is read as this far out


@dataclass(frozen=True)
class SequentialPlan:
    """How the experiment is monitored: method, planned looks and users, observed information.

    ``information_fraction`` None means "derive it from the users observed":
    t = users / ``target_users`` (1 without a target, or once the experiment is stopped).
    """

    method: SequentialMethod
    looks: int | None = None
    information_fraction: float | None = 1.0
    spending: Spending = "obf"
    target_users: int | None = None
    tau2_relative: float | None = None  # mSPRT mixing sd as a fraction of the control mean
    earlier_fractions: tuple[float, ...] | None = None  # observed fractions of earlier looks (else planned j/K)

    def __post_init__(self) -> None:
        if self.method not in SEQUENTIAL_METHODS:
            raise InputError("plan.sequential", self.method, " or ".join(SEQUENTIAL_METHODS))
        if self.method == "gst" and (isinstance(self.looks, bool) or not isinstance(self.looks, int)
                                     or not 1 <= self.looks <= MAX_LOOKS):
            raise InputError("plan.looks", self.looks, f"an integer in [1, {MAX_LOOKS}] with sequential gst")
        if self.spending not in SPENDING_FUNCTIONS:
            raise InputError("plan.spending", self.spending, " | ".join(SPENDING_FUNCTIONS))
        t = self.information_fraction
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1):
            raise InputError("plan.information_fraction", t, "a number in (0, 1]")
        if self.target_users is not None and (isinstance(self.target_users, bool)
                                              or not isinstance(self.target_users, int) or self.target_users < 2):
            raise InputError("plan.target_users", self.target_users, "an integer >= 2")

    def at(self, users: int, final: bool) -> tuple["SequentialPlan", str]:
        """This plan at the information observed (``final``: the experiment is stopped), and a note."""
        if self.information_fraction is not None:
            return self, f"sequential {self.method}: information fraction {self.information_fraction:.3f} (given)"
        if final or self.target_users is None:
            t = 1.0
        else:
            t = min(max(users / self.target_users, 1e-6), 1.0)
        note = (f"sequential {self.method}: {users:,} of {self.target_users or users:,} planned users, "
                f"information fraction {t:.3f}")
        return replace(self, information_fraction=t), note

    @property
    def fraction(self) -> float:
        return 1.0 if self.information_fraction is None else float(self.information_fraction)

    @property
    def current_look(self) -> int:
        return max(1, min(self.looks or 1, math.ceil(self.fraction * (self.looks or 1) - 1e-12)))

    @property
    def previous_fractions(self) -> list[float]:
        if self.earlier_fractions is not None:
            return list(self.earlier_fractions)
        k, big_k = self.current_look, self.looks or 1
        return [j / big_k for j in range(1, k) if j / big_k < self.fraction]


def always_valid(plan: SequentialPlan, lift: LiftResult, n_total: int, alpha: float) -> dict[str, float]:
    """mSPRT p-value and interval on the difference, confidence sequences on the lift.

    Both need only the estimate and its variance (V = se²), so they apply to every metric
    kind, CUPED-adjusted and ratio metrics included. The mixing variance τ² defaults to
    r*·V_H, the value that makes the always-valid interval narrowest at the planned
    horizon (V_H = V·t, t the information fraction; ``tau2_for_horizon``); with
    ``tau2_relative`` it is (tau2_relative × control mean)², an expected relative effect.
    """
    variance = lift.se_absolute ** 2
    if plan.tau2_relative is not None:
        tau2 = (plan.tau2_relative * lift.control_mean) ** 2
    elif variance > 0:
        tau2 = tau2_for_horizon(variance * plan.fraction, alpha)
    else:
        tau2 = 0.0
    if tau2 <= 0 or not variance > 0:
        inf = math.inf
        return {"always_valid_p_value": 1.0, "always_valid_ci_low": -inf, "always_valid_ci_high": inf,
                "tau2": tau2, "cs_abs_ci_low": -inf, "cs_abs_ci_high": inf, "cs_rel_ci_low": -inf,
                "cs_rel_ci_high": inf}
    lr = math.exp(float(log_mixture_likelihood_ratio(lift.absolute, variance, tau2)))
    half = msprt_halfwidth(variance, tau2, alpha)
    rho = rho_for_sample_size(DEFAULT_N_OPT, alpha)
    cs_abs = float(cs_halfwidth(variance, n_total, alpha, rho))
    cs_rel = float(cs_halfwidth(lift.se_relative ** 2, n_total, alpha, rho))
    return {"always_valid_p_value": min(1.0, 1.0 / lr), "always_valid_ci_low": lift.absolute - half,
            "always_valid_ci_high": lift.absolute + half, "tau2": tau2,
            "cs_abs_ci_low": lift.absolute - cs_abs, "cs_abs_ci_high": lift.absolute + cs_abs,
            "cs_rel_ci_low": lift.relative - cs_rel, "cs_rel_ci_high": lift.relative + cs_rel}


def _z(lift: LiftResult) -> float:
    z = lift.statistic
    return z if math.isfinite(z) else math.copysign(Z_CAP, z) if not math.isnan(z) else 0.0


def sequential_readouts(plan: SequentialPlan, lifts: Mapping[Hashable, LiftResult], n_totals: Mapping[Hashable, int],
                        family: Sequence[Hashable], alpha: float, correction: Correction
                        ) -> dict[Hashable, tuple[SequentialReadout, float]]:
    """Per comparison: its read-out and its decision p-value adjusted across ``family``
    (comparisons outside the family, e.g. guardrails, keep their own p-value)."""
    raw: dict[Hashable, tuple[dict, float, dict]] = {}
    for key, lift in lifts.items():
        valid = always_valid(plan, lift, n_totals[key], alpha)
        gst: dict = {}
        if plan.method == "gst":
            z = _z(lift)
            look = gst_look(z, plan.fraction, plan.previous_fractions, plan.looks, alpha, plan.spending)
            gst = {"spending": plan.spending, "look": look.look, "looks": plan.looks,
                   "information_fraction": look.information_fraction, "z": look.z, "boundary": look.boundary,
                   "nominal_p": look.nominal_p, "alpha_spent": look.alpha_spent}
            p = gst_repeated_p_value(z, plan.fraction, plan.previous_fractions, plan.looks, plan.spending)
        else:
            p = valid["always_valid_p_value"]
        raw[key] = (valid, float(p), gst)
    members = [k for k in family if k in raw]
    adjusted = dict(zip(members, adjust_pvalues([raw[k][1] for k in members], correction))) if members else {}
    out = {}
    for key, (valid, p, gst) in raw.items():
        p_adj = float(adjusted.get(key, p))
        out[key] = (SequentialReadout(plan.method, p, p_adj < alpha, **valid, **gst), p_adj)
    return out
