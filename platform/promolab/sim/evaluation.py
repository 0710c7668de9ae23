"""Off-policy evaluation of one target policy on one log: every estimator with its interval,
the weight diagnostics and their warnings. The call other modules and the surfaces make::

    evaluation = evaluate_target(log, target)          # target: (n, K) probabilities per row
    evaluation.estimate("dr").value, evaluation.warnings

IPS, SNIPS and DR are unbiased (SNIPS consistent) when the propensities are right; DM and
switch-DR trade that for variance and are only as good as the reward model q̂, which by
default is each action's logged mean reward, refit in every bootstrap resample
(``promolab.sim.reward_model.CellMeans``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from promolab.errors import InputError
from promolab.sim.logged import LoggedData
from promolab.sim.ope import (DEFAULT_RESAMPLING, Estimate, RewardModel, dm_terms, dr_terms, estimate_all, ips_terms,
                              logged_arrays, snips_terms, switch_dr_terms)
from promolab.sim.ope_diagnostics import WeightDiagnostics, weight_diagnostics
from promolab.sim.ope_intervals import Resampling
from promolab.sim.reward_model import CellMeans

# switch-DR's default threshold: DR wherever a row's weight is at most 10 (every row of a log
# logged uniformly over ≤ 10 actions), the reward model beyond
DEFAULT_TAU = 10.0
UNBIASED = ("ips", "snips", "dr")
MODEL_BASED = ("dm", "switch-dr")


@dataclass(frozen=True, eq=False)
class OffPolicyEvaluation:
    """Estimates of one target policy's value (``UNBIASED`` then ``MODEL_BASED``), diagnostics, warnings."""

    rows: int
    estimates: tuple[Estimate, ...]
    diagnostics: WeightDiagnostics
    tau: float
    reward_model: str  # "cell means" (refit in each resample) or "given" (held fixed)
    resampling: Resampling

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.diagnostics.warnings()

    def estimate(self, name: str) -> Estimate:
        return {e.estimator: e for e in self.estimates}[name]

    def to_dict(self) -> dict[str, Any]:
        """``estimates``: IPS, SNIPS, DR; ``reward_model_estimates``: DM and switch-DR."""
        return {
            "rows": self.rows,
            "estimates": {e.estimator: e.to_dict() for e in self.estimates if e.estimator in UNBIASED},
            "reward_model_estimates": {e.estimator: e.to_dict() for e in self.estimates if e.estimator in MODEL_BASED},
            "reward_model": self.reward_model, "switch_tau": self.tau,
            "bootstrap": {"n_bootstrap": self.resampling.n_bootstrap, "seed": self.resampling.seed,
                          "level": self.resampling.level},
            "diagnostics": self.diagnostics.to_dict(), "warnings": list(self.warnings),
        }


def evaluate_target(log: LoggedData, target: np.ndarray, q_hat: RewardModel | None = None, *,
                    tau: float = DEFAULT_TAU, resampling: Resampling = DEFAULT_RESAMPLING) -> OffPolicyEvaluation:
    """IPS, SNIPS, DR, DM and switch-DR (threshold ``tau``) of the policy that plays action k on
    row i with probability ``target[i, k]`` ((n, K) with K = len(log.arms), or (K,) for every row).

    ``q_hat`` is the reward model: None for each action's logged mean reward, a ``CellMeans``
    for the mean per (group, action) — both refit in each bootstrap resample — or a (n, K) or
    (K,) array held fixed (fit it on other rows: its error is not in the intervals).
    """
    if np.shape(target)[-1:] != (len(log.arms),):
        raise InputError("target", np.shape(target), f"one column per action of the log ({len(log.arms)})")
    arrays = logged_arrays(log.reward, log.action, log.propensity, target)
    model = CellMeans() if q_hat is None else q_hat
    terms = [ips_terms(arrays), snips_terms(arrays), dr_terms(arrays, model), dm_terms(arrays, model),
             switch_dr_terms(arrays, model, tau)]
    return OffPolicyEvaluation(
        rows=arrays.n, estimates=estimate_all(terms, arrays.reward, resampling),
        diagnostics=weight_diagnostics(arrays.weights, arrays.action, arrays.target), tau=float(tau),
        reward_model="cell means" if isinstance(model, CellMeans) else "given",
        resampling=resampling,
    )
