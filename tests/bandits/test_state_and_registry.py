"""ArmState arithmetic and the policy registry: names, parameters, round trips, errors."""

import numpy as np
import pytest

from promolab.bandits import POLICIES, ArmState, make_policy
from promolab.errors import InputError
from promolab.stats.sufficient import MeanStats


def test_state_from_rewards_matches_mean_stats_and_adds():
    state = ArmState.from_rewards(np.array([0, 1, 1, 2]), np.array([1.0, 2.0, 4.0, 0.0]), 3)
    same = ArmState.from_mean_stats([MeanStats(1, 1.0, 1.0), MeanStats(2, 6.0, 20.0), MeanStats(1, 0.0, 0.0)])
    for a, b in ((state.n, same.n), (state.sum, same.sum), (state.sum_sq, same.sum_sq)):
        np.testing.assert_array_equal(a, b)
    both = state + state
    np.testing.assert_array_equal(both.n, [2, 4, 2])
    np.testing.assert_allclose(both.mean, [1.0, 3.0, 0.0])
    assert np.isnan(ArmState.empty(2).mean).all()


def test_state_rejects_bad_shapes_and_counts():
    with pytest.raises(InputError, match="state"):
        ArmState(np.zeros(2), np.zeros(3), np.zeros(2))
    with pytest.raises(InputError, match="state.n: got -1.0"):
        ArmState(np.array([-1.0, 1.0]), np.zeros(2), np.zeros(2))


@pytest.mark.parametrize("name", list(POLICIES))
def test_every_policy_round_trips_and_gives_probabilities(name):
    policy = make_policy(name, {"floor": 0.02})
    assert make_policy(name, {k: v for k, v in policy.to_dict().items() if k != "name"}) == policy
    state = ArmState(np.array([[50.0, 80.0, 20.0]] * 4), np.array([[10.0, 30.0, 2.0]] * 4), np.array([[10.0, 30.0, 2.0]] * 4))
    p = policy.probabilities(state, rng=3)
    assert p.shape == (4, 3)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    assert (p >= 0.02 - 1e-12).all()
    assert policy.choose(state, 3, 7).shape == (7, 4)
    np.testing.assert_array_equal(policy.probabilities(state, rng=3), p)  # seeded → reproducible


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("thompson", {"floor": -0.1}, "policy.floor: got -0.1, expected a number in [0.0, 1.0]"),
        ("epsilon-greedy", {"epsilon": 1.5}, "policy.epsilon: got 1.5, expected a number in [0.0, 1.0]"),
        ("ucb1", {"alpha": 2}, "policy.alpha: got 2, expected a parameter of ucb1"),
        ("thompson", {"prior": {"model": "poisson"}}, "policy.prior.model: got 'poisson', expected one of bernoulli, normal"),
        ("thompson", {"prior": {"model": "normal", "beta": 0}}, "policy.prior.beta: got 0"),
        ("top-two-thompson", {"beta": "half"}, "policy.beta: got 'half'"),
        ("ucb2", {}, "policy.name: got 'ucb2', expected one of thompson"),
    ],
)
def test_bad_parameters_name_field_and_value(name, params, message):
    with pytest.raises(InputError) as err:
        make_policy(name, params)
    assert message in str(err.value)


def test_floor_too_large_for_the_number_of_arms():
    with pytest.raises(InputError, match="floor: got 0.4, expected at most 1/3 with 3 arms"):
        make_policy("ucb1", {"floor": 0.4}).probabilities(ArmState.empty(3))
