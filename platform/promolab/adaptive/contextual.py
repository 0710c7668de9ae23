"""Refit a contextual experiment's model from its logged decisions and store it.

Training rows are the experiment's exposed users whose decision context was logged
(``exposures.context_json``, written by the service and the local-evaluation client),
with the variant they got and their reward (the same per-user SQL as the reports).
Each update refits the experiment's policy from its prior on every row so far
(``policy.update(policy.empty_state(K, d), X, arms, rewards)``: additive statistics for the
linear models, one Laplace fit for logistic Thompson sampling) and stores the posterior in
its served form (``promolab.adaptive.served``), with a version and a reason, so the model
history can be shown. Until ``burn_in`` users have a logged context the configured split
keeps serving. A ``targeting`` experiment serves the fixed scores of its spec
(:func:`spec_model`) and never learns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from promolab.adaptive.served import ServedModel
from promolab.analysis.sql import experiment_metrics, per_user_ctes
from promolab.bandits import LinUCB, make_contextual_policy
from promolab.bandits.contextual import ContextualThompson
from promolab.errors import InputError, StateError
from promolab.spec import Experiment
from promolab.spec.encoding import encode
from promolab.spec.load import TARGETING_POLICY
from promolab.store import Registry


@dataclass(frozen=True)
class ModelUpdate:
    experiment: str
    version: int | None          # None: nothing stored (burn-in)
    updated_at: datetime | None
    policy: str
    users: int                   # training rows (users with a logged context)
    reason: str


@dataclass(frozen=True, eq=False)
class Decisions:
    """A contextual experiment's logged decisions: encoded contexts X (n, d), arm indices,
    rewards and the logged propensities (NaN where none was logged)."""

    X: np.ndarray
    arms: np.ndarray
    rewards: np.ndarray
    propensity: np.ndarray
    contexts: pd.DataFrame


def spec_model(experiment: Experiment) -> ServedModel | None:
    """The fixed served model of a ``targeting`` experiment: its offers' score weights, the
    control's scores 0 (no offer unless one is predicted to pay). None for other policies."""
    config = experiment.contextual
    if config is None or config.policy != TARGETING_POLICY:
        return None
    scores = config.params["scores"]
    mean = np.array([np.zeros(config.features.dim) if v.key == experiment.control else scores[v.key]
                     for v in experiment.variants], dtype=float)
    return ServedModel("greedy", mean)


def logged_decisions(registry: Registry, key: str) -> Decisions:
    """Every exposed user of ``key`` with a logged context, in exposure order."""
    experiment = registry.get_experiment(key)
    config = experiment.contextual
    if config is None:
        raise InputError("experiment", key, "a contextual experiment (kind = 'contextual')")
    metric = next(m for m in experiment_metrics(experiment, cuped=False) if m.name == config.reward)
    sql = (per_user_ctes(experiment)
           + f'SELECT p.variant, p."{metric.name}" AS reward, x.context_json, x.propensity FROM per_user_table p '
           "JOIN exposures x ON x.user_id = p.user_id AND x.experiment_key = ? "
           "WHERE x.context_json IS NOT NULL ORDER BY x.first_exposed_at, x.user_id")
    frame = registry.query(sql, [key])
    contexts = pd.DataFrame([json.loads(c) for c in frame["context_json"]],
                            columns=list(config.features.names))
    index = {v: i for i, v in enumerate(experiment.variant_keys)}
    X = encode(config.features, contexts) if len(frame) else np.empty((0, config.features.dim))
    return Decisions(X, frame["variant"].map(index).to_numpy(dtype=np.int64),
                     frame["reward"].to_numpy(dtype=float), frame["propensity"].to_numpy(dtype=float), contexts)


def served_model(policy, state) -> ServedModel:
    """A fitted policy state in served form: the posterior mean and covariance per arm."""
    mean, cov = policy.posterior(state)
    if isinstance(policy, LinUCB):
        return ServedModel("ucb", mean, cov, alpha=float(policy.alpha))
    if isinstance(policy, ContextualThompson):
        return ServedModel("thompson", mean, cov)
    raise InputError("contextual.policy", type(policy).__name__, "a policy with a served form (ucb, thompson)")


def update_model(registry: Registry, key: str, by: str = "bandit-update", at: datetime | None = None) -> ModelUpdate:
    """Refit and store the model of a running contextual experiment (``at``: the time to store)."""
    experiment = registry.get_experiment(key)
    config = experiment.contextual
    if config is None:
        raise InputError("experiment", key, "a contextual experiment (kind = 'contextual')")
    if config.policy == TARGETING_POLICY:
        raise StateError(f"experiment {key}: serves a fixed targeting policy; it has no model to update")
    status = registry.status(key)
    if status != "running":
        raise StateError(f"experiment {key}: is {status}; its model is only updated while it runs")
    policy = make_contextual_policy(config.policy, {**config.params, "floor": config.floor}, field="contextual.policy")
    data = logged_decisions(registry, key)
    users = int(data.arms.size)
    if users < config.burn_in:
        return ModelUpdate(key, None, None, config.policy, users,
                           f"burn-in: {users:,} of {config.burn_in:,} users with a logged context")
    state = policy.update(policy.empty_state(len(experiment.variants), config.features.dim), data.X, data.arms,
                          data.rewards)
    reason = f"{config.policy} on {config.reward} ({users:,} users)"
    version, ts = registry.record_model(key, config.policy, users, served_model(policy, state).to_json(),
                                        reason=f"{reason}; by {by}", at=at)
    return ModelUpdate(key, version, ts, config.policy, users, reason)
