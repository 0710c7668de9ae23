"""``evaluate_target``: a policy given as an (n, K) array, its importance-weight diagnostics
(computed here by hand) and the warnings they raise; the replay walk against a plain loop."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from promolab.bandits import ArmState, Policy, make_policy
from promolab.errors import InputError
from promolab.sim.evaluation import evaluate_target
from promolab.sim.logged import LoggedData
from promolab.sim.ope import switch_dr
from promolab.sim.ope_intervals import Resampling
from promolab.sim.replay import evaluate_policy, replay

FAST = Resampling(n_bootstrap=100)


def log_of(action, reward, propensity, arms=("a", "b", "c")):
    return LoggedData("mem", arms, np.asarray(action), np.asarray(reward, dtype=float), np.asarray(propensity, float))


def test_diagnostics_by_hand():
    """w = π_e(aᵢ)/π_b(aᵢ) = (1.6, 0, 0.4, 2): ESS = 4²/(2.56 + 0.16 + 4) = 2.381, mean 1, max 2;
    row 1's logged action has target probability 0; rows 0 and 3 put mass on c, never logged."""
    log = log_of([0, 1, 1, 0], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])
    target = np.array([[0.8, 0.0, 0.2], [0.5, 0.0, 0.5], [0.8, 0.2, 0.0], [1.0, 0.0, 0.0]])
    d = evaluate_target(log, target, resampling=FAST).diagnostics
    assert d.ess == pytest.approx(16 / 6.72) and d.ess_share == pytest.approx(16 / 6.72 / 4)
    assert (d.max_weight, d.mean_weight, d.zero_target_share) == pytest.approx((2.0, 1.0, 0.25))
    assert d.unlogged_support_share == pytest.approx(0.5)


def test_warnings_for_small_ess_wrong_propensities_unlogged_actions():
    rng = np.random.default_rng(0)
    n = 5000
    action = rng.integers(3, size=n)
    reward = (rng.random(n) < 0.1).astype(float)
    fine = evaluate_target(log_of(action, reward, np.full(n, 1 / 3)), np.array([0.2, 0.3, 0.5]), resampling=FAST)
    assert fine.warnings == ()
    # propensities of a 2-arm test on a 3-arm log: every weight is 2/3 of what it should be
    wrong = evaluate_target(log_of(action, reward, np.full(n, 0.5)), np.array([0.2, 0.3, 0.5]), resampling=FAST)
    assert len(wrong.warnings) == 1 and "mean importance weight 0.66" in wrong.warnings[0]
    # a target that plays only what was logged 0.2 % of the time: ESS = the ≈ 10 rows that logged it
    logging = np.array([0.499, 0.499, 0.002])
    skewed = rng.choice(3, size=n, p=logging)
    narrow = evaluate_target(log_of(skewed, reward, logging[skewed]), np.array([0, 0, 1.0]), resampling=FAST)
    assert narrow.diagnostics.ess == pytest.approx((skewed == 2).sum())
    assert [w[:21] for w in narrow.warnings] == ["effective sample size"]
    unseen = evaluate_target(log_of(action % 2, reward, np.full(n, 0.5)), np.array([0.4, 0.4, 0.2]), resampling=FAST)
    assert any("actions never logged" in w for w in unseen.warnings)


def test_a_target_array_must_fit_the_log():
    log = log_of([0, 1], [1, 0], [0.5, 0.5], arms=("a", "b"))
    with pytest.raises(InputError, match=r"^target: got \(3,\), expected one column per action of the log \(2\)"):
        evaluate_target(log, np.array([0.2, 0.3, 0.5]))
    with pytest.raises(InputError, match=r"^target\[row 1\]: got 0.9, expected probabilities"):
        evaluate_target(log, np.array([[0.5, 0.5], [0.4, 0.5]]))
    with pytest.raises(InputError, match=r"^q_hat: got \(3,\), expected a reward model of shape \(2, 2\) or \(2,\)"):
        evaluate_target(log, np.array([0.5, 0.5]), np.zeros(3))
    with pytest.raises(InputError, match=r"^tau: got -1.0, expected an importance-weight threshold >= 0"):
        switch_dr(np.array([1.0, 0.0]), np.array([0, 1]), np.array([0.5, 0.5]), np.array([0.5, 0.5]), np.zeros(2), -1.0)


def test_a_given_model_is_held_fixed_and_said_so():
    rng = np.random.default_rng(3)
    action = rng.integers(2, size=300)
    log = log_of(action, (rng.random(300) < 0.3).astype(float), np.full(300, 0.5), arms=("a", "b"))
    assert evaluate_target(log, np.array([0.5, 0.5]), resampling=FAST).reward_model == "cell means"
    given = evaluate_target(log, np.array([0.5, 0.5]), np.array([0.3, 0.3]), resampling=FAST)
    assert given.reward_model == "given" and given.estimate("dm").value == pytest.approx(0.3)
    assert set(given.to_dict()["estimates"]) == {"ips", "snips", "dr"}
    assert set(given.to_dict()["reward_model_estimates"]) == {"dm", "switch-dr"}


class Cycle(Policy):
    """Plays arm (number of accepted rows) mod K: deterministic, so two replays must agree row by row."""

    name: ClassVar[str] = "cycle"

    def weights(self, state: ArmState, rng: np.random.Generator) -> np.ndarray:
        return np.eye(state.n_arms)[(state.total.astype(int) % state.n_arms)]


def plain_replay(action, reward, k, batch_size):
    """Li et al.'s replay, one batch at a time, for the Cycle policy."""
    accepted, targets, pulls = np.zeros(action.size, bool), np.zeros((action.size, k)), 0
    for start in range(0, action.size, batch_size):
        rows = slice(start, start + batch_size)
        targets[rows, pulls % k] = 1.0
        accepted[rows] = action[rows] == pulls % k
        pulls += int(accepted[rows].sum())
    return accepted, targets


@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_the_replay_walk_matches_a_plain_loop(batch_size):
    rng = np.random.default_rng(batch_size)
    action, reward = rng.integers(3, size=1000), rng.random(1000)
    accepted, targets = plain_replay(action, reward, 3, batch_size)
    result = replay(action, reward, 3, Cycle(), batch_size=batch_size, with_targets=True, resampling=FAST)
    assert result.accepted == accepted.sum()
    assert result.estimate.value == pytest.approx(reward[accepted].mean())
    np.testing.assert_array_equal(result.targets, targets)
    assert result.state.n.sum() == accepted.sum()


def test_targets_do_not_change_the_replay():
    rng = np.random.default_rng(4)
    action, reward = rng.integers(3, size=2000), (rng.random(2000) < 0.2).astype(float)
    for policy in (make_policy("thompson", {"draws": 500}), make_policy("ucb1")):
        plain = replay(action, reward, 3, policy, seed=9, batch_size=3)
        with_targets = replay(action, reward, 3, policy, seed=9, batch_size=3, with_targets=True)
        assert plain.estimate == with_targets.estimate and plain.accepted == with_targets.accepted
        assert np.allclose(with_targets.targets.sum(axis=1), 1)


def test_few_accepted_rows_are_warned():
    rng = np.random.default_rng(6)
    k = 25  # uniform over 25 actions: a policy matches 4 % of rows
    action = rng.integers(k, size=1200)
    log = LoggedData("mem", tuple(map(str, range(k))), action, (rng.random(1200) < 0.1).astype(float),
                     np.full(1200, 1 / k))
    evaluation = evaluate_policy(log, make_policy("ucb1"), batch_size=50, resampling=FAST)
    assert evaluation.replay.accepted < 100
    assert any(w.startswith(f"replay accepted {evaluation.replay.accepted:,} of 1,200 rows") for w in
               evaluation.warnings)
    assert evaluation.to_dict()["warnings"] == list(evaluation.warnings)
