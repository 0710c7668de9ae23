"""One policy per segment: rows of the state are independent bandits."""

from __future__ import annotations

import numpy as np
import pytest

from promolab.bandits import Thompson, make_policy
from promolab.bandits.segmented import SegmentedPolicy
from promolab.errors import InputError


def test_each_segment_learns_its_own_best_arm() -> None:
    policy = SegmentedPolicy(make_policy("thompson"), ("a", "b"))
    rng = np.random.default_rng(0)
    rates = np.array([[0.02, 0.10], [0.10, 0.02]])
    state = policy.empty_state(2)
    for _ in range(60):
        seg = rng.integers(0, 2, 200)
        arms = policy.choose(state, seg, rng)
        rewards = rng.random(200) < rates[seg, arms]
        state = policy.update(state, seg, arms, rewards)
    probs = policy.probabilities(state, 1)
    assert probs.shape == (2, 2)
    assert probs[0, 1] > 0.99 and probs[1, 0] > 0.99
    assert state.n.sum() == 60 * 200


def test_update_only_touches_the_users_segment() -> None:
    policy = SegmentedPolicy(Thompson(), ("x", "y", "z"))
    state = policy.update(policy.empty_state(3), np.array([2, 2, 0]), np.array([1, 1, 0]), np.array([1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(state.n, [[1, 0, 0], [0, 0, 0], [0, 2, 0]])
    np.testing.assert_array_equal(state.sum, [[1, 0, 0], [0, 0, 0], [0, 1, 0]])


def test_unknown_segment_label_is_named() -> None:
    policy = SegmentedPolicy(Thompson(), ("x", "y"))
    with pytest.raises(InputError, match="w"):
        policy.index(["x", "w"])
