"""Off-policy estimators of a target policy's value from logged bandit feedback.

Definitions follow Open Bandit Pipeline (``obp.ope.estimators``), with importance
weight wᵢ = π_e(aᵢ|xᵢ) / π_b(aᵢ|xᵢ) and q̂ a reward model:

- IPS   (Strehl et al. 2010):          V = (1/n) Σ wᵢ rᵢ
- SNIPS (Swaminathan & Joachims 2015): V = Σ wᵢ rᵢ / Σ wᵢ
- DR    (Dudík et al. 2014):           V = (1/n) Σ [Σₐ π_e(a|xᵢ) q̂(xᵢ, a) + wᵢ (rᵢ − q̂(xᵢ, aᵢ))]

Confidence intervals are normal-approximation intervals on the per-row terms (for SNIPS,
on its delta-method influence function wᵢ(rᵢ − V)/w̄); OBP bootstraps the same terms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from promolab.errors import InputError

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A policy-value estimate with its standard error and a 95 % confidence interval."""

    estimator: str
    value: float
    se: float
    lower: float
    upper: float
    n: int

    @classmethod
    def normal(cls, estimator: str, value: float, se: float, n: int) -> Estimate:
        """``value`` ± z·``se`` with z the normal quantile for ``LEVEL``."""
        z = norm.ppf(0.5 + LEVEL / 2)
        return cls(estimator, float(value), float(se), float(value - z * se), float(value + z * se), n)

    @classmethod
    def from_terms(cls, estimator: str, value: float, terms: np.ndarray) -> Estimate:
        """``value`` with the standard error of the mean of per-row ``terms``."""
        n = terms.size
        return cls.normal(estimator, value, terms.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan, n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_propensity(propensity: np.ndarray, field: str = "propensity", source: str | None = None) -> np.ndarray:
    """Logging probabilities must lie in (0, 1]; the error names the first bad row."""
    propensity = np.asarray(propensity, dtype=float)
    bad = np.flatnonzero(~((propensity > 0) & (propensity <= 1)))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"{field}[row {row}]", float(propensity[row]), "a logging probability in (0, 1]",
                         source=source)
    return propensity


def importance_weights(action: np.ndarray, propensity: np.ndarray, target: np.ndarray) -> np.ndarray:
    """wᵢ = π_e(aᵢ) / π_b(aᵢ); ``target`` is (n, K) or one (K,) distribution for every row."""
    target = np.broadcast_to(target, (action.size, np.shape(target)[-1]))
    return target[np.arange(action.size), action] / check_propensity(propensity)


def ips(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray) -> Estimate:
    terms = importance_weights(action, propensity, target) * reward
    return Estimate.from_terms("ips", terms.mean(), terms)


def snips(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray) -> Estimate:
    w = importance_weights(action, propensity, target)
    value = float((w * reward).sum() / w.sum())
    return Estimate.from_terms("snips", value, w * (reward - value) / w.mean() + value)


def doubly_robust(
    reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray, q_hat: np.ndarray
) -> Estimate:
    """``q_hat``: estimated reward of every arm, (n, K) or (K,) for a context-free model."""
    n, k = action.size, np.shape(target)[-1]
    target = np.broadcast_to(target, (n, k))
    q_hat = np.broadcast_to(q_hat, (n, k))
    w = importance_weights(action, propensity, target)
    terms = (target * q_hat).sum(axis=1) + w * (reward - q_hat[np.arange(n), action])
    return Estimate.from_terms("dr", terms.mean(), terms)


def arm_means(reward: np.ndarray, action: np.ndarray, n_arms: int) -> np.ndarray:
    """The context-free reward model q̂(a): the logged mean reward of each arm (0 if unseen)."""
    n = np.bincount(action, minlength=n_arms)
    return np.bincount(action, weights=reward, minlength=n_arms) / np.maximum(n, 1)
