"""Thompson sampling (Thompson 1933) and top-two Thompson sampling (Russo 2016)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from promolab.bandits.base import Policy, RandomLike, as_generator, check_int, check_range
from promolab.bandits.priors import BetaPrior, Prior, make_prior
from promolab.bandits.state import ArmState


# Posterior draws per ``probabilities`` call. P(arm is best) is estimated with Monte-Carlo
# error ≤ 1/(2√draws): 0.05 % at a million draws, which no allocation needs; each call costs
# draws × arms random numbers (× (arms + 1) for top-two), so a million keeps a call under a second.
MAX_POSTERIOR_DRAWS = 1_000_000


def _argmax_frequency(samples: np.ndarray) -> np.ndarray:
    """Share of draws (axis 0) in which each arm (last axis) is the largest."""
    k = samples.shape[-1]
    return (np.argmax(samples, axis=-1)[..., None] == np.arange(k)).mean(axis=0)


@dataclass(frozen=True, kw_only=True)
class Thompson(Policy):
    """Play each arm with its posterior probability of being best.

    ``probabilities`` estimates P(arm k is best) from ``draws`` joint posterior draws
    (vectorised Monte Carlo, seeded through ``rng``); ``choose`` takes one posterior
    draw per user, which is exact Thompson sampling for a batch.
    """

    name: ClassVar[str] = "thompson"
    prior: Prior = field(default_factory=BetaPrior)
    draws: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "prior", make_prior(self.prior))
        check_int("draws", self.draws, 1, MAX_POSTERIOR_DRAWS)

    @property
    def bernoulli_only(self) -> bool:  # type: ignore[override]
        return isinstance(self.prior, BetaPrior)

    def probability_draws(self, n_arms: int) -> int:
        return self.draws * n_arms

    def weights(self, state: ArmState, rng: np.random.Generator) -> np.ndarray:
        return _argmax_frequency(self.prior.sample(state, rng, self.draws))

    def choose(self, state: ArmState, rng: RandomLike, size: int) -> np.ndarray:
        rng = as_generator(rng)
        arms = np.argmax(self.prior.sample(state, rng, size), axis=-1)
        return self._explore(arms, state.n_arms, rng)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "prior": self.prior.to_dict()}


@dataclass(frozen=True, kw_only=True)
class TopTwoThompson(Thompson):
    """Top-two Thompson sampling for best-arm identification (Russo 2016, "Simple Bayesian
    algorithms for best arm identification").

    Draw θ; the leader I = argmax θ is played with probability β, otherwise re-draw θ
    until argmax θ ≠ I and play that challenger. Allocation of arm j:
    ψⱼ = pⱼ (β + (1 − β) Σ_{i≠j} pᵢ / (1 − pᵢ)), pᵢ = P(arm i is best).
    ``choose`` re-draws at most ``RESAMPLES`` times, then takes the best non-leader arm of
    the last draw (the limit of the re-draw when the leader is nearly certain).
    """

    name: ClassVar[str] = "top-two-thompson"
    RESAMPLES: ClassVar[int] = 16
    beta: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("beta", self.beta, 0.0, 1.0)

    def probability_draws(self, n_arms: int) -> int:
        return self.draws * n_arms * (n_arms + 1)  # the draws, then one argmax per excluded leader

    def weights(self, state: ArmState, rng: np.random.Generator) -> np.ndarray:
        samples = self.prior.sample(state, rng, self.draws)
        k = samples.shape[-1]
        leader = _argmax_frequency(samples)
        others = 1.0 - np.eye(k)
        # challenger distribution given leader i: pⱼ/(1 − pᵢ), or argmax over j ≠ i if pᵢ = 1
        excluded = np.stack(
            [_argmax_frequency(np.where(np.arange(k) == i, -np.inf, samples)) for i in range(k)], axis=-2
        )
        rest = (1.0 - leader)[..., :, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            challenger = np.where(rest > 0, leader[..., None, :] * others / rest, excluded)
        return self.beta * leader + (1.0 - self.beta) * np.einsum("...i,...ij->...j", leader, challenger)

    def choose(self, state: ArmState, rng: RandomLike, size: int) -> np.ndarray:
        rng = as_generator(rng)
        k = state.n_arms
        arms = np.argmax(self.prior.sample(state, rng, size), axis=-1)
        # users who get a challenger: flatten (size, ...) and re-draw only for those still tied
        flat = arms.reshape(-1)
        todo = np.flatnonzero(rng.random(flat.size) >= self.beta)
        stats = [np.broadcast_to(x, arms.shape + (k,)).reshape(-1, k) for x in (state.n, state.sum, state.sum_sq)]
        for attempt in range(self.RESAMPLES):
            if not todo.size:
                break
            draw = self.prior.sample(ArmState(*(x[todo] for x in stats)), rng, 1)[0]
            if attempt == self.RESAMPLES - 1:
                draw[np.arange(todo.size), flat[todo]] = -np.inf
            candidate = np.argmax(draw, axis=-1)
            differs = candidate != flat[todo]
            flat[todo[differs]] = candidate[differs]
            todo = todo[~differs]
        return self._explore(flat.reshape(arms.shape), k, rng)
