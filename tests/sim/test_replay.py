"""Off-policy estimators against OBP's definitions and known truths; Li et al. replay; log files."""

import numpy as np
import pandas as pd
import pytest

from promolab.bandits import make_policy
from promolab.errors import InputError
from promolab.sim.logged import read_log
from promolab.sim.ope import arm_means, doubly_robust, ips, snips
from promolab.sim.replay import evaluate_policy, replay
from promolab.sim.scenario import parse_scenario
from promolab.sim.simulate import simulate

MU = np.array([0.1, 0.2, 0.3])


def test_estimators_match_obp_definitions_on_a_hand_computed_example():
    """obp.ope: IPW = E[w r], SNIPW = E[w r]/E[w], DR = E[Σₐ π_e q̂ + w (r − q̂(a))], w = π_e(a)/π_b(a).
    w = (1.6, 0.8, 0.9333, 1.0): IPS = 2.5333/4, SNIPS = 2.5333/4.3333,
    DR terms = (0.54 + 0.64, 0.54 − 0.24, 0.43 + 0.56, 0.45 − 0.5) → 2.42/4."""
    reward = np.array([1.0, 0.0, 1.0, 0.0])
    action = np.array([0, 1, 1, 0])
    pscore = np.array([0.5, 0.25, 0.75, 0.5])
    target = np.array([[0.8, 0.2], [0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    q_hat = np.array([[0.6, 0.3], [0.6, 0.3], [0.5, 0.4], [0.5, 0.4]])
    assert ips(reward, action, pscore, target).value == pytest.approx(2.5333333333 / 4)
    assert snips(reward, action, pscore, target).value == pytest.approx(2.5333333333 / 4.3333333333)
    assert doubly_robust(reward, action, pscore, target, q_hat).value == pytest.approx(0.605)


def logged(n, rng, propensity=None):
    propensity = np.full(3, 1 / 3) if propensity is None else propensity
    action = rng.choice(3, size=n, p=propensity)
    reward = (rng.random(n) < MU[action]).astype(float)
    return action, reward, propensity[action]


@pytest.mark.parametrize("logging", [None, np.array([0.6, 0.3, 0.1])], ids=["uniform", "skewed"])
def test_estimators_recover_a_known_policy_value(logging):
    rng = np.random.default_rng(0)
    action, reward, pscore = logged(40_000, rng, logging)
    target = np.array([0.2, 0.3, 0.5])
    truth = target @ MU
    for estimate in (ips(reward, action, pscore, target), snips(reward, action, pscore, target),
                     doubly_robust(reward, action, pscore, target, arm_means(reward, action, 3))):
        assert estimate.lower < truth < estimate.upper, estimate


def test_replay_recovers_the_value_of_a_learning_policy():
    """Li et al. 2011: on a uniform log, replay of UCB1 estimates its average reward over the
    accepted users; the simulator gives the truth, (T·μ* − E[R_T]) / T."""
    rng = np.random.default_rng(1)
    action, reward, _ = logged(9000, rng)
    result = replay(action, reward, 3, make_policy("ucb1"), seed=2)
    sc = parse_scenario({"horizon": result.accepted, "arms": {"names": ["a", "b", "c"], "rate": MU.tolist()},
                         "policies": [{"name": "ucb1"}]})
    regret = simulate(sc, make_policy("ucb1"), 300, seed=3).regret[:, -1].mean()
    truth = MU.max() - regret / result.accepted
    assert abs(result.estimate.value - truth) < 2.5 * result.estimate.se
    assert result.accepted == pytest.approx(3000, rel=0.1)


def test_evaluate_policy_from_files(tmp_path):
    rng = np.random.default_rng(4)
    action, reward, pscore = logged(6000, rng)
    frame = pd.DataFrame({"variant": np.array(["none", "10%", "20%"])[action], "converted": reward,
                          "p": pscore, "age": rng.integers(18, 80, 6000)})
    frame.to_parquet(tmp_path / "log.parquet")
    log = read_log(tmp_path / "log.parquet", action_col="variant", reward_col="converted", propensity_col="p")
    assert log.arms == ("10%", "20%", "none") and log.uniform_logging
    evaluation = evaluate_policy(log, make_policy("epsilon-greedy", {"epsilon": 1.0}), batch_size=200)
    for estimate in (evaluation.replay.estimate, evaluation.ips, evaluation.snips, evaluation.dr):
        assert estimate.lower < MU.mean() < estimate.upper  # epsilon = 1 is uniform: value = mean of μ
    assert set(evaluation.to_dict()["estimates"]) == {"replay", "ips", "snips", "dr"}


def test_bad_logs(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"action": ["a", "b"], "reward": [1, 0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=rf"^{path}: --propensity-col: got 'propensity', expected a column"):
        read_log(path)
    assert read_log(path, uniform=True).propensity.tolist() == [0.5, 0.5]
    pd.DataFrame({"action": ["a", "b"], "reward": [1, 0], "propensity": [0.5, 0.0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=rf"^{path}: propensity\[row 1\]: got 0.0, expected a logging probability"):
        read_log(path)
