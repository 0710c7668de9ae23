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
from typing import ClassVar

import numpy as np

from promolab.sim.scenario import Scenario


@dataclass(frozen=True, eq=False)
class Feedback:
    """One batch of feedback for every run: per-arm n, Σy, Σy² and discount spent, (runs, K)."""

    n: np.ndarray
    sum: np.ndarray
    sum_sq: np.ndarray
    discount: np.ndarray

    def per_run(self, per_user: np.ndarray) -> np.ndarray:
        """Σₖ nₖ·xₖ for each run, given a per-user value xₖ of each arm (K,)."""
        return self.n @ per_user

    @property
    def spent(self) -> np.ndarray:
        """Discount spent in each run, (runs,)."""
        return self.discount.sum(axis=1)


@dataclass(frozen=True, eq=False)
class UserFeedback:
    """One user for every run: the arm shown, that arm's n = 1, Σy = y and Σy² = y², and
    the discount spent, each (runs,)."""

    n: ClassVar[float] = 1.0
    arms: np.ndarray
    sum: np.ndarray
    sum_sq: np.ndarray
    discount: np.ndarray

    def per_run(self, per_user: np.ndarray) -> np.ndarray:
        """x of the arm shown in each run, given a per-user value xₖ of each arm (K,)."""
        return per_user.take(self.arms)

    @property
    def spent(self) -> np.ndarray:
        """Discount spent in each run, (runs,)."""
        return self.discount


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
        if scenario.reward == "conversion":
            return 1.0
        return scenario.arms.order_value * Environment._kept(scenario)

    @staticmethod
    def _kept(scenario: Scenario) -> np.ndarray:
        """Reward per unit of order value, (K,): 1 − d (revenue) or g − d (margin)."""
        discount = scenario.arms.discount
        return 1.0 - discount if scenario.reward == "revenue" else scenario.margin_rate - discount

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
            per_value = self._kept(self.scenario)
            total, total_sq = per_value * value_sum, per_value**2 * value_sq
        return Feedback(counts, total, total_sq, arms.discount * value_sum)

    def draw_users(self, step: int, arms: np.ndarray, rng: np.random.Generator) -> UserFeedback:
        """Rewards of one user per run, shown arm ``arms[r]`` in run r at this step (a batch of
        one): one uniform per run for the conversion, an order value only where it converts."""
        converted = rng.random(arms.shape)
        np.less(converted, self.rates[step].take(arms), out=converted)  # 1.0 where u < p, else 0.0
        config = self.scenario.arms
        if config.order_value is None:
            return UserFeedback(arms, converted, converted, np.zeros(arms.shape))
        buyers = converted.nonzero()[0]
        shape = self.scenario.order_value_shape
        values = np.zeros(arms.shape)
        values[buyers] = rng.gamma(shape, config.order_value.take(arms[buyers]) / shape)
        reward = converted if self.scenario.reward == "conversion" else self._kept(self.scenario).take(arms) * values
        return UserFeedback(arms, reward, reward * reward, config.discount.take(arms) * values)
