"""Write ``obp_reference.json``: seeded synthetic logs and Open Bandit Pipeline's estimates on them.

``tests/sim/test_ope_obp.py`` recomputes every estimate with ``promolab.sim.ope`` on the
stored arrays and requires agreement to 1e-9. OBP is not a dependency of promolab (obp
0.4.1 imports torch at module level), so the reference was generated once, outside the
project's venv, exactly so (Python 3.11; obp 0.4.1 is the last release for it)::

    python3 -m venv /tmp/obpenv
    /tmp/obpenv/bin/pip install "obp==0.4.1" "pyyaml>=6.0.1"   # obp 0.4.1, numpy 2.4.6, torch 2.14.1
    /tmp/obpenv/bin/python tests/sim/reference/make_obp_reference.py

The script imports nothing from promolab. The logs (all values short decimals, so the JSON
holds the exact doubles OBP saw; target probabilities are multiples of 1/64, so every row
sums to exactly 1):

- ``uniform-clicks``: 3 actions logged uniformly, 0/1 rewards, contextual targets and q̂;
- ``sparse-clicks``: 8 actions, per-row logging distributions with propensities down to
  0.002, click rates of 0.5-3 %, targets that favour the rarely logged actions;
- ``skewed-revenue``: 4 actions logged with fixed shares 0.55/0.25/0.15/0.05, revenue
  rewards (0, or an order value), contextual targets;
- ``deterministic``: 5 actions, a deterministic (one-hot) target, so most rows have
  π_e(aᵢ) = 0.

Per log: OBP's IPW, SNIPW, DM, DR and SwitchDR (tau = 1.5, 5, 50) with the stored q̂
(``q_hat``), and DM, DR, SwitchDR with q̂ = each action's logged mean reward (``arm_means``,
what ``promolab.sim.evaluation.evaluate_target`` uses when given no model).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import obp
from obp.ope import (DirectMethod, DoublyRobust, InverseProbabilityWeighting,
                     SelfNormalizedInverseProbabilityWeighting, SwitchDoublyRobust)

OUT = Path(__file__).with_name("obp_reference.json")
TAUS = (1.5, 5.0, 50.0)


def sixty_fourths(rng: np.random.Generator, n: int, concentration: np.ndarray) -> np.ndarray:
    """Rows of probabilities that are multiples of 1/64 (exact in binary, summing to exactly 1)."""
    return np.stack([rng.multinomial(64, rng.dirichlet(concentration)) for _ in range(n)]) / 64


def log_uniform_clicks(rng: np.random.Generator) -> dict:
    n, k = 400, 3
    action = rng.integers(k, size=n)
    reward = (rng.random(n) < np.array([0.1, 0.2, 0.3])[action]).astype(float)
    return {"reward": reward, "action": action, "pscore": np.full(n, 1 / 3),
            "target": sixty_fourths(rng, n, np.ones(k)), "q_hat": np.round(rng.uniform(0, 0.4, (n, k)), 4), "k": k}


def log_sparse_clicks(rng: np.random.Generator) -> dict:
    n, k = 500, 8
    rare = np.array([0.002, 0.004, 0.006, 0.01, 0.02])
    logging = np.zeros((n, k))
    for i in range(n):
        small = rng.choice(rare, size=k - 2)
        rest = np.round(rng.dirichlet([1, 1]) * (1 - small.sum()), 3)
        rest[1] = np.round(1 - small.sum() - rest[0], 3)
        logging[i] = rng.permutation(np.concatenate([small, rest]))
    action = np.array([rng.choice(k, p=p / p.sum()) for p in logging])
    rates = rng.uniform(0.005, 0.03, k)
    reward = (rng.random(n) < rates[action]).astype(float)
    concentration = np.where(np.arange(k) < 5, 2.0, 0.2)
    return {"reward": reward, "action": action, "pscore": logging[np.arange(n), action],
            "target": sixty_fourths(rng, n, concentration), "q_hat": np.round(rng.uniform(0, 0.05, (n, k)), 4),
            "k": k}


def log_skewed_revenue(rng: np.random.Generator) -> dict:
    n, k = 400, 4
    shares = np.array([0.55, 0.25, 0.15, 0.05])
    action = rng.choice(k, size=n, p=shares)
    converted = rng.random(n) < np.array([0.05, 0.08, 0.1, 0.12])[action]
    reward = np.where(converted, np.round(rng.lognormal(4, 0.5, n), 2), 0.0)
    return {"reward": reward, "action": action, "pscore": shares[action],
            "target": sixty_fourths(rng, n, np.full(k, 0.5)), "q_hat": np.round(rng.uniform(0, 8, (n, k)), 2),
            "k": k}


def log_deterministic(rng: np.random.Generator) -> dict:
    n, k = 300, 5
    action = rng.integers(k, size=n)
    reward = (rng.random(n) < 0.2).astype(float)
    target = np.zeros((n, k))
    target[np.arange(n), rng.integers(k, size=n)] = 1.0
    return {"reward": reward, "action": action, "pscore": np.full(n, 0.2), "target": target,
            "q_hat": np.round(rng.uniform(0, 0.4, (n, k)), 4), "k": k}


def obp_estimates(log: dict, q_hat: np.ndarray) -> dict:
    common = {"reward": log["reward"], "action": log["action"], "pscore": log["pscore"],
              "action_dist": log["target"][:, :, None]}
    model = {"estimated_rewards_by_reg_model": q_hat[:, :, None]}
    out = {"dm": DirectMethod().estimate_policy_value(action_dist=common["action_dist"], **model),
           "dr": DoublyRobust().estimate_policy_value(**common, **model)}
    for tau in TAUS:
        out[f"switch-dr:{tau}"] = SwitchDoublyRobust(tau=tau).estimate_policy_value(**common, **model)
    return {name: float(value) for name, value in out.items()}


def main() -> None:
    rng = np.random.default_rng(20240601)
    logs = {"uniform-clicks": log_uniform_clicks(rng), "sparse-clicks": log_sparse_clicks(rng),
            "skewed-revenue": log_skewed_revenue(rng), "deterministic": log_deterministic(rng)}
    payload = {"obp_version": obp.__version__, "numpy_version": np.__version__, "taus": list(TAUS), "logs": {}}
    for name, log in logs.items():
        common = {"reward": log["reward"], "action": log["action"], "pscore": log["pscore"],
                  "action_dist": log["target"][:, :, None]}
        k = log["k"]
        counts = np.bincount(log["action"], minlength=k)
        arm_means = np.bincount(log["action"], weights=log["reward"], minlength=k) / np.maximum(counts, 1)
        payload["logs"][name] = {
            "reward": log["reward"].tolist(), "action": log["action"].tolist(), "pscore": log["pscore"].tolist(),
            "target": log["target"].tolist(), "q_hat": log["q_hat"].tolist(),
            "obp": {"ips": float(InverseProbabilityWeighting().estimate_policy_value(**common)),
                    "snips": float(SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**common)),
                    **obp_estimates(log, log["q_hat"])},
            "obp_arm_means": obp_estimates(log, np.tile(arm_means, (log["action"].size, 1))),
        }
    OUT.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes) with obp {obp.__version__}")


if __name__ == "__main__":
    main()
