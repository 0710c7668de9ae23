"""Inverse-propensity-weighted means from additive sufficient statistics.

With logged propensities pᵢ (the probability the adaptive policy gave user i the variant
they got), the mean reward had *every* user got variant k is estimated by the
self-normalised IPS estimator (Swaminathan & Joachims 2015):

    V̂ₖ = Σ wᵢ rᵢ / Σ wᵢ,   wᵢ = 1[aᵢ = k] / pᵢ

with the delta-method (influence-function) standard error
se² = Σ wᵢ² (rᵢ − V̂ₖ)² / (Σ wᵢ)² = (S_w²r² − 2V̂ S_w²r + V̂² S_w²) / S_w², and Kish's effective
sample size (Σw)² / Σw². The sums add across batches and SQL groups, like ``MeanStats``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from promolab.errors import InputError
from promolab.stats.frequentist import two_sided_z


@dataclass(frozen=True)
class WeightedStats:
    """n, Σw, Σwr, Σw², Σw²r, Σw²r² of the users who got one variant (w = 1 / propensity)."""

    n: int
    sum_w: float
    sum_wr: float
    sum_w2: float
    sum_w2r: float
    sum_w2r2: float

    @classmethod
    def of(cls, reward: np.ndarray, propensity: np.ndarray) -> WeightedStats:
        reward = np.asarray(reward, dtype=float)
        propensity = np.asarray(propensity, dtype=float)
        bad = np.flatnonzero(~((propensity > 0) & (propensity <= 1)))
        if bad.size:
            raise InputError(f"propensity[row {int(bad[0])}]", float(propensity[bad[0]]), "a probability in (0, 1]")
        w = 1.0 / propensity
        return cls(int(reward.size), float(w.sum()), float(w @ reward), float(w @ w), float((w * w) @ reward),
                   float((w * w) @ (reward * reward)))

    def __add__(self, other: WeightedStats) -> WeightedStats:
        return WeightedStats(self.n + other.n, self.sum_w + other.sum_w, self.sum_wr + other.sum_wr,
                             self.sum_w2 + other.sum_w2, self.sum_w2r + other.sum_w2r, self.sum_w2r2 + other.sum_w2r2)


@dataclass(frozen=True)
class WeightedMean:
    """V̂ with its standard error, a (1 − alpha) normal interval, n and the effective sample size."""

    value: float
    se: float
    lower: float
    upper: float
    n: int
    effective_n: float


def snips_mean(stats: WeightedStats, alpha: float = 0.05) -> WeightedMean | None:
    """The self-normalised IPS mean of one variant's reward (None without users)."""
    if stats.n == 0 or stats.sum_w <= 0:
        return None
    v = stats.sum_wr / stats.sum_w
    # Σw²(r − V̂)² from the sums; a result within the sums' rounding error is 0 (all rewards equal)
    scale = stats.sum_w2r2 + v * v * stats.sum_w2
    spread = stats.sum_w2r2 - 2 * v * stats.sum_w2r + v * v * stats.sum_w2
    var = (spread if spread > 64 * sys.float_info.epsilon * scale else 0.0) / stats.sum_w**2
    se = math.sqrt(var)
    z = two_sided_z(alpha)
    return WeightedMean(v, se, v - z * se, v + z * se, stats.n, stats.sum_w**2 / stats.sum_w2)
