"""Per-arm sufficient statistics, the whole state a context-free bandit policy needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promolab.errors import InputError
from promolab.stats.sufficient import MeanStats


@dataclass(frozen=True, eq=False)
class ArmState:
    """n, Σr and Σr² per arm, as float arrays of shape ``(..., K)``.

    Leading dimensions are independent bandits (a simulator keeps one per run);
    a single experiment uses shape ``(K,)``. States add, like ``MeanStats``.
    """

    n: np.ndarray
    sum: np.ndarray
    sum_sq: np.ndarray

    def __post_init__(self) -> None:
        for name in ("n", "sum", "sum_sq"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        if not self.n.shape == self.sum.shape == self.sum_sq.shape or self.n.ndim == 0:
            raise InputError("state", (self.n.shape, self.sum.shape, self.sum_sq.shape),
                             "n, sum and sum_sq of one shape (..., arms)")
        if np.any(self.n < 0):
            raise InputError("state.n", self.n.min(), "counts >= 0")

    @classmethod
    def empty(cls, n_arms: int, batch_shape: tuple[int, ...] = ()) -> ArmState:
        """The state before any feedback: zeros of shape ``batch_shape + (n_arms,)``."""
        if n_arms < 1:
            raise InputError("arms", n_arms, "at least 1 arm")
        zeros = np.zeros(batch_shape + (n_arms,))
        return cls(zeros, zeros.copy(), zeros.copy())

    @classmethod
    def from_rewards(cls, arms: np.ndarray, rewards: np.ndarray, n_arms: int) -> ArmState:
        """Aggregate one reward per row (``arms`` holds arm indices 0..K-1)."""
        arms = np.asarray(arms, dtype=int)
        rewards = np.asarray(rewards, dtype=float)
        return cls(
            np.bincount(arms, minlength=n_arms),
            np.bincount(arms, weights=rewards, minlength=n_arms),
            np.bincount(arms, weights=rewards * rewards, minlength=n_arms),
        )

    @classmethod
    def from_mean_stats(cls, stats: Sequence[MeanStats]) -> ArmState:
        """One arm per ``MeanStats`` (what SQL aggregates return), in arm order."""
        return cls(
            np.array([s.n for s in stats]), np.array([s.sum for s in stats]), np.array([s.sum_sq for s in stats])
        )

    def update(self, n: np.ndarray, sum: np.ndarray, sum_sq: np.ndarray) -> ArmState:
        """The state after new feedback: statistics add."""
        return ArmState(self.n + n, self.sum + sum, self.sum_sq + sum_sq)

    def __add__(self, other: ArmState) -> ArmState:
        return self.update(other.n, other.sum, other.sum_sq)

    @property
    def n_arms(self) -> int:
        return self.n.shape[-1]

    @property
    def total(self) -> np.ndarray:
        """Total pulls t per bandit, shape ``(...)``."""
        return self.n.sum(axis=-1)

    @property
    def mean(self) -> np.ndarray:
        """Empirical mean reward per arm; NaN where an arm has no data."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self.sum / np.maximum(self.n, 1), np.nan)
