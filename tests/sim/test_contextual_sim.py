"""Contextual scenarios: the shipped Hillstrom scenario loads, its true model is what the TOML
declares, contextual policies beat every context-free policy (and the best single offer),
runs are reproducible, and bad scenarios fail with one line naming file, field and value."""

import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from promolab.data import hillstrom_frame
from promolab.errors import InputError
from promolab.sim.contextual import run_contextual, simulate_contextual
from promolab.sim.contextual_scenario import (MAX_CONTEXTUAL_WORK, is_contextual_file, load_contextual_scenario,
                                              parse_contextual_scenario)

HILLSTROM = Path(__file__).resolve().parents[2] / "simulations" / "contextual" / "hillstrom.toml"
RAW = tomllib.loads(HILLSTROM.read_text())
RAW_FEATURE = {f["name"]: (f.get("center", 0.0), f.get("scale", 1.0)) for f in RAW["features"] if f["kind"] == "numeric"}


@pytest.fixture(scope="module")
def scenario():
    return load_contextual_scenario(HILLSTROM)


def test_true_model_is_the_declared_logistic_response(scenario):
    frame = hillstrom_frame()
    pop = scenario.population
    assert pop.X.shape == (64_000, 12) and scenario.features.columns[0] == "intercept"
    rows = [0, 1, 2, 63_999]
    for i, arm in enumerate(RAW["arms"]):
        coef = arm["coef"]
        z = coef["intercept"] + sum(w * (frame[col] - RAW_FEATURE[col][0]) / RAW_FEATURE[col][1]
                                    for col, w in coef.items() if col in RAW_FEATURE)
        z = z + sum(w * (frame[col.split("=")[0]] == col.split("=")[1]) for col, w in coef.items() if "=" in col)
        p = 1 / (1 + np.exp(-z.to_numpy()[rows]))
        np.testing.assert_allclose(pop.rate[rows, i], p, rtol=1e-12)
        np.testing.assert_allclose(pop.mean[rows, i], arm["value"] * p - arm.get("cost", 0.0), rtol=1e-12)
    assert pop.segments == ("Rural", "Surburban", "Urban")
    assert (pop.gaps >= 0).all() and (pop.gaps.min(axis=1) == 0).all()


def test_contextual_policies_beat_every_context_free_policy(scenario):
    report = run_contextual(scenario, runs=8, seed=1)
    regret = {r.policy: r.regret.mean[-1] for r in report.results}
    contextual = [r.policy for r in report.results if r.contextual]
    free = [r.policy for r in report.results if not r.contextual]
    assert set(contextual) == {"linucb", "lin-ts", "logistic-ts"} and set(free) == {"thompson", "ucb1"}
    assert max(regret[p] for p in contextual) < min(regret[p] for p in free)
    assert max(regret[p] for p in contextual) < 0.7 * scenario.best_fixed_regret < min(regret[p] for p in free)
    linucb = next(r for r in report.results if r.policy == "linucb")
    # it learnt who gets which offer: rural customers mostly free shipping, urban mostly 10 % off
    shares = dict(zip(report.scenario.population.segments, linucb.segment_share))
    assert shares["Rural"][2] > 0.6 and shares["Urban"][1] > 0.6
    assert linucb.final_regret.mean[0] < 0.5 * (scenario.population.oracle_value - scenario.population.offer_values.max())
    data = report.to_dict()
    assert data["kind"] == "contextual" and data["oracle"]["best_fixed_offer"] == "10% off"
    assert data["results"][0]["allocation_by_segment"]["Rural"].keys() == {"no offer", "10% off", "free shipping"}


def test_same_seed_same_runs_and_every_policy_sees_the_same_customers(scenario):
    small = replace(scenario, horizon=2_000)
    entry = small.policies[0]
    a, b = simulate_contextual(small, entry, 3, seed=5), simulate_contextual(small, entry, 3, seed=5)
    np.testing.assert_array_equal(a.regret, b.regret)
    np.testing.assert_array_equal(a.segment_pulls, b.segment_pulls)
    assert not np.array_equal(a.regret, simulate_contextual(small, entry, 3, seed=6).regret)
    # customers are drawn from the world's stream, not the policy's: the segment mix is shared
    other = simulate_contextual(small, small.policies[3], 3, seed=5)
    np.testing.assert_array_equal(a.segment_pulls.sum(axis=2), other.segment_pulls.sum(axis=2))


def test_shipped_file_is_recognised_as_contextual():
    assert is_contextual_file(HILLSTROM)
    assert not is_contextual_file(HILLSTROM.parents[1] / "coupons.toml")


def _edit(**changes):
    data = {**RAW, **changes}
    return {k: v for k, v in data.items() if v is not None}


PLAIN = [{"name": a["name"], "coef": {"intercept": -2.0}} for a in RAW["arms"]]


def _arm(i, **changes):
    arms = [dict(a) for a in RAW["arms"]]
    arms[i].update(changes)
    return arms


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_edit(link="probit"), "link: got 'probit', expected one of logistic, linear"),
        (_edit(data="criteo"), "data: got 'criteo', expected one of hillstrom"),
        (_edit(segment="history"), "segment: got 'history', expected a column with at most 1,000 distinct values"),
        (_edit(segment="income"), "segment: got 'income', expected a column of the hillstrom table"),
        (_edit(horizon=0), "horizon: got 0, expected an integer in [1, 100000000]"),
        (_edit(runs=1e3), "runs: got 1000.0, expected an integer"),
        (_edit(arms=RAW["arms"][:1]), "arms: got 1, expected 2 to 100 [[arms]] tables"),
        (_edit(arms=_arm(0, coef={"age": 1.0})), "arms[0].coef.age: got 1.0, expected a weight on an encoded column: "
                                                 "intercept, recency"),
        (_edit(arms=_arm(1, coef={"intercept": float("inf")})), "arms[1].coef.intercept: got inf, expected a number in"),
        (_edit(arms=_arm(2, value=-1.0)), "arms[2].value: got -1.0, expected a number in [0.0, 1e+12]"),
        (_edit(arms=_arm(2, cost="free")), "arms[2].cost: got 'free'"),
        (_edit(arms=_arm(0, colour="red")), "arms[0]: got"),
        (_edit(arms=_arm(1, name="no offer")), "arms.name: got ['no offer', 'no offer', 'free shipping'], expected distinct"),
        (_edit(features=[{"name": "age", "kind": "numeric"}], arms=PLAIN), "features (context.age): got None, expected a column"),
        (_edit(features=[{"name": "zip_code", "kind": "categorical", "categories": ["Urban"]}], arms=PLAIN),
         "features (context.zip_code[row 0]): got 'Surburban', expected one of Urban"),
        (_edit(features=[{"name": "recency", "kind": "ordinal"}]), "features.recency.kind: got 'ordinal'"),
        (_edit(policies=[{"name": "neural"}]), "policies[0].name: got 'neural', expected one of linucb, lin-ts, "
                                               "logistic-ts, thompson"),
        (_edit(policies=[{"name": "linucb", "alpha": -1}]), "policies[0].alpha: got -1"),
        (_edit(policies=[{"name": "logistic-ts", "value": [1.0]}]), "policies[0].value: got [1.0], expected one number "
                                                                    "per offer (3)"),
        (_edit(policies=[{"name": "linucb", "floor": 0.5}]), "policies[0].floor: got 0.5, expected at most 1/3"),
        (_edit(policies=[{"name": "linucb"}, {"name": "linucb"}]), "policies.label: got ['linucb', 'linucb']"),
        (_edit(arms=_arm(0, value=2.0), policies=[{"name": "kl-ucb"}]),
         "policies[0].name: got 'kl-ucb', expected a policy for rewards outside [0, 1]"),
        (_edit(runs=100_000), f"runs × horizon × arms × dim² × policies: got 4320000000000, expected at most "
                              f"{MAX_CONTEXTUAL_WORK:,}"),
        (_edit(horizon=10**6, batch_size=1, runs=1), "⌈horizon / batch_size⌉ × policies: got 5000000"),
        (_edit(colour="red"), "colour: got 'red', expected a contextual scenario field"),
    ],
)
def test_bad_scenarios_are_refused_naming_file_and_field(data, message):
    with pytest.raises(InputError) as err:
        parse_contextual_scenario(data, source="bad.toml")
    text = str(err.value)
    assert text.startswith("bad.toml: ") and message in text and "\n" not in text, text


def test_policy_override_and_run_override_are_bounded(scenario):
    assert [e.label for e in scenario.with_policies(["lin-ts", "epsilon-greedy"]).policies] == ["lin-ts",
                                                                                               "epsilon-greedy"]
    with pytest.raises(InputError, match="--policy.name: got 'neural'"):
        scenario.with_policies(["neural"])
    with pytest.raises(InputError, match="runs: got 0"):
        run_contextual(scenario, runs=0)
