"""Index policies: UCB1 (Auer, Cesa-Bianchi & Fischer 2002) and KL-UCB (Garivier & Cappé 2011)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from promolab.bandits.base import MAX_PARAM, Policy, RandomLike, argmax_choice, argmax_share, as_generator, check_range
from promolab.bandits.state import ArmState

_EPS = 1e-12


def bernoulli_kl(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray:
    """KL(Bern(p) ‖ Bern(q)) = p ln(p/q) + (1 − p) ln((1 − p)/(1 − q))."""
    p = np.clip(p, _EPS, 1 - _EPS)
    q = np.clip(q, _EPS, 1 - _EPS)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


@dataclass(frozen=True, kw_only=True)
class IndexPolicy(Policy):
    """Play the arm with the largest index; arms never played come first, ties split evenly."""

    @abstractmethod
    def index(self, state: ArmState) -> np.ndarray:
        """The index of every arm, as a new array (any value where an arm has no data)."""

    def _ranked(self, state: ArmState) -> np.ndarray:
        ranked = self.index(state)
        ranked[state.n == 0] = np.inf
        return ranked

    def weights(self, state: ArmState, rng: np.random.Generator) -> np.ndarray:
        return argmax_share(self._ranked(state))

    def choose(self, state: ArmState, rng: RandomLike, size: int) -> np.ndarray:
        """Without a floor, the argmax arm for every user, drawing only where arms tie (the
        distribution of sampling ``weights``); with one, by the floored weights."""
        if self.floor > 0.0:
            return super().choose(state, rng, size)
        return argmax_choice(self._ranked(state), as_generator(rng), size)


@dataclass(frozen=True, kw_only=True)
class UCB1(IndexPolicy):
    """UCB1: play argmax  x̄ₖ + b·√(2 ln t / nₖ)  for rewards in [0, b] (b = ``reward_range``)."""

    name: ClassVar[str] = "ucb1"
    reward_range: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("reward_range", self.reward_range, 0.0, MAX_PARAM, open_low=True)

    def index(self, state: ArmState) -> np.ndarray:
        t = np.maximum(state.n.sum(axis=-1, keepdims=True), 1.0)
        n = np.maximum(state.n, 1.0)  # arms without data need no index: any finite value will do
        index = np.divide(2.0 * np.log(t), n)  # then in place: one array for the index
        np.sqrt(index, out=index)
        index *= self.reward_range
        index += state.sum / n
        return index


@dataclass(frozen=True, kw_only=True)
class KLUCB(IndexPolicy):
    """KL-UCB for Bernoulli rewards: play argmax of
    max{q ∈ [x̄ₖ, 1] : nₖ·KL(x̄ₖ, q) ≤ ln t + c·ln ln t}.
    c = 0 is the variant Garivier & Cappé recommend in practice (c = 3 in their theorem).
    """

    name: ClassVar[str] = "kl-ucb"
    bernoulli_only: ClassVar[bool] = True
    c: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("c", self.c, 0.0, MAX_PARAM)

    def index(self, state: ArmState) -> np.ndarray:
        t = np.maximum(state.total, 1.0)[..., None]
        budget = np.log(t) + self.c * np.log(np.maximum(np.log(t), 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            bound = np.where(state.n > 0, budget / state.n, 0.0)
        return kl_upper_bound(np.nan_to_num(state.mean), bound)


def kl_upper_bound(p: np.ndarray, bound: np.ndarray, iterations: int = 16) -> np.ndarray:
    """max{q ∈ [p, 1] : KL(p, q) ≤ bound}, by bisection on [p, min(1, p + √(bound/2))]
    (Pinsker: KL(p, q) ≥ 2(q − p)², so the root lies in that bracket).
    """
    p = np.clip(p, _EPS, 1 - _EPS)
    neg_entropy = p * np.log(p) + (1 - p) * np.log(1 - p)
    low, high = p, np.minimum(p + np.sqrt(bound / 2), 1 - _EPS)
    for _ in range(iterations):
        mid = (low + high) / 2
        over = neg_entropy - p * np.log(mid) - (1 - p) * np.log(1 - mid) > bound
        high = np.where(over, mid, high)
        low = np.where(over, low, mid)
    return high
