"""Conjugate posteriors for Thompson sampling, computed from ``ArmState``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from promolab.bandits.base import MAX_PARAM, check_range
from promolab.bandits.state import ArmState
from promolab.errors import InputError


@dataclass(frozen=True)
class BetaPrior:
    """Beta(α, β) prior on a conversion rate; posterior Beta(α + Σr, β + n − Σr).

    Rewards in [0, 1] are used as fractional successes (Agrawal & Goyal 2012).
    """

    model: ClassVar[str] = "bernoulli"
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        check_range("prior.alpha", self.alpha, 0.0, MAX_PARAM, open_low=True)
        check_range("prior.beta", self.beta, 0.0, MAX_PARAM, open_low=True)

    def posterior(self, state: ArmState) -> tuple[np.ndarray, np.ndarray]:
        if np.any(state.sum < 0) or np.any(state.sum > state.n + 1e-9):
            raise InputError("state.sum", float(state.sum.max()), "0 <= Σr <= n for a Bernoulli reward")
        return self.alpha + state.sum, self.beta + state.n - state.sum

    def sample(self, state: ArmState, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` posterior draws of every arm's mean, shape ``(size, ..., K)``."""
        a, b = self.posterior(state)
        return rng.beta(a, b, size=(size,) + a.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, **asdict(self)}


@dataclass(frozen=True)
class NormalInverseGammaPrior:
    """Normal-Inverse-Gamma(μ₀, κ₀, α₀, β₀) prior on a per-user mean and variance.

    Posterior (Murphy 2007, "Conjugate Bayesian analysis of the Gaussian"):
    κₙ = κ₀ + n, μₙ = (κ₀μ₀ + Σy)/κₙ, αₙ = α₀ + n/2,
    βₙ = β₀ + ½(Σy² − (Σy)²/n) + κ₀(Σy − nμ₀)² / (2nκₙ).
    The mean's marginal is Student-t with 2αₙ d.o.f., location μₙ, scale √(βₙ/(αₙκₙ)).
    For revenue or margin per user; set β₀/α₀ near the expected per-user variance.
    """

    model: ClassVar[str] = "normal"
    mu: float = 0.0
    kappa: float = 1.0
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        check_range("prior.mu", self.mu, -MAX_PARAM, MAX_PARAM)
        for name in ("kappa", "alpha", "beta"):
            check_range(f"prior.{name}", getattr(self, name), 0.0, MAX_PARAM, open_low=True)

    def sample(self, state: ArmState, rng: np.random.Generator, size: int) -> np.ndarray:
        n, s = state.n, state.sum
        safe_n = np.maximum(n, 1.0)
        kappa_n = self.kappa + n
        mu_n = (self.kappa * self.mu + s) / kappa_n
        alpha_n = self.alpha + n / 2
        within = np.maximum(state.sum_sq - s * s / safe_n, 0.0)
        shrink = self.kappa * (s - n * self.mu) ** 2 / (2 * safe_n * kappa_n)
        beta_n = self.beta + 0.5 * within + np.where(n > 0, shrink, 0.0)
        scale = np.sqrt(beta_n / (alpha_n * kappa_n))
        return mu_n + scale * rng.standard_t(2 * alpha_n, size=(size,) + n.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, **asdict(self)}


Prior = BetaPrior | NormalInverseGammaPrior
PRIORS: dict[str, type[BetaPrior] | type[NormalInverseGammaPrior]] = {
    "bernoulli": BetaPrior,
    "normal": NormalInverseGammaPrior,
}


def make_prior(spec: Prior | dict[str, Any] | str) -> Prior:
    """A prior from ``{"model": "bernoulli" | "normal", **params}``, a model name, or a prior."""
    if isinstance(spec, (BetaPrior, NormalInverseGammaPrior)):
        return spec
    if not isinstance(spec, (str, Mapping)):
        raise InputError("prior", spec, 'a table such as { model = "normal", beta = 20.0 } or a model name')
    params = {"model": spec} if isinstance(spec, str) else dict(spec)
    model = params.pop("model", "bernoulli")
    if not isinstance(model, str) or model not in PRIORS:
        raise InputError("prior.model", model, f"one of {', '.join(PRIORS)}")
    cls = PRIORS[model]
    allowed = set(cls.__dataclass_fields__)
    for key in params:
        if key not in allowed:
            raise InputError(f"prior.{key}", params[key], f"a parameter of the {model} prior: {', '.join(sorted(allowed))}")
    return cls(**params)
