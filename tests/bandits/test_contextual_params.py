"""Contextual policy parameters are bounded: any value either builds a policy whose
probabilities are a distribution at the bounds' extremes, or is refused with one line naming
the field (property-tested), quickly."""

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.bandits import CONTEXTUAL_POLICIES, make_contextual_policy, policy_parameters
from promolab.bandits.base import MAX_PARAM
from promolab.bandits.contextual import MIN_PRECISION
from promolab.errors import InputError

INF, NAN = float("inf"), float("nan")
EDGE = st.one_of(
    st.sampled_from([0, 1, -1, 2, 10**6, 10**12, 10**13, 10**400, 1e308, -1e308, 1e-300, 1e-7, 0.5, INF, -INF, NAN,
                     True, False, None, "1", [1], {"x": 1}, "full", "diagonal", [1.0, 2.0], [NAN, 1.0]]),
    st.integers(), st.floats(), st.lists(st.floats(), max_size=3),
)
KEYS = sorted({key for name in CONTEXTUAL_POLICIES for key in policy_parameters(name)})


@settings(max_examples=400, deadline=None)  # timing is asserted for refusals only
@given(name=st.sampled_from(sorted(CONTEXTUAL_POLICIES)), key=st.sampled_from(KEYS), value=EDGE)
def test_any_parameter_value_builds_a_bounded_policy_or_is_refused_by_name(name, key, value):
    start = time.perf_counter()
    try:
        policy = make_contextual_policy(name, {key: value})
    except InputError as exc:
        assert exc.field.startswith(f"policy.{key}") or exc.field == "policy", exc
        assert "\n" not in str(exc) and time.perf_counter() - start < 0.5
        return
    for field, v in policy.params().items():
        for x in v if isinstance(v, tuple) else [v]:
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                assert math.isfinite(x) and abs(x) <= MAX_PARAM, (field, x)
    if getattr(policy, "draws", 0) > 10_000 or policy.params().get("value"):
        return  # valid (value needs as many numbers as arms); keep the example fast
    state = policy.empty_state(2, 3)
    X = np.array([[1.0, 0.5, -2.0], [1.0, 3.0, 0.0]])
    if key == "floor" and isinstance(value, (int, float)) and value > 1 / 2:
        with pytest.raises(InputError, match="floor: got .* expected at most 1/2 with 2 arms"):
            policy.probabilities(state, X, rng=0)
        return
    if policy.params().get("cost"):
        return
    state = policy.update(state, X, np.array([0, 1]), np.array([1.0, 0.0]))
    p = policy.probabilities(state, X, rng=0)
    assert p.shape == (2, 2) and np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("linucb", {"alpha": INF}, "policy.alpha: got inf, expected a number in [0.0, 1e+12]"),
        ("linucb", {"alpha": -0.1}, "policy.alpha: got -0.1"),
        ("linucb", {"l2": 0.0}, f"policy.l2: got 0.0, expected a number in [{MIN_PRECISION}, 1e+12]"),
        ("lin-ts", {"l2": 1e-300}, "policy.l2: got 1e-300"),
        ("lin-ts", {"v": NAN}, "policy.v: got nan"),
        ("lin-ts", {"draws": 0}, "policy.draws: got 0, expected an integer in [1, 1000000]"),
        ("lin-ts", {"draws": 1e3}, "policy.draws: got 1000.0, expected an integer"),
        ("logistic-ts", {"prior_precision": True}, "policy.prior_precision: got True"),
        ("logistic-ts", {"covariance": 1}, "policy.covariance: got 1, expected one of full, diagonal"),
        ("logistic-ts", {"value": [1.0, INF]}, "policy.value[1]: got inf, expected a number in [-1e+12, 1e+12]"),
        ("logistic-ts", {"cost": 3}, "policy.cost: got 3, expected a list of numbers, one per arm"),
        ("linucb", {"floor": 1.0}, "policy.floor: got 1.0, expected a share below 1 / number of arms"),
        ("linucb", {"beta": 1}, "policy.beta: got 1, expected a parameter of linucb: floor, l2, alpha"),
    ],
)
def test_over_bound_parameters_are_refused_naming_the_field(name, params, message):
    with pytest.raises(InputError) as err:
        make_contextual_policy(name, params)
    assert message in str(err.value)


def test_probability_draws_is_the_work_of_one_context():
    assert make_contextual_policy("linucb").probability_draws(3, 4) == 3 * 16
    assert make_contextual_policy("lin-ts", {"draws": 100}).probability_draws(3, 4) == 3 * (16 + 100)


def test_bounds_admit_their_extremes():
    state_x = np.array([[1.0, 2.0]])
    for name, params in [("linucb", {"alpha": MAX_PARAM, "l2": MIN_PRECISION}),
                         ("lin-ts", {"v": MAX_PARAM, "l2": MAX_PARAM}),
                         ("logistic-ts", {"prior_precision": MIN_PRECISION}),
                         ("logistic-ts", {"prior_precision": MAX_PARAM, "covariance": "diagonal"})]:
        policy = make_contextual_policy(name, params)
        state = policy.update(policy.empty_state(2, 2), state_x, np.array([0]), np.array([1.0]))
        p = policy.probabilities(state, state_x, 0)
        assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)
