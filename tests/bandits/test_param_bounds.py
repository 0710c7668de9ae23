"""Every policy parameter is bounded: over-bound, infinite, NaN and boolean values are refused at
construction, quickly, with one line naming the field, the value and the bound."""

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.bandits import POLICIES, ArmState, make_policy, make_prior
from promolab.bandits.base import MAX_PARAM
from promolab.bandits.segmented import MAX_SEGMENTS, SegmentedPolicy
from promolab.bandits.thompson import MAX_POSTERIOR_DRAWS
from promolab.errors import InputError

INF, NAN = float("inf"), float("nan")


def refused(call, message: str) -> InputError:
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        call()
    assert time.perf_counter() - start < 0.5
    text = str(err.value)
    assert message in text and "\n" not in text, text
    return err.value


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("thompson", {"draws": 100_000_000}, f"policy.draws: got 100000000, expected an integer in [1, {MAX_POSTERIOR_DRAWS}]"),
        ("thompson", {"draws": 10**400}, f"expected an integer in [1, {MAX_POSTERIOR_DRAWS}]"),
        ("thompson", {"draws": 1e5}, "policy.draws: got 100000.0, expected an integer"),
        ("thompson", {"draws": True}, "policy.draws: got True"),
        ("thompson", {"draws": 0}, "policy.draws: got 0"),
        ("top-two-thompson", {"draws": 2 * MAX_POSTERIOR_DRAWS}, "policy.draws: got 2000000"),
        ("epsilon-greedy", {"decay": INF}, "policy.decay: got inf, expected a number in [0.0, 1e+12]"),
        ("epsilon-greedy", {"decay": 1e300}, "policy.decay: got 1e+300"),
        ("epsilon-greedy", {"epsilon": NAN}, "policy.epsilon: got nan"),
        ("ucb1", {"reward_range": INF}, "policy.reward_range: got inf, expected a number in (0.0, 1e+12]"),
        ("ucb1", {"reward_range": 10**400}, "policy.reward_range: got 1000"),
        ("kl-ucb", {"c": 1e16}, "policy.c: got 1e+16, expected a number in [0.0, 1e+12]"),
        ("kl-ucb", {"c": NAN}, "policy.c: got nan"),
        ("thompson", {"floor": True}, "policy.floor: got True"),
        ("thompson", {"floor": INF}, "policy.floor: got inf"),
        ("thompson", {"prior": {"alpha": INF}}, "policy.prior.alpha: got inf, expected a number in (0.0, 1e+12]"),
        ("thompson", {"prior": {"beta": 1e300}}, "policy.prior.beta: got 1e+300"),
        ("thompson", {"prior": {"model": "normal", "mu": -INF}}, "policy.prior.mu: got -inf, expected a number in [-1e+12, 1e+12]"),
        ("thompson", {"prior": {"model": "normal", "kappa": NAN}}, "policy.prior.kappa: got nan"),
        ("thompson", {"prior": {"model": "normal", "alpha": False}}, "policy.prior.alpha: got False"),
        ("thompson", {"prior": ["abc"]}, "policy.prior: got ['abc'], expected a table"),
        ("thompson", {"prior": {"model": ["normal"]}}, "policy.prior.model: got ['normal'], expected one of"),
        ("top-two-thompson", {"beta": INF}, "policy.beta: got inf, expected a number in [0.0, 1.0]"),
    ],
)
def test_over_bound_parameters_are_refused(name, params, message):
    refused(lambda: make_policy(name, params), message)


def test_policy_name_must_be_a_string():
    refused(lambda: make_policy(["thompson"]), "policy.name: got ['thompson'], expected one of thompson")  # type: ignore[arg-type]
    refused(lambda: make_prior(3), "prior: got 3, expected a table")  # type: ignore[arg-type]


def test_bounds_admit_the_largest_values():
    assert make_policy("thompson", {"draws": MAX_POSTERIOR_DRAWS}).draws == MAX_POSTERIOR_DRAWS
    assert make_policy("ucb1", {"reward_range": MAX_PARAM}).reward_range == MAX_PARAM
    assert make_policy("epsilon-greedy", {"decay": MAX_PARAM}).decay == MAX_PARAM
    assert make_policy("thompson", {"prior": {"model": "normal", "mu": -MAX_PARAM, "beta": MAX_PARAM}})


def test_probability_draws_is_the_work_of_one_update():
    assert make_policy("ucb1").probability_draws(4) == 4
    assert make_policy("thompson", {"draws": 1000}).probability_draws(4) == 4000
    assert make_policy("top-two-thompson", {"draws": 1000}).probability_draws(4) == 4000 * 5


def test_segmented_policy_bounds_the_number_of_segments():
    labels = tuple(str(i) for i in range(MAX_SEGMENTS + 1))
    err = refused(lambda: SegmentedPolicy(make_policy("ucb1"), labels),
                  f"segments: got {MAX_SEGMENTS + 1}, expected at most {MAX_SEGMENTS:,} distinct segments")
    assert err.field == "segments"
    assert SegmentedPolicy(make_policy("ucb1"), labels[:-1]).n_segments == MAX_SEGMENTS


EDGE = st.one_of(
    st.sampled_from([0, 1, -1, 2, 10**6, 10**9, 10**12, 10**13, 2**63, 10**400, 1e308, -1e308, 1e-300, 0.5,
                     INF, -INF, NAN, True, False, None, "1", [1], {"x": 1}]),
    st.integers(), st.floats(),
)


@settings(max_examples=300, deadline=500)
@given(name=st.sampled_from(sorted(POLICIES)), key=st.sampled_from(
    ["draws", "floor", "epsilon", "decay", "reward_range", "c", "beta", "prior.alpha", "prior.beta", "prior.mu",
     "prior.kappa"]), value=EDGE, normal=st.booleans())
def test_any_parameter_value_builds_a_bounded_policy_or_is_refused(name, key, value, normal):
    """make_policy never raises anything but InputError, and a policy it builds has finite,
    bounded parameters whose probabilities are a distribution."""
    params: dict = {}
    if key.startswith("prior."):
        params["prior"] = {"model": "normal" if normal else "bernoulli", key.split(".")[1]: value}
    else:
        params[key] = value
    try:
        policy = make_policy(name, params)
    except InputError:
        return
    for field, v in policy.params().items():
        values = v.values() if isinstance(v, dict) else [v]
        for x in values:
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                assert math.isfinite(x) and abs(x) <= MAX_PARAM, (field, x)
    if getattr(policy, "draws", 0) > 10_000:
        return  # valid, but keep the example fast
    state = ArmState(np.array([5.0, 9.0]), np.array([1.0, 4.0]), np.array([1.0, 4.0]))
    if key == "floor" and isinstance(value, (int, float)) and value > 1 / 2:
        # the floor's bound (at most 1/k) needs the number of arms: refused at the first use
        with pytest.raises(InputError, match="floor: got .* expected at most 1/2 with 2 arms"):
            policy.probabilities(state, rng=0)
        return
    p = policy.probabilities(state, rng=0)
    assert p.shape == (2,)
