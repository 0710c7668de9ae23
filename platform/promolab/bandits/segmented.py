"""One policy per segment: a simple contextual bandit over a discrete context.

The state is an ``ArmState`` with a segment axis before the arm axis, shape
``(..., S, K)``; every policy here already treats leading axes as independent bandits,
so learning per segment is the same policy on a state with one more axis. A user of
segment s is served by (and feeds back into) row s only.

When segments truly prefer different offers this removes the linear regret a single
global bandit pays for serving everyone the same arm; when they do not, it only pays
exploration S times over (``simulations/segments-*.toml`` show both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.bandits.base import Policy, RandomLike, as_generator
from promolab.bandits.state import ArmState
from promolab.errors import InputError


# Segments one policy learns separately. The state and every ``probabilities`` call grow with
# segments × arms, and each segment needs its own traffic to learn from; customer segments in
# practice number a handful to a few hundred (RFM clusters, countries, channels). A column with
# more distinct values is almost always a user or order id given by mistake.
MAX_SEGMENTS = 1_000


@dataclass(frozen=True)
class SegmentedPolicy:
    """``policy`` learnt separately for each of ``segments`` (labels, in state order)."""

    policy: Policy
    segments: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.segments) > MAX_SEGMENTS:
            raise InputError("segments", len(self.segments), f"at most {MAX_SEGMENTS:,} distinct segments")
        if len(self.segments) < 1 or len(set(self.segments)) != len(self.segments):
            raise InputError("segments", list(self.segments), "at least one distinct segment label")

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    def empty_state(self, n_arms: int, batch_shape: tuple[int, ...] = ()) -> ArmState:
        return ArmState.empty(n_arms, batch_shape + (self.n_segments,))

    def index(self, labels) -> np.ndarray:
        """Segment labels → row indices; an unknown label is an error naming it."""
        lookup = {s: i for i, s in enumerate(self.segments)}
        labels = np.asarray(labels).astype(str)
        out = np.array([lookup.get(x, -1) for x in labels], dtype=int)
        if np.any(out < 0):
            raise InputError("segment", labels[out < 0][0], "one of " + ", ".join(self.segments))
        return out

    def probabilities(self, state: ArmState, rng: RandomLike = None) -> np.ndarray:
        """Selection probabilities per segment, shape ``(..., S, K)``."""
        return self.policy.probabilities(state, rng)

    def choose(self, state: ArmState, segment: np.ndarray, rng: RandomLike = None) -> np.ndarray:
        """One arm per user given each user's segment index (a single bandit, state (S, K))."""
        rng = as_generator(rng)
        segment = np.asarray(segment, dtype=int)
        arms = np.empty(segment.size, dtype=int)
        for s in np.unique(segment):
            rows = np.flatnonzero(segment == s)
            sub = ArmState(state.n[s], state.sum[s], state.sum_sq[s])
            arms[rows] = self.policy.choose(sub, rng, rows.size)
        return arms

    def update(self, state: ArmState, segment: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> ArmState:
        """Fold one reward per user into its segment's row."""
        segment, arms = np.asarray(segment, dtype=int), np.asarray(arms, dtype=int)
        rewards = np.asarray(rewards, dtype=float)
        k = state.n_arms
        cell = segment * k + arms
        size = self.n_segments * k
        add = [np.bincount(cell, weights=w, minlength=size).reshape(self.n_segments, k)
               for w in (np.ones_like(rewards), rewards, rewards * rewards)]
        return state.update(*add)
