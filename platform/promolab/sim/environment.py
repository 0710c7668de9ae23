"""The reward model of a scenario: per-step arm rates and reward draws for many runs at once.

A user shown arm k at user index t converts with probability
pₖ(t) = rateₖ · (1 − fatigueₖ · t / horizon) · (weekendₖ if day(t) is Sat/Sun else 1),
day(t) = ⌊t / users_per_day⌋ (day 0 is a Monday). A converting user's order value is
Gamma(shape, valueₖ / shape) (mean valueₖ). Per-user reward y:
conversion → 1; revenue → value·(1 − discountₖ); margin → value·(margin_rate − discountₖ);
0 for users who do not convert. The discount spent is value·discountₖ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.sim.scenario import Scenario


@dataclass(frozen=True, eq=False)
class Feedback:
    """One batch of feedback for every run: per-arm n, Σy, Σy² and discount spent, (runs, K)."""

    n: np.ndarray
    sum: np.ndarray
    sum_sq: np.ndarray
    discount: np.ndarray


@dataclass(frozen=True, eq=False)
class Environment:
    """A scenario's reward model tabulated per step s (a batch of users)."""

    scenario: Scenario
    batch_sizes: np.ndarray   # (S,) users in each step
    rates: np.ndarray         # (S, K) conversion probabilities
    mean_reward: np.ndarray   # (S, K) expected reward per user
    mean_margin: np.ndarray | None  # (S, K) expected margin per user, if order values are known

    @classmethod
    def build(cls, scenario: Scenario) -> Environment:
        arms, steps = scenario.arms, scenario.steps
        start = np.arange(steps) * scenario.batch_size
        sizes = np.minimum(scenario.batch_size, scenario.horizon - start)
        t = start[:, None]
        weekend = ((t // scenario.users_per_day) % 7) >= 5
        rates = arms.rate * (1.0 - arms.fatigue * t / scenario.horizon) * np.where(weekend, arms.weekend, 1.0)
        rates = np.clip(rates, 0.0, 1.0)
        margin = None if arms.order_value is None else rates * arms.order_value * (scenario.margin_rate - arms.discount)
        return cls(scenario, sizes, rates, rates * cls._value_factor(scenario), margin)

    @staticmethod
    def _value_factor(scenario: Scenario) -> np.ndarray | float:
        """Expected reward of a converting user: 1, value·(1 − d) or value·(g − d)."""
        arms = scenario.arms
        if scenario.reward == "conversion":
            return 1.0
        keep = 1.0 - arms.discount if scenario.reward == "revenue" else scenario.margin_rate - arms.discount
        return arms.order_value * keep

    @property
    def best_arm(self) -> np.ndarray:
        """The oracle's arm at each step, (S,)."""
        return np.argmax(self.mean_reward, axis=1)

    @property
    def gaps(self) -> np.ndarray:
        """Expected regret per user of each arm at each step, (S, K)."""
        return self.mean_reward.max(axis=1, keepdims=True) - self.mean_reward

    @property
    def margin_gaps(self) -> np.ndarray | None:
        """Expected margin lost per user versus the margin-best arm, (S, K)."""
        if self.mean_margin is None:
            return None
        return self.mean_margin.max(axis=1, keepdims=True) - self.mean_margin

    def draw(self, step: int, counts: np.ndarray, rng: np.random.Generator) -> Feedback:
        """Rewards of ``counts[r, k]`` users shown arm k in run r at this step."""
        conversions = rng.binomial(counts, self.rates[step]).astype(float)
        arms, reward = self.scenario.arms, self.scenario.reward
        if arms.order_value is None:
            return Feedback(counts, conversions, conversions, np.zeros_like(conversions))
        most = int(conversions.max(initial=0))
        shape = self.scenario.order_value_shape
        values = rng.gamma(shape, arms.order_value[:, None] / shape, size=conversions.shape + (most,))
        values *= np.arange(most) < conversions[..., None]
        value_sum, value_sq = values.sum(axis=-1), (values * values).sum(axis=-1)
        if reward == "conversion":
            total, total_sq = conversions, conversions
        else:
            per_value = 1.0 - arms.discount if reward == "revenue" else self.scenario.margin_rate - arms.discount
            total, total_sq = per_value * value_sum, per_value**2 * value_sq
        return Feedback(counts, total, total_sq, arms.discount * value_sum)
