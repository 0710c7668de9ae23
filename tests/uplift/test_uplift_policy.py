"""Targeting: on synthetic data whose optimal policy is known, the learned policy finds it and
beats every blanket policy off-policy; the promotion margin is the economics module's."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from uplift_synthetic import ARMS, FEATURES, optimal_action, synthetic, true_value

from promolab.analysis.economics import EconomicsConfig, economics_sql
from promolab.errors import InputError
from promolab.uplift.margin import parse_offer_costs, per_user_margin
from promolab.uplift.policy import choose, evaluate_targeting, share_threshold
from promolab.uplift.report import analyze_uplift


@pytest.fixture(scope="module")
def frame():
    return synthetic(6000, seed=11)


@pytest.fixture(scope="module")
def report(frame):
    return analyze_uplift(frame, treatment="arm", control="control", outcomes=["y"], features=FEATURES,
                          learners=["x", "t"], model="ridge", folds=4, seed=0)


def test_the_targeted_policy_finds_the_optimum_and_beats_every_blanket_policy(frame, report):
    t = report.targeting
    targeted, distilled = t.policies[0], t.policies[1]
    assert targeted.policy == "targeted: X-learner" and distilled.policy == "distilled: linear scores"
    optimum = optimal_action(frame)
    assert targeted.share == pytest.approx({a: float(np.mean(optimum == i)) for i, a in enumerate(ARMS)}, abs=0.05)
    best_blanket = max(true_value(frame, np.full(len(frame), a)) for a in range(3))
    assert true_value(frame, optimum) - best_blanket > 0.5
    for lift in t.lifts:
        assert lift.baseline == t.best_blanket
        assert lift.dr.lower > 0.3 and lift.ips.lower > 0.2, lift
    # the estimate is near the optimal policy's true value, the CIs cover it
    assert targeted.dr.lower < true_value(frame, optimum) < targeted.dr.upper
    assert abs(targeted.dr.value - distilled.dr.value) < 0.05  # a linear truth loses nothing in distillation
    assert report.notes == ()
    # the saved policy: the distilled weights, reproducing the learned decisions on the data
    agree = np.mean(report.policy.choose(frame) == optimum)
    assert agree > 0.9
    assert set(report.policy.value) == {"policy", "full_model", t.best_blanket}


def test_blanket_values_and_lifts_are_consistent(frame, report):
    t = report.targeting
    y, arm = frame["y"].to_numpy(), pd.Categorical(frame["arm"], categories=ARMS).codes
    for a, name in enumerate(ARMS):
        blanket = t.policy(f"no one ({name})" if a == 0 else f"everyone: {name}")
        # with the arm shares as propensities, IPS of "everyone gets a" is arm a's mean outcome
        assert blanket.ips.value == pytest.approx(y[arm == a].mean())
        assert blanket.share[name] == 1.0
    for lift in t.lifts:
        assert lift.dr.value == pytest.approx(t.policy(lift.policy).dr.value - t.policy(t.best_blanket).dr.value)
        assert lift.ips.value == pytest.approx(t.policy(lift.policy).ips.value - t.policy(t.best_blanket).ips.value)
    assert {e.learner for e in report.evaluations} == {"x", "t"}


def test_a_budget_treats_at_most_that_share():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(1000, 2))
    actions = choose(m, share_threshold(m, 0.31))
    assert 0.29 < np.mean(actions > 0) <= 0.31
    assert np.all(actions[m.max(axis=1) <= 0] == 0)
    assert share_threshold(-np.abs(m), 0.5) == 0.0  # never an offer whose margin is negative
    np.testing.assert_array_equal(choose(np.array([[0.2, 0.5], [-1.0, -0.1], [0.3, 0.1]])), [2, 0, 1])
    with pytest.raises(InputError, match="share"):
        share_threshold(m, 1.5)


def test_a_budget_policy_is_valued_and_named(frame):
    report = analyze_uplift(frame, treatment="arm", control="control", outcomes=["y"], features=FEATURES,
                            model="ridge", folds=3, share=0.2)
    targeted = report.targeting.policies[0]
    assert targeted.policy == "targeted: X-learner, top 20%"
    assert 1 - targeted.share["control"] <= 0.2 + 1e-9
    assert report.policy.threshold > 0
    assert np.mean(report.policy.choose(frame) > 0) == pytest.approx(0.2, abs=0.01)


def test_the_reward_is_the_economics_modules_margin():
    """per_user_margin equals the margin column economics_sql computes, per variant."""
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"arm": rng.choice(["control", "A", "B"], n),
                          "paid": rng.exponential(20, n) * (rng.random(n) < 0.4), "orders": rng.integers(0, 3, n)})
    config = EconomicsConfig("paid", orders="orders", margin_rate=0.4, revenue_cap=60.0,
                             costs={"A": {"discount_pct": 10, "per_user": 0.05},
                                    "B": {"shipping_cost": 4.5, "coupon_value": 2}})
    arm = pd.Categorical(frame["arm"], categories=["control", "A", "B"]).codes
    ours = per_user_margin(config, ["control", "A", "B"], arm, frame["paid"], frame["orders"])
    con = duckdb.connect()
    con.register("frame", frame.rename(columns={"arm": "variant"}))
    sums = con.execute(economics_sql("WITH analysis_users AS (SELECT * FROM frame)", "variant", config)).df()
    for row in sums.to_dict("records"):
        mask = frame["arm"].to_numpy() == row["variant"]
        assert ours[mask].sum() == pytest.approx(row["__margin__sum"])
    with pytest.raises(InputError, match="cost: got 'C'"):
        per_user_margin(EconomicsConfig("paid", costs={"C": {"per_user": 1.0}}), ["control", "A"], arm, frame["paid"])


def test_costs_parse_as_per_user_amounts_or_cost_keys():
    assert parse_offer_costs(["Mens E-Mail=0.1", "B:discount_pct=10,per_user=0.2", "B=0.3"]) == {
        "Mens E-Mail": {"per_user": 0.1}, "B": {"discount_pct": 10.0, "per_user": 0.3}}
    for bad in ("A", "A=", "=1", "A=-1", "A=nan", "A:per_user=-1"):
        with pytest.raises(InputError, match="cost"):
            parse_offer_costs([bad])


def test_evaluate_targeting_without_targeted_policies_values_the_blankets():
    rng = np.random.default_rng(2)
    arm = rng.integers(0, 2, 500)
    reward = rng.random(500)
    result = evaluate_targeting(reward, arm, np.array([0.5, 0.5]), np.zeros((500, 2)), ["c", "o"], {}, "y")
    assert [p.policy for p in result.policies] == ["no one (c)", "everyone: o"] and result.lifts == ()
