"""Logistic Thompson sampling with a Laplace approximation (Chapelle & Li 2011, "An empirical
evaluation of Thompson sampling", Algorithm 3), for conversions (rewards in [0, 1])."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit

from promolab.bandits.base import MAX_PARAM, check_range
from promolab.bandits.contextual import (MIN_PRECISION, ContextualThompson, StateArrays, check_feedback, check_shape,
                                         one_hot, weighted_gram, weighted_sum)
from promolab.errors import InputError

COVARIANCES = ("full", "diagonal")
NEWTON_STEPS = 50     # Newton's method converges quadratically: a handful of steps in practice
HALVINGS = 30         # step halvings per Newton step before a step is taken anyway
NEWTON_TOL = 1e-10    # stop when no coordinate of any arm's mode moves more than this


@dataclass(frozen=True, eq=False)
class LogisticState(StateArrays):
    """Each arm's Laplace posterior N(m, Q⁻¹) over logistic weights: ``mean`` m (..., K, d),
    ``precision`` Q (..., K, d, d), and nₖ (..., K) users learnt from.

    Not additive: each batch's posterior is the next batch's prior, so feed batches in order.
    """

    mean: np.ndarray
    precision: np.ndarray
    TAILS: ClassVar[dict[str, int]] = {"n": 0, "mean": 1, "precision": 2}
    DEFINITE: ClassVar[tuple[str, ...]] = ("precision",)


def _objective(w: np.ndarray, m: np.ndarray, Q: np.ndarray, X: np.ndarray, on: np.ndarray,
               y: np.ndarray) -> np.ndarray:
    """½(w−m)ᵀQ(w−m) + Σₙ [ln(1 + e^{wᵀxₙ}) − yₙwᵀxₙ] over each arm's rows, (..., K)."""
    z = np.einsum("...kd,...nd->...nk", w, X)
    dev = w - m
    prior = 0.5 * np.einsum("...ki,...kij,...kj->...k", dev, Q, dev)
    return prior + (on * (np.logaddexp(0.0, z) - y[..., None] * z)).sum(axis=-2)


def laplace_mode(m: np.ndarray, Q: np.ndarray, X: np.ndarray, on: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each arm's posterior mode given prior N(m, Q⁻¹) and the rows ``on`` (..., n, K) it served:
    Newton's method with gradient Q(w − m) + Σ(p − y)x and Hessian Q + Σp(1 − p)xxᵀ,
    halving a step until the objective does not increase."""
    w, f = m, _objective(m, m, Q, X, on, y)
    for _ in range(NEWTON_STEPS):
        p = expit(np.einsum("...kd,...nd->...nk", w, X))
        grad = np.einsum("...kij,...kj->...ki", Q, w - m) + weighted_sum(on * (p - y[..., None]), X)
        hess = Q + weighted_gram(on * p * (1.0 - p), X)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        t = np.ones(step.shape[:-1])
        for _ in range(HALVINGS):
            trial = w - t[..., None] * step
            f_trial = _objective(trial, m, Q, X, on, y)
            worse = f_trial > f + 1e-12 * (1.0 + np.abs(f))
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        w, f = trial, f_trial
        if np.max(np.abs(t[..., None] * step), initial=0.0) < NEWTON_TOL:
            break
    return w


@dataclass(frozen=True, kw_only=True)
class LogisticThompson(ContextualThompson):
    """Thompson sampling on per-arm Bayesian logistic regressions, Laplace-approximated
    (Chapelle & Li 2011, Algorithm 3).

    Prior N(0, λ⁻¹I) (λ = ``prior_precision``). Each batch: the mode
    w = argmin ½(w − m)ᵀQ(w − m) + Σ ln(1 + e^{wᵀx}) − y·wᵀx (Newton, ``laplace_mode``) becomes
    the mean m, and Q ← Q + Σ p(1 − p)xxᵀ with p = σ(wᵀx) (``covariance = "full"``), or only
    its diagonal qᵢ ← qᵢ + Σ p(1 − p)xᵢ² (``"diagonal"``, as in the paper).
    Choice: draw θ̃ₖ ~ N(mₖ, Qₖ⁻¹) and play argmaxₖ valueₖ·σ(θ̃ₖᵀx) − costₖ: the conversion
    model is learnt, the offers' economics (``value`` of a conversion, ``cost`` per user shown,
    one per arm; default 1 and 0) are given.
    """

    name: ClassVar[str] = "logistic-ts"
    bernoulli_only: ClassVar[bool] = True
    prior_precision: float = 1.0
    covariance: str = "full"
    value: tuple[float, ...] = ()
    cost: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("prior_precision", self.prior_precision, MIN_PRECISION, MAX_PARAM)
        if self.covariance not in COVARIANCES:
            raise InputError("covariance", self.covariance, "one of " + ", ".join(COVARIANCES))
        for name in ("value", "cost"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)):
                raise InputError(name, values, "a list of numbers, one per arm")
            for i, x in enumerate(values):
                check_range(f"{name}[{i}]", x, -MAX_PARAM, MAX_PARAM)
            object.__setattr__(self, name, tuple(float(x) for x in values))

    def empty_state(self, n_arms: int, dim: int, batch_shape: tuple[int, ...] = ()) -> LogisticState:
        check_shape(n_arms, dim)
        shape = tuple(batch_shape) + (n_arms,)
        prior = np.broadcast_to(self.prior_precision * np.eye(dim), shape + (dim, dim))
        return LogisticState(np.zeros(shape), np.zeros(shape + (dim,)), prior.copy())

    def state_from_dict(self, data: Mapping[str, Any]) -> LogisticState:
        return LogisticState.from_dict(data)

    def posterior(self, state: LogisticState) -> tuple[np.ndarray, np.ndarray]:
        return state.mean, np.linalg.inv(state.precision)

    def update(self, state: LogisticState, X: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> LogisticState:
        X, arms, y = check_feedback(state, X, arms, rewards, reward_range=(0.0, 1.0))
        on = one_hot(arms, state.n_arms)
        w = laplace_mode(state.mean, state.precision, X, on, y)
        p = expit(np.einsum("...kd,...nd->...nk", w, X))
        curvature = on * p * (1.0 - p)
        if self.covariance == "full":
            precision = state.precision + weighted_gram(curvature, X)
        else:
            precision = state.precision + weighted_sum(curvature, X * X)[..., None] * np.eye(state.dim)
        return LogisticState(state.n + on.sum(axis=-2), w, precision)

    def payoff(self, scores: np.ndarray) -> np.ndarray:
        k = scores.shape[-1]
        for name in ("value", "cost"):
            if getattr(self, name) and len(getattr(self, name)) != k:
                raise InputError(name, len(getattr(self, name)), f"one number per arm ({k} arms)")
        value = np.asarray(self.value or np.ones(k))
        return value * expit(scores) - np.asarray(self.cost or np.zeros(k))
