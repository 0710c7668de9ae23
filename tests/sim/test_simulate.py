"""Environment, vectorised simulation, metrics and the process-pool grid."""

import json

import numpy as np
import pytest
from scipy import stats

from promolab.bandits import make_policy
from promolab.sim.environment import Environment
from promolab.sim.grid import make_tasks, run_grid
from promolab.sim.metrics import lai_robbins_coefficient, summarise
from promolab.sim.scenario import parse_scenario
from promolab.sim.simulate import _simulate, simulate


def scenario(**extra):
    arms = {"names": ["none", "10%", "20%"], "rate": [0.03, 0.036, 0.042], **extra.pop("arms", {})}
    return parse_scenario({"horizon": 2000, "batch_size": 100, "arms": arms,
                           "policies": [{"name": "thompson"}, {"name": "ucb1"}], **extra})


def test_rates_with_fatigue_and_weekend():
    env = Environment.build(scenario(users_per_day=500, arms={"fatigue": [0.0, 0.5, 0.0], "weekend": [1.0, 1.0, 2.0]}))
    # user 0: Monday, no fatigue; user 1900: day 3 (Thursday), 10%-arm at 1 - 0.5·0.95
    np.testing.assert_allclose(env.rates[0], [0.03, 0.036, 0.042])
    np.testing.assert_allclose(env.rates[19], [0.03, 0.036 * (1 - 0.5 * 1900 / 2000), 0.042])
    weekend = parse_scenario({"horizon": 7000, "batch_size": 1000, "users_per_day": 1000,
                              "arms": {"names": ["a", "b"], "rate": [0.1, 0.1], "weekend": [1.0, 1.5]},
                              "policies": [{"name": "ucb1"}]})
    np.testing.assert_allclose(Environment.build(weekend).rates[:, 1], [0.1] * 5 + [0.15, 0.15])


def test_margin_reward_and_discount_draws_match_expectations():
    sc = scenario(reward="margin", margin_rate=0.35,
                  arms={"order_value": [60.0, 58.0, 55.0], "discount": [0.0, 0.1, 0.2]},
                  policies=[{"name": "ucb1", "reward_range": 60.0}])
    env = Environment.build(sc)
    expected = np.array([0.03, 0.036, 0.042]) * [60.0, 58.0, 55.0] * (0.35 - np.array([0.0, 0.1, 0.2]))
    np.testing.assert_allclose(env.mean_reward[0], expected)
    counts = np.full((50, 3), 20_000)
    fb = env.draw(0, counts, np.random.default_rng(0))
    np.testing.assert_allclose(fb.sum.sum(axis=0) / 1e6, expected, rtol=0.03)
    discount = np.array([0.03, 0.036, 0.042]) * [60.0, 58.0, 55.0] * [0.0, 0.1, 0.2]
    np.testing.assert_allclose(fb.discount.sum(axis=0) / 1e6, discount, rtol=0.03)
    # Σy² of Gamma(k, v/k) values: E[y²] = v²(1 + 1/k)·(g − d)² per conversion
    second = np.array([0.03, 0.036, 0.042]) * np.array([60.0, 58.0, 55.0]) ** 2 * 1.5 * (0.35 - np.array([0, 0.1, 0.2])) ** 2
    np.testing.assert_allclose(fb.sum_sq.sum(axis=0) / 1e6, second, rtol=0.05)


@pytest.mark.parametrize(("batch_size", "horizon"), [(100, 2000), (1, 1000)])
def test_simulation_is_reproducible_and_delay_holds_back_feedback(batch_size, horizon):
    sc = scenario(batch_size=batch_size)
    a = simulate(sc, make_policy("thompson"), 20, seed=5)
    b = simulate(sc, make_policy("thompson"), 20, seed=5)
    np.testing.assert_array_equal(a.regret, b.regret)
    blind = parse_scenario({"horizon": horizon, "batch_size": batch_size, "delay": horizon // batch_size,
                            "arms": {"names": ["a", "b", "c"], "rate": [0.1, 0.5, 0.9]}, "policies": [{"name": "thompson"}]})
    batch = simulate(blind, make_policy("thompson"), 200, seed=1)
    share = batch.pulls[:, -1].sum(axis=0) / batch.pulls[:, -1].sum()
    np.testing.assert_allclose(share, 1 / 3, atol=0.01)  # no feedback ever arrives: uniform


def test_summary_curves_and_json():
    sc = scenario(arms={"order_value": [60.0, 58.0, 55.0], "discount": [0.0, 0.1, 0.2]})
    batch = simulate(sc, make_policy("thompson"), 50, seed=2)
    summary = summarise(batch, sc, "thompson", make_policy("thompson").to_dict())
    assert summary.regret.mean.shape == summary.users.shape == summary.p_best.shape
    assert np.all(np.diff(summary.regret.mean) >= 0)
    np.testing.assert_allclose(summary.allocation.sum(axis=1), 1.0)
    assert summary.discount_spent.mean[0] > 0 and summary.margin_lost is not None
    mu = np.array([0.03, 0.036, 0.042])
    by_hand = (0.042 - 0.03) / (0.03 * np.log(0.03 / 0.042) + 0.97 * np.log(0.97 / 0.958)) + (0.042 - 0.036) / (
        0.036 * np.log(0.036 / 0.042) + 0.964 * np.log(0.964 / 0.958))
    assert abs(lai_robbins_coefficient(mu) - by_hand) < 1e-9
    np.testing.assert_allclose(summary.lai_robbins, by_hand * np.log(summary.users))
    json.dumps(summary.to_dict())


def test_grid_is_reproducible_across_worker_counts():
    scenarios = [scenario(), scenario(name="other", seed=9)]
    tasks = make_tasks(scenarios, runs=30, chunk_runs=10)
    assert len(tasks) == 2 * 2 * 3
    one = run_grid(tasks, workers=1)
    two = run_grid(tasks, workers=2)
    assert [(s.scenario, s.policy) for s in one] == [(s.scenario, s.policy) for s in two]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.regret.mean, b.regret.mean)
        assert a.runs == 30
    # a policy's results do not depend on which other policies are in the grid
    alone = run_grid(make_tasks([scenarios[0].with_policies(["ucb1"])], runs=30, chunk_runs=10))
    np.testing.assert_array_equal(alone[0].regret.mean, one[1].regret.mean)


def assert_same_mean(a: np.ndarray, b: np.ndarray) -> None:
    """Welch z of two independent samples' means within 4 (a false alarm 1 time in 16,000)."""
    se = np.hypot(a.std(ddof=1) / np.sqrt(a.size), b.std(ddof=1) / np.sqrt(b.size))
    assert abs(a.mean() - b.mean()) <= 4 * se, (a.mean(), b.mean(), se)


@pytest.mark.parametrize("reward", ["conversion", "revenue", "margin"])
def test_one_user_draws_have_the_law_of_the_batch_draw(reward):
    """``draw_users`` (a uniform per run, an order value per conversion) gives a user's y, y² and
    discount the distribution ``draw`` gives a batch of one (a binomial per run and arm)."""
    sc = scenario(reward=reward, arms={"order_value": [60.0, 58.0, 55.0], "discount": [0.0, 0.1, 0.2],
                                       "rate": [0.3, 0.5, 0.7]}, policies=[{"name": "epsilon-greedy"}])
    env, rng, runs = Environment.build(sc), np.random.default_rng(3), 60_000
    arms = np.arange(runs) % 3
    users = env.draw_users(0, arms, rng)
    batch = env.draw(0, (arms[:, None] == np.arange(3)).astype(np.int64), rng)
    for arm in range(3):
        mine = arms == arm
        for one, many in [(users.sum, batch.sum), (users.sum_sq, batch.sum_sq), (users.discount, batch.discount)]:
            assert_same_mean(one[mine], many[mine, arm])


PRICED = {"order_value": [60.0, 58.0, 55.0], "discount": [0.0, 0.1, 0.2], "fatigue": [0.0, 0.3, 0.0]}


@pytest.mark.parametrize(("policy", "extra", "arms"), [
    ("thompson", {}, {}),
    ("ucb1", {"delay": 100}, {}),
    ("epsilon-greedy", {"reward": "margin"}, PRICED),
])
def test_one_user_steps_match_the_general_path_in_distribution(policy, extra, arms):
    """With ``batch_size = 1`` the simulator steps one user per run (``draw_users``, in-place
    counts): another random stream than the general batch path, so the two are compared in law
    over independent runs: final regret (Welch z and Kolmogorov-Smirnov), allocation, best-arm
    identification, and with order values discount spent and margin lost."""
    sc = parse_scenario({"horizon": 1500, "checkpoints": 5, "users_per_day": 200,
                         "arms": {"names": ["a", "b", "c"], "rate": [0.1, 0.15, 0.2], **arms},
                         "policies": [{"name": policy}], **extra})
    assert sc.batch_size == 1
    fast, general = (_simulate(sc, make_policy(policy), 400, seed, None, per_user=per_user)
                     for seed, per_user in [(1, True), (2, False)])
    np.testing.assert_array_equal(fast.users, general.users)
    np.testing.assert_array_equal(fast.pulls.sum(axis=2), np.broadcast_to(fast.users, fast.regret.shape))
    assert_same_mean(fast.regret[:, -1], general.regret[:, -1])
    assert stats.ks_2samp(fast.regret[:, -1], general.regret[:, -1]).pvalue > 1e-3
    for arm in range(3):
        assert_same_mean(fast.pulls[:, -1, arm], general.pulls[:, -1, arm])
    assert_same_mean(fast.identified.astype(float).ravel(), general.identified.astype(float).ravel())
    if sc.arms.order_value is not None:
        assert_same_mean(fast.discount, general.discount)
        assert_same_mean(fast.margin_lost, general.margin_lost)
