"""Importance-weight diagnostics every off-policy estimate needs, and the warnings they raise.

- ESS = (Σwᵢ)² / Σwᵢ² (Kong 1992; Owen 2013, "Monte Carlo theory, methods and examples",
  §9.3): how many rows the weighted estimate is worth. Warned below ``MIN_ESS`` rows or
  below ``MIN_ESS_SHARE`` of the log: the intervals then rest on a handful of rows.
- Mean weight: E_b[w] = Σₐ π_e(a|x) = 1 when the propensities are right and π_b > 0 wherever
  π_e > 0. Warned when it is off by more than ``MEAN_WEIGHT_TOLERANCE`` and by more than
  ``MEAN_WEIGHT_Z`` standard errors: a sign of mismatched (e.g. rounded, or another
  policy's) propensities, or of a target that plays actions logging never did.
- Share of rows where the target gives the logged action probability 0 (they add nothing to
  IPS), and share of rows where it puts mass on an action never logged (no estimator but the
  reward model sees those: IPS and SNIPS are biased, DR leans on q̂). Warned when above 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_ESS = 100
MIN_ESS_SHARE = 0.01
MEAN_WEIGHT_TOLERANCE = 0.1
MEAN_WEIGHT_Z = 3.0


@dataclass(frozen=True)
class WeightDiagnostics:
    rows: int
    ess: float
    ess_share: float
    max_weight: float
    mean_weight: float
    mean_weight_se: float
    zero_target_share: float       # rows with π_e(aᵢ|xᵢ) = 0
    unlogged_support_share: float  # rows with π_e(a|xᵢ) > 0 for an action a never logged

    def warnings(self) -> tuple[str, ...]:
        found = []
        if self.ess < MIN_ESS or self.ess_share < MIN_ESS_SHARE:
            found.append(f"effective sample size {self.ess:,.1f} ({self.ess_share:.2%} of {self.rows:,} rows) is "
                         f"below {MIN_ESS} rows or {MIN_ESS_SHARE:.0%} of the log: the target rarely plays what was "
                         "logged, so the estimates and intervals rest on a few heavily weighted rows")
        off = abs(self.mean_weight - 1)
        if off > MEAN_WEIGHT_TOLERANCE and off > MEAN_WEIGHT_Z * self.mean_weight_se:
            found.append(f"mean importance weight {self.mean_weight:.3g} is far from 1 (± {self.mean_weight_se:.2g}): "
                         "check the propensity column (it should be the logging probability of the logged action) "
                         "and that the target only plays actions logging could play")
        if self.unlogged_support_share > 0:
            found.append(f"on {self.unlogged_support_share:.2%} of rows the target plays actions never logged: "
                         "IPS and SNIPS cannot see them (biased), DR and DM rely on the reward model there")
        return tuple(found)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weight_diagnostics(weights: np.ndarray, action: np.ndarray, target: np.ndarray) -> WeightDiagnostics:
    """Diagnostics of importance ``weights`` wᵢ for a (n, K) ``target`` on logged ``action``s."""
    n = weights.size
    total, squares = weights.sum(), weights @ weights
    ess = float(total * total / squares) if squares > 0 else 0.0
    unlogged = np.bincount(action, minlength=target.shape[1]) == 0
    return WeightDiagnostics(
        rows=n, ess=ess, ess_share=ess / n, max_weight=float(weights.max()), mean_weight=float(weights.mean()),
        mean_weight_se=float(weights.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf,
        zero_target_share=float(np.mean(target[np.arange(n), action] == 0)),
        unlogged_support_share=float(np.mean((target[:, unlogged] > 0).any(axis=1))),
    )
