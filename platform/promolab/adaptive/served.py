"""A contextual experiment's current model as served: per-offer Gaussian scores of φ(x).

Every policy a contextual experiment serves reduces, for one user with encoded context
φ = φ(x), to one score per offer a with mean μₐ = mₐᵀφ and standard deviation
σₐ = √(φᵀ Σₐ φ) (Σₐ = 0 for a fixed policy):

- ``ucb``      LinUCB (Li et al. 2010): play argmax μₐ + α σₐ (ties split evenly);
- ``thompson`` linear / logistic Thompson sampling (Agrawal & Goyal 2013; Chapelle & Li
  2011, Laplace posterior): play a with P(a is best) = P(sₐ = maxᵦ sᵦ), sₐ ~ N(μₐ, σₐ²)
  independent. The logistic link is monotone, so the argmax of the sampled click
  probabilities is the argmax of the sampled linear scores. Computed by quadrature
  (:func:`best_arm_probabilities`), deterministic, so the service and the
  local-evaluation client log identical probabilities;
- ``greedy``   a fixed targeting policy: argmax μₐ (the control's score is 0).

The probabilities are then floored (every offer keeps ``floor``) and mixed with the
holdout (a ``holdout`` share of users is split by the experiment's weights); the result
is the propensity logged with each exposure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import ndtr

from promolab.errors import InputError

ServedKind = Literal["ucb", "thompson", "greedy"]
SERVED_KINDS: tuple[str, ...] = ("ucb", "thompson", "greedy")
GRID_POINTS = 801    # uniform nodes over z ∈ [−8, 8] in units of the arm's own σ
LOCAL_POINTS = 81    # nodes over ±8 σᵦ/σₐ around each other arm's mean, where Φ((s − μᵦ)/σᵦ) bends
_Z_MAX = 8.0
_UNIFORM = np.linspace(-_Z_MAX, _Z_MAX, GRID_POINTS)
_LOCAL = np.linspace(-_Z_MAX, _Z_MAX, LOCAL_POINTS)


def best_arm_probabilities(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """P(arm a has the largest score) for independent N(meanₐ, sdₐ²) scores, last axis = arms.

    P(a) = ∫ φ(z) Πᵦ≠ₐ Φ((μₐ + σₐ z − μᵦ) / σᵦ) dz by the trapezoidal rule on z ∈ [z₀, 8]:
    a uniform grid plus a fine grid around each other arm's mean (so arms far narrower
    than a are resolved too); point masses (σᵦ = 0) enter exactly through the lower limit
    z₀ = maxᵦ (μᵦ − μₐ)/σₐ. An arm with σₐ = 0 is a point mass: P(a) = Πᵦ P(sᵦ < μₐ), ties
    between point masses split in half. Rows are renormalised. Accurate to 2e-5 (tests:
    scipy's adaptive quadrature of the same integral)."""
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    k = mean.shape[-1]
    others = ~np.eye(k, dtype=bool)                                       # (K_a, K_b)
    mu_a, sd_a = mean[..., :, None], sd[..., :, None]                     # (..., K_a, 1)
    mu_b, sd_b = mean[..., None, :], sd[..., None, :]                     # (..., 1, K_b)
    scale_a = np.where(sd_a > 0, sd_a, 1.0)
    point_b = (sd_b == 0) & others
    z0 = np.where(point_b, (mu_b - mu_a) / scale_a, -np.inf).max(axis=-1)  # (..., K_a)
    z0 = np.clip(z0, -_Z_MAX, _Z_MAX)
    centre = (mu_b - mu_a) / scale_a                                      # other arms' means in a's z
    width = sd_b / scale_a
    local = np.where(((sd_b > 0) & others)[..., None], centre[..., None] + width[..., None] * _LOCAL, -_Z_MAX)
    z = np.concatenate([np.broadcast_to(_UNIFORM, mean.shape + (GRID_POINTS,)),
                        local.reshape(mean.shape + (-1,))], axis=-1)
    z = np.sort(np.clip(z, z0[..., None], _Z_MAX), axis=-1)               # (..., K_a, N)
    s = mu_a + sd_a * z
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf = ndtr((s[..., :, None, :] - mu_b[..., None]) / np.where(sd_b > 0, sd_b, 1.0)[..., None])
    cdf = np.where(((sd_b > 0) & others)[..., None], cdf, 1.0).prod(axis=-2)  # (..., K_a, N)
    f = cdf * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    p = (0.5 * (f[..., 1:] + f[..., :-1]) * np.diff(z, axis=-1)).sum(axis=-1)
    # point masses: P(every other score below μₐ), ties between point masses split in half
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.where(sd_b > 0, ndtr((mu_a - mu_b) / np.where(sd_b > 0, sd_b, 1.0)),
                         np.where(mu_a > mu_b, 1.0, np.where(mu_a < mu_b, 0.0, 0.5)))
    point = np.where(others, below, 1.0).prod(axis=-1)
    p = np.where(sd > 0, p, point)
    return p / p.sum(axis=-1, keepdims=True)


def _matrix(value: Any, shape: tuple[int, ...], field: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(field, type(value).__name__, f"numbers of shape {shape}") from None
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise InputError(field, list(arr.shape), f"finite numbers of shape {shape}")
    return arr


@dataclass(frozen=True, eq=False)
class ServedModel:
    """Per-offer score means (K, d) and covariances (K, d, d) (None: fixed scores)."""

    kind: ServedKind
    mean: np.ndarray
    cov: np.ndarray | None = None
    alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SERVED_KINDS:
            raise InputError("model.kind", self.kind, f"one of {', '.join(SERVED_KINDS)}")
        mean = np.asarray(self.mean, dtype=float)
        if mean.ndim != 2 or not np.all(np.isfinite(mean)):
            raise InputError("model.mean", list(mean.shape), "finite numbers of shape (offers, features)")
        object.__setattr__(self, "mean", mean)
        if self.cov is not None:
            object.__setattr__(self, "cov", _matrix(self.cov, mean.shape + mean.shape[-1:], "model.cov"))
        elif self.kind != "greedy":
            raise InputError("model.cov", None, f"a covariance per offer for a {self.kind} model")
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise InputError("model.alpha", self.alpha, "a finite number >= 0")

    @property
    def arms(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int:
        return self.mean.shape[1]

    def scores(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """μ and σ per offer for contexts ``phi`` of shape (..., d) → two arrays (..., K)."""
        mu = phi @ self.mean.T
        if self.cov is None:
            return mu, np.zeros_like(mu)
        var = np.einsum("...i,kij,...j->...k", phi, self.cov, phi)
        return mu, np.sqrt(np.maximum(var, 0.0))

    def probabilities(self, phi: np.ndarray) -> np.ndarray:
        """The policy's selection probabilities per offer, (..., K), before floor and holdout."""
        mu, sd = self.scores(phi)
        if self.kind == "thompson":
            return best_arm_probabilities(mu, sd)
        score = mu + self.alpha * sd if self.kind == "ucb" else mu
        top = score == score.max(axis=-1, keepdims=True)
        return top / top.sum(axis=-1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "alpha": self.alpha, "mean": self.mean.tolist(),
                "cov": None if self.cov is None else self.cov.tolist()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, raw: Any, arms: int, dim: int) -> ServedModel:
        """Parse a stored or served model; errors name the field (``model.…``)."""
        if not isinstance(raw, dict) or set(raw) != {"kind", "alpha", "mean", "cov"}:
            raise InputError("model", sorted(raw) if isinstance(raw, dict) else type(raw).__name__,
                             "an object with kind, alpha, mean and cov")
        alpha = raw["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise InputError("model.alpha", alpha, "a finite number >= 0")
        mean = _matrix(raw["mean"], (arms, dim), "model.mean")
        cov = None if raw["cov"] is None else _matrix(raw["cov"], (arms, dim, dim), "model.cov")
        return cls(raw["kind"], mean, cov, float(alpha))


def floored(policy: np.ndarray, floor: float) -> np.ndarray:
    """floor + (1 − K·floor) · π: every offer keeps at least ``floor`` (last axis = offers)."""
    return policy if not floor else floor + (1.0 - policy.shape[-1] * floor) * policy
