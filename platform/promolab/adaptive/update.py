"""Recompute a bandit experiment's traffic weights from its data and store them.

Per-arm sufficient statistics of the reward metric (n, Σr, Σr² over exposed users) come
from the same SQL as the reports; the experiment's policy turns them into selection
probabilities (with its exploration floor), which are stored with their time so the
allocation history can be charted. Until every arm has ``burn_in`` users the configured
split is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from promolab.analysis.economics import economics_sql, experiment_config
from promolab.analysis.filtering import analysis_ctes
from promolab.analysis.sql import experiment_metrics, per_user_ctes, sufficient_stats_sql
from promolab.bandits import ArmState, make_policy
from promolab.errors import InputError, StateError
from promolab.stats import MeanStats
from promolab.store import Registry


@dataclass(frozen=True)
class WeightUpdate:
    experiment: str
    weights: dict[str, float]
    updated_at: datetime
    policy: str
    reason: str
    arms: dict[str, MeanStats]


def reward_stats(registry: Registry, key: str) -> dict[str, MeanStats]:
    """n, Σr, Σr² of the reward per variant (zero for variants with no users).

    The reward is a metric of the experiment, or ``margin``: the per-user margin after the
    variant's promotion cost (``promolab.analysis.economics``).
    """
    experiment = registry.get_experiment(key)
    if experiment.bandit.reward == "margin":
        ctes, _ = analysis_ctes(experiment, None)
        frame = registry.query(economics_sql(ctes, "variant", experiment_config(experiment)))
        column = "__margin"
    else:
        metric = next(m for m in experiment_metrics(experiment, cuped=False) if m.name == experiment.bandit.reward)
        frame = registry.query(per_user_ctes(experiment) + sufficient_stats_sql("per_user_table", "variant", [metric]))
        column = metric.name
    rows = {r["variant"]: r for r in frame.to_dict("records")}
    out = {}
    for v in experiment.variant_keys:
        r = rows.get(v)
        out[v] = (MeanStats(int(r["n"]), float(r[f"{column}__sum"]), float(r[f"{column}__sum_sq"]))
                  if r else MeanStats(0, 0.0, 0.0))
    return out


def _seed(key: str, version: int) -> int:
    """A reproducible Monte Carlo seed per experiment and update number."""
    return int.from_bytes(hashlib.sha256(f"{key}:{version}".encode()).digest()[:8], "little")


def update_weights(registry: Registry, key: str, by: str = "bandit-update", at: datetime | None = None) -> WeightUpdate:
    """Compute and store the next weights of a running bandit experiment (``at``: the
    time stamp to store, default now)."""
    experiment = registry.get_experiment(key)
    if experiment.kind != "bandit" or experiment.bandit is None:
        raise InputError("experiment", key, "a bandit experiment (kind = 'bandit')")
    status = registry.status(key)
    if status != "running":
        raise StateError(f"experiment {key}: is {status}; weights are only updated while it runs")
    config = experiment.bandit
    policy = make_policy(config.policy, {**config.params, "floor": config.floor}, field="bandit.policy")
    arms = reward_stats(registry, key)
    keys = list(experiment.variant_keys)
    if min(s.n for s in arms.values()) < config.burn_in:
        weights = dict(zip(keys, experiment.weights))
        reason = f"burn-in: fewer than {config.burn_in} users in some arm"
    else:
        state = ArmState.from_mean_stats([arms[k] for k in keys])
        version = len(registry.weight_history(key)) // max(len(keys), 1)
        probs = np.asarray(policy.probabilities(state, rng=_seed(key, version)), dtype=float)
        probs = probs / probs.sum()
        weights = {k: float(p) for k, p in zip(keys, probs)}
        reason = f"{config.policy} on {config.reward} ({sum(s.n for s in arms.values()):,} users)"
    ts = registry.record_weights(key, weights, config.policy, reason=f"{reason}; by {by}", at=at)
    return WeightUpdate(key, weights, ts, config.policy, reason, arms)
