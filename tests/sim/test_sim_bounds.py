"""Every number that drives simulation or replay work has a bound, checked where it enters: a
scenario's fields and the totals they multiply into, ``--runs``/``--seed`` overrides, workers,
segments, replay batch sizes and the policy's draws, the peeking simulator's arguments.

Each over-bound value is refused quickly (well under a second: the bound is checked before any
work starts) with one line naming the field, the value and the bound.
"""

from __future__ import annotations

import copy
import math
import time
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promolab.bandits import make_policy
from promolab.bandits.segmented import MAX_SEGMENTS, SegmentedPolicy
from promolab.errors import InputError, SpecError
from promolab.sim import scenario as sc
from promolab.sim.grid import MAX_WORKERS, make_tasks, run_grid
from promolab.sim.logged import read_log
from promolab.sim.peeking import MAX_RUNS as MAX_PEEKING_RUNS
from promolab.sim.peeking import MAX_USERS_PER_LOOK, simulate_peeking
from promolab.sim.replay import replay
from promolab.sim.scenario import parse_scenario
from promolab.sim.segmented import (MAX_SHARE, evaluate_segmented, parse_segmented_scenario, replay_segmented,
                                    run_segmented, simulate_segmented)
from promolab.sim.simulate import simulate
from promolab.spec.vocabulary import MAX_LOOKS

INF, NAN = float("inf"), float("nan")
FAST = 0.5  # seconds: a refusal that takes longer checked its bound too late


def refused(call, *parts: str) -> InputError:
    """``call`` raises one InputError, fast, whose single line contains every part."""
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        call()
    elapsed = time.perf_counter() - start
    text = str(err.value)
    assert elapsed < FAST, f"{elapsed:.2f}s: {text}"
    assert "\n" not in text
    for part in parts:
        assert part in text, text
    return err.value


def good(**top) -> dict:
    data = {"name": "t", "horizon": 1000, "runs": 10, "batch_size": 10,
            "arms": {"names": ["a", "b"], "rate": [0.1, 0.2]}, "policies": [{"name": "ucb1"}]}
    data.update(top)
    return data


def arms(k: int) -> dict:
    return {"names": [f"a{i}" for i in range(k)], "rate": [0.1] * k}


# --------------------------------------------------------------------------- scenario fields


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("horizon", 10**9, sc.MAX_HORIZON),
        ("runs", 100_000_000, sc.MAX_RUNS),
        ("batch_size", 10**7, sc.MAX_BATCH_SIZE),
        ("delay", 10**4, sc.MAX_DELAY),
        ("checkpoints", 10**4, sc.MAX_CHECKPOINTS),
        ("users_per_day", 10**10, sc.MAX_USERS_PER_DAY),
        ("seed", 2**64, sc.MAX_SEED),
    ],
)
def test_scenario_integer_fields_are_bounded(field, value, bound):
    low = 2 if field == "checkpoints" else 0 if field in ("delay", "seed") else 1
    err = refused(lambda: parse_scenario(good(**{field: value}), source="s.toml"),
                  f"s.toml: {field}: got {value}, expected an integer in [{low}, {bound}]")
    assert err.field == field and err.source == "s.toml"


@pytest.mark.parametrize("value", [INF, NAN, 1e9, 1e308, True, -1, "100", None])
def test_scenario_integers_refuse_inf_nan_floats_and_bools(value):
    refused(lambda: parse_scenario(good(horizon=value)), "horizon: got ", "expected an integer in [1, ")


@pytest.mark.parametrize("value", [INF, -INF, NAN, 1e308, 10**400, True])
def test_scenario_numbers_refuse_inf_nan_huge_and_bools(value):
    refused(lambda: parse_scenario(good(margin_rate=value)), "margin_rate: got ")
    refused(lambda: parse_scenario(good(order_value_shape=value)), "order_value_shape: got ")
    refused(lambda: parse_scenario(good(arms={"names": ["a", "b"], "rate": [0.1, value]})), "arms.rate[1]: got ")
    refused(lambda: parse_scenario(good(arms={**arms(2), "weekend": [1.0, value]})), "arms.weekend[1]: got ")


def test_arms_and_policies_are_bounded():
    refused(lambda: parse_scenario(good(arms=arms(sc.MAX_ARMS + 1))),
            f"arms.names: got {sc.MAX_ARMS + 1}, expected at most {sc.MAX_ARMS} arms")
    refused(lambda: parse_scenario(good(arms=arms(10**6))), "arms.names: got 1000000")
    many = [{"name": "ucb1", "label": f"u{i}"} for i in range(sc.MAX_POLICIES + 1)]
    refused(lambda: parse_scenario(good(policies=many)),
            f"policies: got {sc.MAX_POLICIES + 1}, expected at most {sc.MAX_POLICIES} [[policies]] tables")
    scenario = parse_scenario(good())
    refused(lambda: scenario.with_policies(["ucb1"] * (sc.MAX_POLICIES + 1)),
            f"--policy: got {sc.MAX_POLICIES + 1}, expected between 1 and {sc.MAX_POLICIES} policies")


def test_policy_parameters_in_a_scenario_are_bounded():
    policy = {"name": "thompson", "draws": 10**8}
    refused(lambda: parse_scenario(good(policies=[policy]), source="s.toml"),
            "s.toml: policies[0].draws: got 100000000, expected an integer in [1, 1000000]")
    policy = {"name": "ucb1", "reward_range": INF}
    refused(lambda: parse_scenario(good(policies=[policy])), "policies[0].reward_range: got inf")


# --------------------------------------------------------------------------- totals


@pytest.mark.parametrize(
    ("data", "field", "bound"),
    [
        # 100,000 runs × 50,000 users × 4 arms × 3 policies of posterior draws
        (good(runs=100_000, horizon=50_000, batch_size=100, arms=arms(4),
              policies=[{"name": "ucb1"}, {"name": "thompson"}, {"name": "kl-ucb"}]),
         "runs × horizon × arms × policies", sc.MAX_WORK),
        # ten million single-user steps of Python
        (good(runs=1, horizon=10**7, batch_size=1), "⌈horizon / batch_size⌉ × policies", sc.MAX_STEPS),
        # a million users per step × 200 runs per task × 2 arms drawn at once
        (good(runs=201, horizon=10**6, batch_size=10**6), "batch_size × min(runs, 200) × arms", sc.MAX_ARRAY_CELLS),
        # a million steps × 20 arms of reward tables
        (good(runs=1, horizon=10**6, batch_size=1, arms=arms(20)), "⌈horizon / batch_size⌉ × arms",
         sc.MAX_TABLE_CELLS),
        # 100,000 runs × 1,000 checkpoints × 2 arms of trajectories
        (good(runs=100_000, horizon=1000, batch_size=1, checkpoints=1000), "runs × checkpoints × arms",
         sc.MAX_ARRAY_CELLS),
        # 1,000 pending batches × 200 runs × 60 arms
        (good(runs=400, horizon=1000, batch_size=1, delay=1000, arms=arms(60)), "delay × min(runs, 200) × arms",
         sc.MAX_TABLE_CELLS),
    ],
    ids=["work", "steps", "batch-memory", "tables", "trajectories", "pending"],
)
def test_totals_are_bounded(data, field, bound):
    err = refused(lambda: parse_scenario(data, source="s.toml"), f"s.toml: {field}: got ",
                  f"expected at most {bound:,}")
    assert err.field == field and err.value > bound


def test_the_largest_shipped_scenario_scaled_tenfold_still_fits():
    data = good(runs=2000, horizon=56_000, batch_size=200, arms=arms(5),
                policies=[{"name": "ucb1", "label": f"u{i}"} for i in range(3)])
    assert parse_scenario(data).runs == 2000


def test_runs_override_is_bounded_on_its_own_and_in_the_totals():
    scenario = parse_scenario(good(horizon=50_000, batch_size=100), source="s.toml")
    refused(lambda: make_tasks([scenario], runs=100_000_000),
            f"runs: got 100000000, expected an integer in [1, {sc.MAX_RUNS}]")
    refused(lambda: make_tasks([scenario], runs=100_000), "s.toml: runs × horizon × arms × policies: got 10000000000")
    refused(lambda: make_tasks([scenario], runs=True), "runs: got True")
    refused(lambda: make_tasks([scenario], seed=-1), "seed: got -1, expected an integer in [0, ")
    refused(lambda: make_tasks([scenario], chunk_runs=0), "chunk_runs: got 0")
    assert len(make_tasks([scenario], runs=1000)) == 5


def test_workers_and_direct_simulate_calls_are_bounded():
    scenario = parse_scenario(good())
    tasks = make_tasks([scenario])
    refused(lambda: run_grid(tasks, workers=100_000), f"workers: got 100000, expected an integer in [1, {MAX_WORKERS}]")
    policy = scenario.policies[0].policy
    refused(lambda: simulate(scenario, policy, 10**8, 0), f"runs: got 100000000, expected an integer in [1, {sc.MAX_RUNS}]")
    big = parse_scenario(good(horizon=10**5, batch_size=10**5))  # fine in tasks of 200 runs, not 5,000 at once
    refused(lambda: simulate(big, policy, 5_000, 0), "batch_size × runs × arms: got 1000000000")


# --------------------------------------------------------------------------- segmented scenarios


def segmented(segments: int = 2, **top) -> dict:
    data = good(**top)
    data["arms"] = {"names": ["a", "b"]}
    data["segments"] = [{"name": f"s{i}", "share": 1.0, "rate": [0.1, 0.2]} for i in range(segments)]
    return data


def test_segments_and_shares_are_bounded():
    refused(lambda: parse_segmented_scenario(segmented(MAX_SEGMENTS + 1), source="s.toml"),
            f"s.toml: segments: got {MAX_SEGMENTS + 1}, expected at most {MAX_SEGMENTS:,}")
    for share in (INF, NAN, 1e308, 0, -1, True, 10**400):
        data = segmented()
        data["segments"][1]["share"] = share
        refused(lambda: parse_segmented_scenario(data), "segments[1].share: got ", f"(0, {MAX_SHARE:g}]")
    data = segmented()
    data["arms"] = {"names": [f"a{i}" for i in range(sc.MAX_ARMS + 1)]}
    refused(lambda: parse_segmented_scenario(data), f"arms.names: got {sc.MAX_ARMS + 1}, expected at most")


def test_segmented_totals_count_segments():
    # 10,000 runs × 20,000 users × 2 arms = 4e8 fits alone; × 10 segments = 4e9 does not
    data = segmented(10, runs=10_000, horizon=20_000, batch_size=100)
    refused(lambda: parse_segmented_scenario(data), "runs × horizon × arms × segments × policies: got 4000000000")
    # segmented runs step together (not in tasks of 200): batch × runs × arms × segments of memory
    data = segmented(10, runs=20_000, horizon=1000, batch_size=1000)
    refused(lambda: parse_segmented_scenario(data), "batch_size × runs × arms × segments: got 400000000")


def test_segmented_run_overrides_are_bounded():
    scenario = parse_segmented_scenario(segmented(horizon=20_000, batch_size=100))
    refused(lambda: run_segmented(scenario, runs=10**8), f"runs: got 100000000, expected an integer in [1, {sc.MAX_RUNS}]")
    refused(lambda: run_segmented(scenario, runs=100_000), "runs × horizon × arms × segments × policies: got ")
    refused(lambda: run_segmented(scenario, runs=10, seed=-5), "seed: got -5")
    policy = scenario.base.policies[0].policy
    refused(lambda: simulate_segmented(scenario, policy, True, 10**6, 0), "runs: got 1000000, expected an integer")


# --------------------------------------------------------------------------- replay


def logged(rows: int, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(k, size=rows), (rng.random(rows) < 0.1).astype(float)


def test_replay_batch_size_arms_and_seed_are_bounded():
    action, reward = logged(100)
    policy = make_policy("ucb1")
    for bad in (0, 10**7, True, 2.5):
        refused(lambda: replay(action, reward, 3, policy, batch_size=bad), "batch_size: got ", "[1, 1000000]")
    refused(lambda: replay(action, reward, 10**4, policy), f"arms: got 10000, expected an integer in [1, {sc.MAX_ARMS}]")
    refused(lambda: replay(action, reward, 100, policy, batch_size=10**6),
            "batch_size × arms: got 100000000, expected at most 50,000,000")
    refused(lambda: replay(action, reward, 3, policy, seed=-1), "seed: got -1")


def test_replay_total_work_counts_the_policys_draws():
    action, reward = logged(1000)
    heavy = make_policy("thompson", {"draws": 1_000_000})  # 3 million draws per batch of 1 row
    err = refused(lambda: replay(action, reward, 3, heavy, batch_size=1),
                  "⌈rows / batch_size⌉ × draws per batch: got ", f"expected at most {sc.MAX_WORK:,}",
                  "raise batch_size")
    assert err.value == 1000 * (3_000_000 + sc.STEP_DRAWS) + 1000 * 3
    assert replay(action, reward, 3, heavy, batch_size=1000).accepted > 0  # one batch fits


def test_segmented_replay_counts_segments():
    action, reward = logged(10_000)
    segment = np.arange(10_000) % 1000
    labels = segment.astype(str)
    policy = SegmentedPolicy(make_policy("thompson"), tuple(sorted(set(labels))))
    refused(lambda: replay_segmented(action, reward, policy.index(labels), 3, policy, batch_size=100),
            "⌈rows / batch_size⌉ × draws per batch", "1,000 segments")


def test_logs_with_too_many_actions_or_segments_are_refused(tmp_path):
    rows = 2 * (sc.MAX_ARMS + 1)
    path = tmp_path / "log.csv"
    pd.DataFrame({"action": np.arange(rows) % (sc.MAX_ARMS + 1), "reward": 1.0}).to_csv(path, index=False)
    refused(lambda: read_log(path, uniform=True), f"action: got {sc.MAX_ARMS + 1}, expected at most {sc.MAX_ARMS}")
    pd.DataFrame({"action": np.arange(2000) % 2, "reward": 1.0}).to_csv(path, index=False)
    log = read_log(path, uniform=True)
    user_ids = np.arange(2000).astype(str)  # an id column given as the segment column
    refused(lambda: evaluate_segmented(log, user_ids, make_policy("ucb1")),
            f"segments: got 2000, expected at most {MAX_SEGMENTS:,} distinct segments")


# --------------------------------------------------------------------------- peeking


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"looks": 100_000_000}, f"looks: got 100000000, expected an integer in [1, {MAX_LOOKS}]"),
        ({"looks": MAX_LOOKS + 1}, f"looks: got {MAX_LOOKS + 1}, expected an integer in [1, {MAX_LOOKS}]"),
        ({"runs": 100_000_000}, f"runs: got 100000000, expected an integer in [1, {MAX_PEEKING_RUNS}]"),
        ({"users_per_look": 10**12}, f"users_per_look: got 1000000000000, expected an integer in [1, {MAX_USERS_PER_LOOK}]"),
        ({"looks": True}, "looks: got True"),
        ({"runs": 1e4}, "runs: got 10000.0"),
        ({"seed": -1}, "seed: got -1, expected an integer in [0, "),
        ({"seed": 2**64}, "seed: got 18446744073709551616"),
        ({"rate": NAN}, "rate: got nan"),
        ({"alpha": INF}, "alpha: got inf"),
    ],
)
def test_peeking_arguments_are_bounded(kwargs, message):
    refused(lambda: simulate_peeking(**{"looks": 3, "runs": 10, **kwargs}), message)


def test_peeking_at_its_bounds_runs():
    assert simulate_peeking(looks=MAX_LOOKS, runs=20, users_per_look=MAX_USERS_PER_LOOK, seed=0).looks == MAX_LOOKS


# --------------------------------------------------------------------------- property: parse never misbehaves

EDGE_NUMBERS = st.one_of(
    st.sampled_from([0, 1, 2, -1, 10, 10**6, 10**8, 10**9, 10**12, 2**63 - 1, 2**63, 2**64, 10**400, 1e308, -1e308,
                     1e-300, 0.5, 1.0, 1e9, INF, -INF, NAN, True, False]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
# half the time a plausible value, so that parsing gets past one bad field to the next check
MAYBE = st.one_of(EDGE_NUMBERS, st.integers(min_value=0, max_value=10**6), st.floats(min_value=0, max_value=1))
INT_FIELDS = ["horizon", "runs", "batch_size", "delay", "users_per_day", "checkpoints", "seed"]
FLOAT_FIELDS = ["margin_rate", "order_value_shape"]
ARM_FIELDS = ["rate", "order_value", "discount", "fatigue", "weekend"]
POLICY_PARAMS = {"thompson": ["draws", "floor", "prior"], "top-two-thompson": ["draws", "beta", "floor"],
                 "ucb1": ["reward_range", "floor"], "kl-ucb": ["c", "floor"], "epsilon-greedy": ["epsilon", "decay"]}


@st.composite
def scenario_dicts(draw, with_segments: bool = False) -> dict:
    data = good(horizon=draw(st.sampled_from([100, 1000, 10**5])), runs=draw(st.sampled_from([1, 10, 1000])))
    for key in draw(st.lists(st.sampled_from(INT_FIELDS + FLOAT_FIELDS), unique=True, max_size=3)):
        data[key] = draw(MAYBE)
    k = draw(st.sampled_from([2, 2, 3, 5, sc.MAX_ARMS, sc.MAX_ARMS + 1]))
    table: dict = {"names": [f"a{i}" for i in range(k)], "rate": [0.1] * k}
    for key in draw(st.lists(st.sampled_from(ARM_FIELDS), unique=True, max_size=3)):
        values = [draw(st.sampled_from([0.0, 0.5, 1.0]))] * k
        values[draw(st.integers(0, k - 1))] = draw(MAYBE)
        table[key] = values
    data["arms"] = table
    if data.get("reward") is None and "order_value" in table:
        data["reward"] = draw(st.sampled_from(["conversion", "revenue", "margin"]))
    policies = []
    for i in range(draw(st.sampled_from([1, 1, 2, 3, sc.MAX_POLICIES + 1]))):
        name = draw(st.sampled_from(sorted(POLICY_PARAMS)))
        entry: dict = {"name": name, "label": f"p{i}"}
        for param in draw(st.lists(st.sampled_from(POLICY_PARAMS[name]), unique=True, max_size=2)):
            if param == "prior":
                entry["prior"] = {"model": "normal", draw(st.sampled_from(["mu", "kappa", "alpha", "beta"])):
                                  draw(MAYBE)}
            else:
                entry[param] = draw(MAYBE)
        policies.append(entry)
    data["policies"] = policies
    if with_segments:
        s = draw(st.sampled_from([1, 2, 2, 10, 100, MAX_SEGMENTS + 1]))
        data["arms"] = {"names": table["names"]}
        data["segments"] = [{"name": f"s{i}", "share": 1.0, "rate": [0.1] * k} for i in range(s)]
        if draw(st.booleans()):
            data["segments"][0]["share"] = draw(MAYBE)
        if draw(st.booleans()):
            data["segments"][-1]["rate"] = [draw(MAYBE)] * k
    return data


def _finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isfinite(value)
    return True


def assert_within_bounds(scenario: sc.Scenario, segments: int = 1) -> None:
    for key, (low, high) in sc._INTS.items():
        value = getattr(scenario, key)
        assert type(value) is int and low <= value <= high, (key, value)
    for key, (low, high) in sc._FLOATS.items():
        assert low <= getattr(scenario, key) <= high
    k, n_pol, runs = scenario.arms.k, len(scenario.policies), scenario.runs
    assert 2 <= k <= sc.MAX_ARMS and 1 <= n_pol <= sc.MAX_POLICIES
    for key in ARM_FIELDS:
        column = getattr(scenario.arms, key)
        assert column is None or bool(np.isfinite(column).all())
    assert runs * scenario.horizon * k * segments * n_pol <= sc.MAX_WORK
    assert scenario.steps * k * segments <= sc.MAX_TABLE_CELLS
    assert runs * min(scenario.checkpoints, scenario.steps) * k <= sc.MAX_ARRAY_CELLS
    for entry in scenario.policies:
        params = entry.policy.params()
        assert all(_finite_numbers(v) for v in params.values()), params
        assert params.get("draws", 1) <= 1_000_000


HYPOTHESIS = settings(max_examples=300, deadline=timedelta(milliseconds=500),
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@HYPOTHESIS
@given(scenario_dicts())
def test_any_scenario_parses_within_bounds_or_is_refused(data):
    original = copy.deepcopy(data)
    try:
        scenario = parse_scenario(data, source="h.toml")
    except (InputError, SpecError) as err:
        assert "\n" not in str(err)
        return
    assert_within_bounds(scenario)
    assert repr(data) == repr(original)  # parsing does not mutate its input


@HYPOTHESIS
@given(scenario_dicts(with_segments=True))
def test_any_segmented_scenario_parses_within_bounds_or_is_refused(data):
    try:
        scenario = parse_segmented_scenario(data, source="h.toml")
    except (InputError, SpecError) as err:
        assert "\n" not in str(err)
        return
    assert_within_bounds(scenario.base, len(scenario.segments))
    assert len(scenario.segments) <= MAX_SEGMENTS
    assert np.isfinite(scenario.shares).all() and abs(scenario.shares.sum() - 1) < 1e-9
    assert ((scenario.rates >= 0) & (scenario.rates <= 1)).all()
