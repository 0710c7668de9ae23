"""The policy interface and the helpers every policy shares (ties, floor, sampling)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from promolab.bandits.state import ArmState
from promolab.errors import InputError

RandomLike = np.random.Generator | int | np.random.SeedSequence | None


def as_generator(rng: RandomLike) -> np.random.Generator:
    """A numpy Generator from a Generator, a seed, a SeedSequence or None."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _maxima(values: np.ndarray) -> np.ndarray:
    """Where each row's maximum along the last axis is, as a boolean mask (NaN never wins)."""
    best = values.max(axis=-1, keepdims=True)
    if np.isnan(best).any():  # only then pay for replacing NaN
        values = np.where(np.isnan(values), -np.inf, values)
        best = values.max(axis=-1, keepdims=True)
    return values == best


def argmax_share(values: np.ndarray) -> np.ndarray:
    """One-hot argmax along the last axis, ties split evenly (NaN never wins)."""
    top = _maxima(values)
    return top / top.sum(axis=-1, keepdims=True)


def argmax_choice(values: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws from each row of ``argmax_share(values)`` → shape (size, ...): the argmax
    for every draw, and a uniform pick among the tied maxima only in rows where they tie (the
    distribution of sampling the one-hot weights, without a random number per row and draw)."""
    top = _maxima(values)
    k = values.shape[-1]
    # one product per row: K · (number of maxima) + (sum of their indices), K + the argmax if untied
    code = top.dot(np.arange(k, 2 * k, dtype=float))
    arms = (code - k).astype(np.intp)[np.newaxis].repeat(size, axis=0)
    tied = (code.reshape(-1) >= 2 * k).nonzero()[0]
    if tied.size:
        arms.reshape(size, -1)[:, tied] = sample_categorical(top.reshape(-1, k)[tied], rng, size)
    return arms


def sample_categorical(p: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` independent draws from each row of ``p`` (shape (..., K)) → shape (size, ...)."""
    cdf = p.cumsum(axis=-1)
    u = rng.random((size,) + p.shape[:-1])[..., None] * cdf[..., -1:]
    return np.minimum((u >= cdf).sum(axis=-1), p.shape[-1] - 1)


def check_range(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    """Raise ``InputError`` unless ``low <= value <= high`` (``low < value`` if ``open_low``).

    NaN and booleans never pass; infinities pass only where a bound is infinite (none of the
    policies' parameters has one: every parameter is bounded, see ``MAX_PARAM``).
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise InputError(name, value, f"a number in {bracket}{_bound(low)}, {_bound(high)}]")


def _bound(x: float) -> str:
    """0.0 and 1.0 as written; 1e12 as 1e+12 rather than 1000000000000.0."""
    return str(x) if abs(x) < 1e6 else f"{x:g}"


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Raise ``InputError`` unless ``value`` is an integer (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(name, value, f"an integer in [{low}, {high}]")
    return int(value)


# A finite cap for scale-like policy parameters (prior pseudo-counts and scales, UCB's reward
# range, ε-greedy's decay): far beyond any meaningful value (order values are capped at 1e12 in
# scenarios too), but finite, so inf never reaches the arithmetic and turns weights into NaN.
MAX_PARAM = 1e12


@dataclass(frozen=True, kw_only=True)
class ExplorationFloor:
    """What every policy shares, context-free or contextual: the minimum-exploration share
    ``floor`` per arm, and the parameters that rebuild it.

    The policy's weights ``w`` become ``floor + (1 − K·floor)·w``, so every arm keeps at least
    ``floor``; a sampled choice is replaced by a uniform arm with probability K·floor.
    """

    name: ClassVar[str]
    floor: float = 0.0

    def __post_init__(self) -> None:
        check_range("floor", self.floor, 0.0, 1.0)
        if self.floor >= 1.0:
            raise InputError("floor", self.floor, "a share below 1 / number of arms")

    def params(self) -> dict[str, Any]:
        """The parameters that rebuild this policy from its registry (``make_policy`` and kin)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params()}

    def _floored(self, w: np.ndarray) -> np.ndarray:
        if self.floor == 0.0:
            return w
        k = w.shape[-1]
        if self.floor * k > 1.0:
            raise InputError("floor", self.floor, f"at most 1/{k} with {k} arms")
        return self.floor + (1.0 - k * self.floor) * w

    def _explore(self, arms: np.ndarray, n_arms: int, rng: np.random.Generator) -> np.ndarray:
        """Replace each choice by a uniform arm with probability K·floor (the floor, per user)."""
        if self.floor == 0.0:
            return arms
        self._floored(np.zeros(n_arms))  # validates floor·K <= 1
        explore = rng.random(arms.shape) < self.floor * n_arms
        return np.where(explore, rng.integers(n_arms, size=arms.shape), arms)


@dataclass(frozen=True, kw_only=True)
class Policy(ExplorationFloor, ABC):
    """A context-free bandit policy: pure functions of the per-arm ``ArmState``.

    ``floor`` is the minimum-exploration share per arm (``ExplorationFloor``).
    """

    bernoulli_only: ClassVar[bool] = False

    @abstractmethod
    def weights(self, state: ArmState, rng: np.random.Generator) -> np.ndarray:
        """The policy's own selection probabilities before the exploration floor."""

    def probabilities(self, state: ArmState, rng: RandomLike = None) -> np.ndarray:
        """Selection probabilities for the next batch, shape ``(..., K)``, floor applied."""
        return self._floored(self.weights(state, as_generator(rng)))

    def choose(self, state: ArmState, rng: RandomLike, size: int) -> np.ndarray:
        """Arm indices for the next ``size`` users of each bandit, shape ``(size, ...)``."""
        rng = as_generator(rng)
        return sample_categorical(self.probabilities(state, rng), rng, size)

    def probability_draws(self, n_arms: int) -> int:
        """Work of one ``probabilities`` call per bandit, in random draws or arm comparisons.

        Callers that evaluate the policy many times (replay, OPE) bound their total work with it.
        """
        return n_arms
