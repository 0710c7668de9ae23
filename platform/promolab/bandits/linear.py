"""Linear contextual bandits on per-arm ridge regressions: LinUCB (Li, Chu, Langford &
Schapire 2010) and linear Thompson sampling (Agrawal & Goyal 2013)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from promolab.bandits.base import MAX_PARAM, argmax_share, check_range
from promolab.bandits.contextual import (MIN_PRECISION, ContextualPolicy, ContextualThompson, StateArrays,
                                         check_feedback, check_shape, one_hot, weighted_gram, weighted_sum)


@dataclass(frozen=True, eq=False)
class LinearState(StateArrays):
    """Additive sufficient statistics of one ridge regression per arm, from the users it served:
    nₖ (..., K), Σxxᵀ as ``xx`` (..., K, d, d) and Σr·x as ``xr`` (..., K, d).

    The design matrix of the papers is Aₖ = λI + xxₖ and bₖ = xrₖ; λ belongs to the policy,
    so one state serves any λ. States add: the state of two batches is the sum of theirs.
    """

    xx: np.ndarray
    xr: np.ndarray
    TAILS: ClassVar[dict[str, int]] = {"n": 0, "xx": 2, "xr": 1}

    @classmethod
    def empty(cls, n_arms: int, dim: int, batch_shape: tuple[int, ...] = ()) -> LinearState:
        check_shape(n_arms, dim)
        shape = tuple(batch_shape) + (n_arms,)
        return cls(np.zeros(shape), np.zeros(shape + (dim, dim)), np.zeros(shape + (dim,)))

    @classmethod
    def of_batch(cls, X: np.ndarray, arms: np.ndarray, rewards: np.ndarray, n_arms: int) -> LinearState:
        """The statistics of one batch: users X (..., n, d) shown ``arms`` (..., n) with ``rewards``."""
        w = one_hot(arms, n_arms)
        return cls(w.sum(axis=-2), weighted_gram(w, X), weighted_sum(w * rewards[..., None], X))

    def __add__(self, other: LinearState) -> LinearState:
        return LinearState(self.n + other.n, self.xx + other.xx, self.xr + other.xr)


@dataclass(frozen=True, kw_only=True)
class RidgePolicy(ContextualPolicy):
    """A policy on per-arm ridge regressions: Aₖ = λI + Σxxᵀ (λ = ``l2``), θ̂ₖ = Aₖ⁻¹Σr·x."""

    l2: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("l2", self.l2, MIN_PRECISION, MAX_PARAM)

    def empty_state(self, n_arms: int, dim: int, batch_shape: tuple[int, ...] = ()) -> LinearState:
        return LinearState.empty(n_arms, dim, batch_shape)

    def state_from_dict(self, data: Mapping[str, Any]) -> LinearState:
        return LinearState.from_dict(data)

    def ridge(self, state: LinearState) -> tuple[np.ndarray, np.ndarray]:
        """θ̂ (..., K, d) and A⁻¹ (..., K, d, d)."""
        a_inv = np.linalg.inv(self.l2 * np.eye(state.dim) + state.xx)
        return np.einsum("...ij,...j->...i", a_inv, state.xr), a_inv

    def update(self, state: LinearState, X: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> LinearState:
        X, arms, rewards = check_feedback(state, X, arms, rewards)
        return state + LinearState.of_batch(X, arms, rewards, state.n_arms)


@dataclass(frozen=True, kw_only=True)
class LinUCB(RidgePolicy):
    """LinUCB with disjoint linear models (Li, Chu, Langford & Schapire 2010, "A contextual-bandit
    approach to personalized news article recommendation", Algorithm 1).

    Play argmaxₖ θ̂ₖᵀx + α√(xᵀAₖ⁻¹x), ties split evenly; α = ``alpha`` widens the confidence
    bound (their α = 1 + √(ln(2/δ)/2) for confidence 1 − δ), λ = ``l2`` (their λ = 1).
    """

    name: ClassVar[str] = "linucb"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("alpha", self.alpha, 0.0, MAX_PARAM)

    def posterior(self, state: LinearState) -> tuple[np.ndarray, np.ndarray]:
        return self.ridge(state)

    def weights(self, state: LinearState, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu, sd = self.score_moments(state, X)
        return argmax_share(mu + self.alpha * sd)


@dataclass(frozen=True, kw_only=True)
class LinearThompson(RidgePolicy, ContextualThompson):
    """Linear Thompson sampling (Agrawal & Goyal 2013, "Thompson sampling for contextual bandits
    with linear payoffs"): draw θ̃ₖ ~ N(θ̂ₖ, v²Aₖ⁻¹) and play argmaxₖ θ̃ₖᵀx.

    v = ``v`` scales exploration (their v = R√(24/ε · d ln(1/δ)) for R-sub-Gaussian rewards;
    MABWiser's LinTS ``alpha``); λ = ``l2`` (theirs: 1).
    """

    name: ClassVar[str] = "lin-ts"
    v: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("v", self.v, 0.0, MAX_PARAM)

    def posterior(self, state: LinearState) -> tuple[np.ndarray, np.ndarray]:
        theta, a_inv = self.ridge(state)
        return theta, self.v**2 * a_inv
