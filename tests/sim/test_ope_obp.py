"""promolab's off-policy estimators agree with Open Bandit Pipeline to 1e-9.

The stored reference (``reference/obp_reference.json``, written by
``reference/make_obp_reference.py`` with obp 0.4.1, which says how) holds seeded logs —
sparse clicks with propensities down to 0.002, a skewed logging policy with revenue
rewards, a deterministic target — and OBP's estimates on them. A second test runs OBP
live on fresh logs when it is importable (it imports torch, so CI does not install it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from promolab.sim.evaluation import evaluate_target
from promolab.sim.logged import LoggedData
from promolab.sim.ope import direct_method, doubly_robust, ips, snips, switch_dr
from promolab.sim.ope_intervals import Resampling

REFERENCE = json.loads((Path(__file__).parent / "reference" / "obp_reference.json").read_text())
FAST = Resampling(n_bootstrap=100)
TOL = 1e-9


def arrays(log: dict) -> tuple[np.ndarray, ...]:
    return tuple(np.array(log[key]) for key in ("reward", "action", "pscore", "target", "q_hat"))


def ours(reward, action, pscore, target, q_hat, taus) -> dict[str, float]:
    args = (reward, action, pscore, target)
    out = {"ips": ips(*args, resampling=FAST).value, "snips": snips(*args, resampling=FAST).value,
           "dm": direct_method(*args, q_hat, resampling=FAST).value,
           "dr": doubly_robust(*args, q_hat, resampling=FAST).value}
    for tau in taus:
        out[f"switch-dr:{tau}"] = switch_dr(*args, q_hat, tau, resampling=FAST).value
    return out


@pytest.mark.parametrize("name", sorted(REFERENCE["logs"]))
def test_estimators_match_the_stored_obp_reference(name):
    log = REFERENCE["logs"][name]
    mine = ours(*arrays(log), REFERENCE["taus"])
    assert set(mine) == set(log["obp"])
    for estimator, value in log["obp"].items():
        assert mine[estimator] == pytest.approx(value, abs=TOL, rel=TOL), estimator


@pytest.mark.parametrize("name", sorted(REFERENCE["logs"]))
def test_the_default_reward_model_is_obps_estimators_with_per_action_means(name):
    """evaluate_target without a model fits q̂(a) = logged mean per action (as per-action sums, so a
    resample refits it); OBP got that q̂ as an array."""
    reward, action, pscore, target, _ = arrays(REFERENCE["logs"][name])
    k = target.shape[1]
    log = LoggedData("mem", tuple(map(str, range(k))), action, reward, pscore)
    expected = REFERENCE["logs"][name]["obp_arm_means"]
    for tau in REFERENCE["taus"]:
        evaluation = evaluate_target(log, target, tau=tau, resampling=FAST)
        assert evaluation.estimate("switch-dr").value == pytest.approx(expected[f"switch-dr:{tau}"], abs=TOL)
    for estimator in ("dm", "dr"):
        assert evaluation.estimate(estimator).value == pytest.approx(expected[estimator], abs=TOL)


def test_estimators_match_obp_live():
    ope = pytest.importorskip("obp.ope")
    rng = np.random.default_rng(7)
    n, k = 2000, 6
    logging = rng.dirichlet(np.full(k, 0.7), size=n)
    action = (rng.random((n, 1)) > logging.cumsum(axis=1)).sum(axis=1).clip(max=k - 1)
    pscore = logging[np.arange(n), action]
    reward = (rng.random(n) < rng.uniform(0.01, 0.1, k)[action]).astype(float)
    target = rng.dirichlet(np.full(k, 0.3), size=n)
    q_hat = rng.uniform(0, 0.1, (n, k))
    common = {"reward": reward, "action": action, "pscore": pscore, "action_dist": target[:, :, None]}
    model = {"estimated_rewards_by_reg_model": q_hat[:, :, None]}
    theirs = {"ips": ope.InverseProbabilityWeighting().estimate_policy_value(**common),
              "snips": ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**common),
              "dm": ope.DirectMethod().estimate_policy_value(action_dist=common["action_dist"], **model),
              "dr": ope.DoublyRobust().estimate_policy_value(**common, **model)}
    for tau in (2.0, 20.0):
        theirs[f"switch-dr:{tau}"] = ope.SwitchDoublyRobust(tau=tau).estimate_policy_value(**common, **model)
    mine = ours(reward, action, pscore, target, q_hat, (2.0, 20.0))
    for estimator, value in theirs.items():
        assert mine[estimator] == pytest.approx(value, abs=TOL, rel=TOL), estimator
