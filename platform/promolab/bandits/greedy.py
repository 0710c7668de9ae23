"""Epsilon-greedy with a decaying exploration rate (Sutton & Barto 2018, §2.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from promolab.bandits.base import MAX_PARAM, Policy, argmax_share, check_range
from promolab.bandits.state import ArmState


@dataclass(frozen=True, kw_only=True)
class EpsilonGreedy(Policy):
    """Explore uniformly with probability εₜ = ε / (1 + decay·t), else play the best mean.

    Arms never played count as best (each is tried once). Weights:
    εₜ/K + (1 − εₜ)·[k is greedy], ties split evenly; decay = 0 keeps ε fixed.
    """

    name: ClassVar[str] = "epsilon-greedy"
    epsilon: float = 0.1
    decay: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("epsilon", self.epsilon, 0.0, 1.0)
        check_range("decay", self.decay, 0.0, MAX_PARAM)

    def epsilon_at(self, t: np.ndarray | float) -> np.ndarray:
        return self.epsilon / (1.0 + self.decay * np.asarray(t, dtype=float))

    def weights(self, state: ArmState, rng: np.random.Generator) -> np.ndarray:
        eps = self.epsilon_at(state.total)[..., None]
        greedy = argmax_share(np.where(state.n > 0, state.mean, np.inf))
        return eps / state.n_arms + (1.0 - eps) * greedy
