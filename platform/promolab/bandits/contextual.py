"""Contextual bandits over offers: the interface every contextual policy shares.

A user is a context vector x = φ(user attributes), ``promolab.spec.encoding.encode`` (an
intercept column first), and a batch of users a matrix ``X`` of shape ``(..., n, d)``.
Each policy keeps an independent Gaussian belief N(θ̂ₖ, Σₖ) about a weight vector per arm
(the *disjoint* model of Li et al. 2010), given by ``posterior(state)``; so for one context
the arms' scores θₖᵀx are independent N(θ̂ₖᵀx, xᵀΣₖx) (``score_moments``).

- ``probabilities(state, X, rng)`` → ``(..., n, K)``: each arm's chance to be chosen for each
  context, exploration floor applied.
- ``choose(state, X, rng)`` → ``(..., n)``: one arm per context.
- ``update(state, X, arms, rewards)`` → the state after the batch's feedback.

Leading dimensions ``...`` are independent bandits (a simulator's runs): a state of batch
shape ``(R,)`` serves ``X`` of shape ``(R, n, d)``; one experiment uses batch shape ``()``.

Propensities for off-policy evaluation: the chance that user i got arm a is
``probabilities(state, X, rng)[..., i, a]``, from the same state that chose it. It is exact
for LinUCB (argmax, ties split, floor) and a ``draws``-sample estimate for Thompson sampling
(error ≤ 1/(2√draws)); log it with the choice.

States are frozen dataclasses of plain arrays: ``state.to_dict()`` is JSON-ready lists,
``policy.state_from_dict(data)`` validates and restores it; for array storage,
``np.savez(path, **vars(state))`` and ``type(state)(**np.load(path))``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import numpy as np

from promolab.bandits.base import ExplorationFloor, RandomLike, as_generator, check_int, sample_categorical
from promolab.bandits.thompson import MAX_POSTERIOR_DRAWS
from promolab.errors import InputError
from promolab.spec.features import MAX_DIM

# The smallest prior precision (ridge λ): A = λI + Σxxᵀ stays invertible in floating point
# and xᵀA⁻¹x ≤ |x|²/λ finite for any context; 1e-6 is far weaker than any useful prior.
MIN_PRECISION = 1e-6
# Floats one Monte-Carlo chunk of ``probabilities`` holds (draws × contexts × arms): 80 MB.
CHUNK_CELLS = 10_000_000
# Offers one contextual policy chooses among: promotions compare a handful; each holds d × d numbers.
MAX_ARMS = 1_000


S = TypeVar("S", bound="StateArrays")


@dataclass(frozen=True, eq=False)
class StateArrays:
    """The state of a contextual policy: ``n`` (..., K), users each arm learnt from, and
    per-arm vectors (..., K, d) and matrices (..., K, d, d), validated as they are built:
    one batch shape, K and d, finite, nₖ ≥ 0. ``TAILS`` gives each field's trailing axes."""

    n: np.ndarray
    TAILS: ClassVar[dict[str, int]]  # field → number of axes after the arm axis (each d long)
    DEFINITE: ClassVar[tuple[str, ...]] = ()  # matrix fields that must be positive definite, not only semi-

    def __post_init__(self) -> None:
        arrays = {f.name: np.asarray(getattr(self, f.name), dtype=float) for f in fields(self)}
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        n, vector = arrays["n"], arrays[next(k for k, t in self.TAILS.items() if t == 1)]
        d = vector.shape[-1] if vector.ndim else 0
        if n.ndim == 0 or d < 1 or any(arrays[k].shape != n.shape + (d,) * t for k, t in self.TAILS.items()):
            raise InputError("state", {k: v.shape for k, v in arrays.items()}, "arrays of shapes " + ", ".join(
                f"{k} (..., arms{', dim' * t})" for k, t in self.TAILS.items()))
        for name, value in arrays.items():
            if not np.all(np.isfinite(value)):
                raise InputError(f"state.{name}", "non-finite values", "finite numbers")
        if np.any(n < 0):
            raise InputError("state.n", float(n.min()), "counts >= 0")

    @property
    def n_arms(self) -> int:
        return self.n.shape[-1]

    @property
    def dim(self) -> int:
        return getattr(self, next(k for k, t in self.TAILS.items() if t == 1)).shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.n.shape[:-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested lists, one per field."""
        return {f.name: getattr(self, f.name).tolist() for f in fields(self)}

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any]) -> S:
        """The state ``to_dict`` wrote. Missing, unknown, ragged or non-numeric fields are named, and
        so are matrices that are not symmetric positive semi-definite (definite: ``DEFINITE``)."""
        names = [f.name for f in fields(cls)]
        if not isinstance(data, Mapping) or sorted(data) != sorted(names):
            raise InputError("state", sorted(data) if isinstance(data, Mapping) else data,
                             "a table with " + ", ".join(names))
        arrays = {}
        for name in names:
            try:
                arrays[name] = np.asarray(data[name], dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"state.{name}", "ragged or non-numeric", "a nested list of numbers") from None
        state = cls(**arrays)
        for name in (k for k, t in cls.TAILS.items() if t == 2):
            m = arrays[name]
            scale = 1e-9 * max(float(np.abs(m).max(initial=0.0)), 1.0)
            low = np.linalg.eigvalsh(m).min(initial=np.inf) if np.allclose(m, np.swapaxes(m, -1, -2)) else -np.inf
            if low <= (0.0 if name in cls.DEFINITE else -scale):
                kind = "definite" if name in cls.DEFINITE else "semi-definite"
                raise InputError(f"state.{name}", "not symmetric positive " + kind,
                                 f"symmetric positive {kind} matrices")
        return state


def one_hot(arms: np.ndarray, n_arms: int) -> np.ndarray:
    """(..., n) arm indices → (..., n, K) indicators as floats."""
    return (arms[..., None] == np.arange(n_arms)).astype(float)


def weighted_sum(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Σₙ wₙₖ xₙ per arm: (..., n, K), (..., n, d) → (..., K, d)."""
    return np.matmul(np.swapaxes(w, -1, -2), X)


def weighted_gram(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Σₙ wₙₖ xₙxₙᵀ per arm: (..., n, K), (..., n, d) → (..., K, d, d), one batched matmul."""
    k, d = w.shape[-1], X.shape[-1]
    wx = (w[..., :, :, None] * X[..., :, None, :]).reshape(w.shape[:-1] + (k * d,))
    return np.matmul(np.swapaxes(wx, -1, -2), X).reshape(wx.shape[:-2] + (k, d, d))


def check_contexts(state: StateArrays, X: Any) -> np.ndarray:
    """``X`` as floats of shape (..., n, d) with the state's d, finite; else an error naming ``X``."""
    dim = state.dim
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise InputError("X", "non-numeric", f"context vectors of {dim} numbers") from None
    if X.ndim < 2 or X.shape[-1] != dim:
        raise InputError("X", X.shape, f"context vectors of shape (..., users, {dim})")
    if not np.all(np.isfinite(X)):
        raise InputError("X", "non-finite values", "finite encoded contexts")
    return X


def check_feedback(state: StateArrays, X: Any, arms: Any, rewards: Any,
                   reward_range: tuple[float, float] = (-np.inf, np.inf)) -> tuple[np.ndarray, ...]:
    """Contexts (..., n, d), arm indices (..., n) in [0, K) and finite rewards (..., n) in ``reward_range``."""
    X = check_contexts(state, X)
    arms, rewards = np.asarray(arms), np.asarray(rewards)
    k = state.n_arms
    if arms.shape != X.shape[:-1] or arms.dtype.kind not in "iu" or np.any(arms < 0) or np.any(arms >= k):
        raise InputError("arms", arms.shape if arms.shape != X.shape[:-1] else arms.dtype.str,
                         f"arm indices in [0, {k}) of shape {X.shape[:-1]}")
    try:
        rewards = rewards.astype(float)
    except (TypeError, ValueError):
        raise InputError("rewards", "non-numeric", "numbers") from None
    low, high = reward_range
    if rewards.shape != X.shape[:-1] or not np.all(np.isfinite(rewards)) \
            or np.any(rewards < low) or np.any(rewards > high):
        bounds = "finite numbers" if np.isinf(low) else f"numbers in [{low:g}, {high:g}]"
        raise InputError("rewards", rewards.shape if rewards.shape != X.shape[:-1] else "out of range",
                         f"{bounds} of shape {X.shape[:-1]}")
    return X, arms, rewards


def check_shape(n_arms: int, dim: int) -> None:
    """Arms and context dimension of a new state, each bounded (they size every array)."""
    check_int("arms", n_arms, 1, MAX_ARMS)
    check_int("dim", dim, 1, MAX_DIM)


@dataclass(frozen=True, kw_only=True)
class ContextualPolicy(ExplorationFloor, ABC):
    """A contextual policy: pure functions of a per-arm state and the users' contexts."""

    bernoulli_only: ClassVar[bool] = False  # learns from rewards in [0, 1] only (a conversion)

    @abstractmethod
    def empty_state(self, n_arms: int, dim: int, batch_shape: tuple[int, ...] = ()) -> StateArrays:
        """The state before any feedback (the prior), batch shape ``batch_shape``."""

    @abstractmethod
    def state_from_dict(self, data: Mapping[str, Any]) -> StateArrays:
        """A state written by ``state.to_dict()``, validated."""

    @abstractmethod
    def posterior(self, state: StateArrays) -> tuple[np.ndarray, np.ndarray]:
        """Per-arm belief about θ: mean (..., K, d) and covariance (..., K, d, d)."""

    @abstractmethod
    def update(self, state: StateArrays, X: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> StateArrays:
        """The state after users X (..., n, d) were shown ``arms`` (..., n) and gave ``rewards`` (..., n)."""

    @abstractmethod
    def weights(self, state: StateArrays, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Selection probabilities per context before the floor, (..., n, K)."""

    def score_moments(self, state: StateArrays, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean θ̂ₖᵀx and standard deviation √(xᵀΣₖx) of every arm's score, each (..., n, K)."""
        mean, cov = self.posterior(state)
        mu = np.einsum("...kd,...nd->...nk", mean, X)
        var = np.einsum("...nkd,...nd->...nk", np.einsum("...kde,...ne->...nkd", cov, X), X)
        return mu, np.sqrt(np.maximum(var, 0.0))

    def probabilities(self, state: StateArrays, X: np.ndarray, rng: RandomLike = None) -> np.ndarray:
        """Each arm's chance to be chosen for each context, (..., n, K), floor applied."""
        return self._floored(self.weights(state, check_contexts(state, X), as_generator(rng)))

    def choose(self, state: StateArrays, X: np.ndarray, rng: RandomLike = None) -> np.ndarray:
        """One arm per context, (..., n)."""
        rng = as_generator(rng)
        return sample_categorical(self.probabilities(state, X, rng), rng, 1)[0]

    def probability_draws(self, n_arms: int, dim: int) -> int:
        """Work of ``probabilities`` per context (multiply-adds and draws); bounds callers' totals."""
        return n_arms * dim * dim


@dataclass(frozen=True, kw_only=True)
class ContextualThompson(ContextualPolicy):
    """Thompson sampling on the arms' scores: draw θ̃ₖ from each arm's posterior and play the
    arm whose sampled model pays most, ``payoff(θ̃ₖᵀx)`` (Thompson 1933).

    Only θ̃ₖᵀx matters, and for one context it is N(θ̂ₖᵀx, xᵀΣₖx) independently over arms, so
    ``draw_scores`` draws it directly: the same distribution as drawing θ̃ₖ, with K numbers per
    user instead of K·d. ``choose`` takes one draw per user (exact Thompson sampling);
    ``probabilities`` is the share of ``draws`` draws in which each arm wins.
    """

    draws: int = 1_000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("draws", self.draws, 1, MAX_POSTERIOR_DRAWS)

    def payoff(self, scores: np.ndarray) -> np.ndarray:
        """Expected reward of each arm under a sampled model with these scores (..., K)."""
        return scores

    def draw_scores(self, state: StateArrays, X: np.ndarray, rng: RandomLike = None) -> np.ndarray:
        """One posterior draw of every arm's score θ̃ₖᵀx per context, (..., n, K)."""
        mu, sd = self.score_moments(state, check_contexts(state, X))
        return mu + sd * as_generator(rng).standard_normal(mu.shape)

    def weights(self, state: StateArrays, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu, sd = self.score_moments(state, X)
        k = mu.shape[-1]
        wins = np.zeros(mu.shape)
        chunk = max(1, CHUNK_CELLS // max(mu.size, 1))
        for start in range(0, self.draws, chunk):
            scores = mu + sd * rng.standard_normal((min(chunk, self.draws - start),) + mu.shape)
            wins += (np.argmax(self.payoff(scores), axis=-1)[..., None] == np.arange(k)).sum(axis=0)
        return wins / self.draws

    def choose(self, state: StateArrays, X: np.ndarray, rng: RandomLike = None) -> np.ndarray:
        rng = as_generator(rng)
        scores = self.draw_scores(state, X, rng)
        return self._explore(np.argmax(self.payoff(scores), axis=-1), scores.shape[-1], rng)

    def probability_draws(self, n_arms: int, dim: int) -> int:
        return n_arms * (dim * dim + self.draws)
