"""Index policies (UCB1, KL-UCB) choose the argmax arm directly, drawing only among tied maxima:
the same distribution as sampling their one-hot weights (chi-square against the weights),
the argmax for every user when nothing ties, and the floored sampling when a floor is set."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from promolab.bandits import KLUCB, UCB1, ArmState
from promolab.bandits.base import argmax_choice, argmax_share


def _state(n, s) -> ArmState:
    n, s = np.asarray(n, float), np.asarray(s, float)
    return ArmState(n, s, s)


@pytest.mark.parametrize("policy", [UCB1(), KLUCB()])
def test_without_ties_every_user_gets_the_argmax(policy) -> None:
    state = _state([[50, 60, 40], [10, 80, 70]], [[5, 12, 4], [9, 8, 7]])
    arms = policy.choose(state, 1, 500)
    weights = policy.probabilities(state, 1)
    assert arms.shape == (500, 2)
    assert (arms == weights.argmax(axis=-1)).all() and (weights.max(axis=-1) == 1).all()


def test_ties_are_split_evenly_like_sampling_the_weights() -> None:
    state = _state([[0, 0, 0, 5], [4, 4, 9, 0], [10, 10, 10, 10]], [[0, 0, 0, 1], [2, 2, 1, 0], [3, 3, 1, 1]])
    policy = UCB1()
    arms = policy.choose(state, np.random.default_rng(4), 60_000)
    weights = policy.probabilities(state, 0)
    for row in range(3):
        counts = np.bincount(arms[:, row], minlength=4)
        expected = weights[row] * arms.shape[0]
        seen = expected > 0
        assert counts[~seen].sum() == 0
        if seen.sum() > 1:
            assert stats.chisquare(counts[seen], expected[seen]).pvalue > 1e-4
        else:
            assert counts[seen][0] == arms.shape[0]


def test_argmax_choice_treats_nan_as_never_best_and_a_single_bandit() -> None:
    rng = np.random.default_rng(0)
    assert (argmax_choice(np.array([np.nan, 1.0, 0.5]), rng, 7) == 1).all()
    picks = argmax_choice(np.array([2.0, 2.0, np.nan]), rng, 4000)
    assert picks.shape == (4000,) and set(np.unique(picks)) == {0, 1}
    np.testing.assert_allclose(argmax_share(np.array([2.0, 2.0, np.nan])), [0.5, 0.5, 0.0])


def test_a_floor_samples_the_floored_weights() -> None:
    state = _state([50, 60, 40], [5, 12, 4])
    arms = UCB1(floor=0.1).choose(state, np.random.default_rng(2), 30_000)
    counts = np.bincount(arms, minlength=3)
    expected = UCB1(floor=0.1).probabilities(state, 0) * 30_000
    assert stats.chisquare(counts, expected).pvalue > 1e-4
