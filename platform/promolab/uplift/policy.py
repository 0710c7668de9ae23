"""Targeting decisions from predicted incremental margins, and their off-policy value.

Decision: with m̂_k(x) the predicted incremental margin of offer k (after its cost),
π(x) = argmax_k m̂_k(x) if max_k m̂_k(x) > t, else the control (no offer); t = 0, or for a
budget ("the top 31 % only") the (1 − share) quantile of max_k m̂_k over the users.

Value: the mean margin per user if the policy were deployed, estimated on the held-out
randomised rows with ``promolab.sim.ope`` (IPS, SNIPS, DR with the known randomisation
propensities and the cross-fitted reward model q̂; percentile-bootstrap intervals, every
policy on the same seeded resamples) for the policy and for each blanket policy (everyone
gets arm a). The lift over the best blanket policy b (by DR value) is V(π) − V(b), the mean
of the paired per-row differences of the two policies' IPS (or DR) terms, so its interval
reflects that both are measured on the same users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from promolab.errors import InputError
from promolab.sim.ope import (DEFAULT_RESAMPLING, Estimate, RowTerms, dr_terms, estimate_all, ips_terms, logged_arrays,
                              reward_floor, snips_terms)
from promolab.sim.ope_diagnostics import WeightDiagnostics, weight_diagnostics
from promolab.sim.ope_intervals import Resampling


Conclusion = Literal["worse", "not shown", "better"]


@dataclass(frozen=True)
class PolicyValue:
    """One policy: the share of users per action and its estimated value per user."""

    policy: str
    share: Mapping[str, float]
    ips: Estimate
    snips: Estimate
    dr: Estimate
    weights: WeightDiagnostics  # effective sample size, largest weight, … of its importance weights


@dataclass(frozen=True)
class Lift:
    """V(policy) − V(baseline), per user, with paired CIs."""

    policy: str
    baseline: str
    ips: Estimate
    dr: Estimate

    @property
    def conclusion(self) -> Conclusion:
        """By the DR lift's CI: "worse" (below 0), "not shown" (includes 0) or "better" (above 0)."""
        return "worse" if self.dr.upper < 0 else "not shown" if self.dr.lower <= 0 else "better"


@dataclass(frozen=True)
class TargetingEvaluation:
    """Targeted policies against the blanket policies, valued off-policy on held-out rows."""

    reward: str
    actions: tuple[str, ...]
    policies: tuple[PolicyValue, ...]  # targeted ones first, then the blanket ones
    best_blanket: str
    lifts: tuple[Lift, ...]  # each targeted policy against the best blanket one

    def policy(self, name: str) -> PolicyValue:
        return next(p for p in self.policies if p.policy == name)

    def lift(self, name: str) -> Lift:
        return next(lift for lift in self.lifts if lift.policy == name)


def check_share(share: object) -> float | None:
    """None (no budget) or a share of users in (0, 1]."""
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
        raise InputError("share", share, "a share of users in (0, 1]")
    return share


def share_threshold(incremental: np.ndarray, share: float | None) -> float:
    """t = 0, or with a budget the (1 − share) quantile of the best predicted margin (at least 0)."""
    if check_share(share) is None:
        return 0.0
    return max(0.0, float(np.quantile(incremental.max(axis=1), 1 - share)))


def choose(incremental: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Action per row: 0 (control) or 1 + the offer with the highest m̂ above ``threshold``."""
    best = incremental.argmax(axis=1)
    return np.where(incremental[np.arange(incremental.shape[0]), best] > threshold, best + 1, 0)


def one_hot(actions: np.ndarray, n_actions: int) -> np.ndarray:
    out = np.zeros((actions.size, n_actions))
    out[np.arange(actions.size), actions] = 1.0
    return out


def _lift(policy: RowTerms, baseline: RowTerms) -> RowTerms:
    return RowTerms(policy.estimator, policy.numerator - baseline.numerator, None, policy.spread + baseline.spread)


def evaluate_targeting(reward: np.ndarray, arm: np.ndarray, propensity: np.ndarray, q: np.ndarray,
                       arms: Sequence[str], targeted: Mapping[str, np.ndarray], label: str,
                       resampling: Resampling = DEFAULT_RESAMPLING) -> TargetingEvaluation:
    """Value of each ``targeted`` policy (name → action per row) and of every blanket policy.
    ``propensity``: P(arm = a) per arm; ``q``: cross-fitted q̂(xᵢ, a), (n, K + 1)."""
    n_actions = len(arms)
    blankets = {(f"no one ({arms[0]})" if a == 0 else f"everyone: {arms[a]}"): np.full(arm.size, a)
                for a in range(n_actions)}
    policies = {**targeted, **blankets}
    logs = {name: logged_arrays(reward, arm, propensity[arm], one_hot(actions, n_actions))
            for name, actions in policies.items()}
    terms = {name: (ips_terms(log), snips_terms(log), dr_terms(log, q)) for name, log in logs.items()}
    best = max(blankets, key=lambda name: terms[name][2].value)
    valued = [t for name in policies for t in terms[name]]
    paired = [_lift(terms[name][i], terms[best][i]) for name in targeted for i in (0, 2)]
    # the paired differences play the reward: an interval is clipped at 0 only if none is negative
    lift_floor = reward_floor(np.concatenate([t.numerator for t in paired])) if paired else None
    estimates = iter(estimate_all(valued + paired, reward, resampling,  # one bootstrap for all
                                  floors=[reward_floor(reward)] * len(valued) + [lift_floor] * len(paired)))
    rows = tuple(PolicyValue(name, {a: float(s) for a, s in zip(arms, log.target.mean(axis=0))},
                             next(estimates), next(estimates), next(estimates),
                             weight_diagnostics(log.weights, log.action, log.target))
                 for name, log in logs.items())
    return TargetingEvaluation(label, tuple(arms), rows, best,
                               tuple(Lift(name, best, next(estimates), next(estimates)) for name in targeted))
