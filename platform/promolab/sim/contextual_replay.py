"""Replay of a contextual policy, and the value of a saved targeting policy, on a logged table.

A contextual policy (``promolab.bandits``: linucb, lin-ts, logistic-ts) is replayed along
the log as Li et al. (2011) replay a context-free one (``promolab.sim.replay``): batch by
batch, the policy's probabilities for each row's context φ(x) come from the state learnt
from the rows accepted before the batch, a choice is drawn from them, a row whose choice
is the logged action is accepted and, at the end of its batch, fed back. The
probabilities are the target distribution of the off-policy estimators (they depend only
on earlier rows). φ's encoding is inferred from the log's columns (``infer_features``:
numeric columns standardised, other columns categorical).

A saved ``TargetingPolicy`` (``promolab uplift --save-policy``) is fixed: its target is
one-hot on the action it chooses for each row's context (``probabilities``), so only the
off-policy estimators apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np
import pandas as pd

from promolab.bandits import ContextualPolicy
from promolab.bandits.base import check_int, sample_categorical
from promolab.errors import InputError
from promolab.sim.evaluation import DEFAULT_TAU, OffPolicyEvaluation, evaluate_target
from promolab.sim.logged import LoggedData
from promolab.sim.ope import DEFAULT_RESAMPLING
from promolab.sim.ope_intervals import Resampling
from promolab.sim.replay import PolicyEvaluation, ReplayResult, Seed, check_seed, replay_estimate
from promolab.sim.scenario import MAX_BATCH_SIZE, MAX_WORK
from promolab.spec.encoding import encode, infer_features
from promolab.spec.features import FeatureSet
from promolab.uplift.policy_file import TargetingPolicy


def _context(log: LoggedData) -> pd.DataFrame:
    if log.context is None or log.context.shape[1] == 0:
        raise InputError("context", log.source, "a log with context columns (the users' attributes)")
    return log.context


def check_contextual_work(rows: int, n_arms: int, dim: int, policy: ContextualPolicy, batch_size: int) -> int:
    """``batch_size`` in range, and rows × the policy's work per context within ``MAX_WORK``."""
    batch_size = check_int("batch_size", batch_size, 1, MAX_BATCH_SIZE)
    work = rows * policy.probability_draws(n_arms, dim)
    if work > MAX_WORK:
        raise InputError("rows × draws per context", work, f"at most {MAX_WORK:,} (≈ 100 s of one core; "
                         f"{rows:,} rows × {policy.probability_draws(n_arms, dim):,} for {policy.name}); "
                         "fewer rows or fewer draws")
    return batch_size


def replay_contextual(log: LoggedData, policy: ContextualPolicy, features: Sequence[str], *, seed: Seed = 0,
                      batch_size: int = 100, progress: Callable[[int], None] | None = None,
                      resampling: Resampling = DEFAULT_RESAMPLING) -> tuple[ReplayResult, FeatureSet]:
    """Li et al.'s replay of ``policy`` over the log's rows in order, on the contexts of the
    ``features`` columns; the result's ``targets`` are each row's probabilities."""
    table = _context(log)
    feature_set = infer_features(table, list(features))
    X = encode(feature_set, table)
    k = len(log.arms)
    batch_size = check_contextual_work(log.n, k, X.shape[1], policy, batch_size)
    check_seed(seed)
    resampling.check_rows(log.n)
    rng = np.random.default_rng(seed)
    state = policy.empty_state(k, X.shape[1])
    targets = np.empty((log.n, k))
    accepted = np.zeros(log.n, dtype=bool)
    for start in range(0, log.n, batch_size):
        rows = slice(start, min(log.n, start + batch_size))
        p = policy.probabilities(state, X[rows], rng)
        targets[rows] = p
        hit = sample_categorical(p, rng, 1)[0] == log.action[rows]
        accepted[rows] = hit
        if hit.any():
            x, a, r = X[rows][hit], log.action[rows][hit], log.reward[rows][hit]
            state = policy.update(state, x, a, np.clip(r, 0, 1) if policy.bernoulli_only else r)
        if progress is not None:
            progress(rows.stop - rows.start)
    kept = log.reward[accepted]
    return ReplayResult(replay_estimate(kept, log.reward, resampling), kept.size, log.n, targets, state), feature_set


def evaluate_contextual_policy(log: LoggedData, policy: ContextualPolicy, features: Sequence[str], *,
                               seed: int = 0, batch_size: int = 100, progress: Callable[[int], None] | None = None,
                               tau: float = DEFAULT_TAU, resampling: Resampling = DEFAULT_RESAMPLING
                               ) -> PolicyEvaluation:
    """Replay, then IPS, SNIPS, DR, DM and switch-DR of a contextual ``policy`` on ``log``."""
    result, feature_set = replay_contextual(log, policy, features, seed=seed, batch_size=batch_size,
                                            progress=progress, resampling=resampling)
    return PolicyEvaluation(
        source=log.source, policy={**policy.to_dict(), "features": feature_set.to_dicts()}, arms=log.arms,
        rows=log.n, uniform_logging=log.uniform_logging, replay=result,
        ope=evaluate_target(log, result.targets, tau=tau, resampling=resampling))


def targeting_target(log: LoggedData, policy: TargetingPolicy) -> np.ndarray:
    """(n, K) one-hot target of a saved policy on the log's contexts, columns in the log's action order."""
    unknown = [a for a in policy.actions if a not in log.arms]
    if unknown:
        raise InputError("policy.actions", unknown[0], "actions of the log: " + ", ".join(log.arms))
    chosen = policy.probabilities(_context(log))
    target = np.zeros((log.n, len(log.arms)))
    for j, action in enumerate(policy.actions):
        target[:, log.arms.index(action)] = chosen[:, j]
    return target


def evaluate_targeting_policy(log: LoggedData, policy: TargetingPolicy, *, tau: float = DEFAULT_TAU,
                              resampling: Resampling = DEFAULT_RESAMPLING) -> OffPolicyEvaluation:
    """IPS, SNIPS, DR, DM and switch-DR of a saved targeting policy on ``log``."""
    return evaluate_target(log, targeting_target(log, policy), tau=tau, resampling=resampling)
