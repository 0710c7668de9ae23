"""Offline replay of a bandit policy on logged data.

The replay method (Li, Chu, Langford & Wang 2011, "Unbiased offline evaluation of
contextual-bandit-based news article recommendation algorithms"): walk the log in order;
when the policy picks the logged action, accept the row, feed its reward back, and count
it. V̂ = Σ accepted rewards / #accepted is unbiased for the policy's per-user value over
#accepted users when the log was collected uniformly at random.

Here the policy updates every ``batch_size`` rows (as promolab deploys bandits). For IPS,
SNIPS and DR the target distribution of a row is the policy's selection probabilities in
that row's batch — it depends only on earlier rows, so the estimators stay unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from promolab.bandits import ArmState, Policy, as_generator
from promolab.bandits.base import check_int
from promolab.errors import InputError
from promolab.sim.logged import LoggedData
from promolab.sim.ope import Estimate, arm_means, doubly_robust, ips, snips
from promolab.sim.scenario import MAX_ARMS, MAX_ARRAY_CELLS, MAX_BATCH_SIZE, MAX_SEED, MAX_WORK, STEP_DRAWS


@dataclass(frozen=True, eq=False)
class ReplayResult:
    estimate: Estimate              # the replay method's value
    accepted: int
    targets: np.ndarray | None      # (n, K) the policy's probabilities for each row's batch
    state: ArmState                 # what the policy learned from accepted rows


@dataclass(frozen=True, eq=False)
class PolicyEvaluation:
    """Every estimate of one policy's value on one log."""

    source: str
    policy: dict[str, Any]
    arms: tuple[str, ...]
    rows: int
    uniform_logging: bool
    replay: ReplayResult
    ips: Estimate
    snips: Estimate
    dr: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.source, "policy": self.policy, "arms": list(self.arms), "rows": self.rows,
            "uniform_logging": self.uniform_logging, "accepted": self.replay.accepted,
            "final_share": dict(zip(self.arms, np.round(self.replay.targets[-1], 6).tolist())),
            "estimates": {e.estimator: e.to_dict() for e in (self.replay.estimate, self.ips, self.snips, self.dr)},
        }


def check_seed(seed: object) -> None:
    """An integer seed must be one numpy accepts (a Generator, SeedSequence or None passes)."""
    if isinstance(seed, (bool, int, np.integer, float)):
        check_int("seed", seed, 0, MAX_SEED)


def check_replay_work(rows: int, n_arms: int, policy: Policy, batch_size: int, segments: int | None = None) -> int:
    """Validate ``batch_size`` and ``n_arms`` and bound a replay's total work before it starts.

    Each batch evaluates the policy's probabilities (``policy.probability_draws`` per segment,
    e.g. draws × arms for Thompson) plus a fixed Python cost per segment served, and each row
    one choice over the arms; the total is held to ``MAX_WORK`` draws (≈ 100 s of one core). Returns
    the batch size as an int.
    """
    batch_size = check_int("batch_size", batch_size, 1, MAX_BATCH_SIZE)
    n_arms = check_int("arms", n_arms, 1, MAX_ARMS)
    if batch_size * n_arms > MAX_ARRAY_CELLS:
        raise InputError("batch_size × arms", batch_size * n_arms,
                         f"at most {MAX_ARRAY_CELLS:,} (floats drawn per batch, 400 MB; here {batch_size:,} × {n_arms}); "
                         "lower batch_size")
    s = segments or 1
    batches = math.ceil(rows / batch_size)
    per_batch = s * policy.probability_draws(n_arms) + STEP_DRAWS * min(s, batch_size)
    work = batches * per_batch + rows * n_arms
    if work > MAX_WORK:
        where = f"{n_arms} arms" + (f", {s:,} segments" if segments else "")
        raise InputError("⌈rows / batch_size⌉ × draws per batch", work,
                         f"at most {MAX_WORK:,} (≈ 100 s of one core; here {batches:,} batches of {batch_size:,} rows "
                         f"× {per_batch:,} draws for {policy.name} on {where}); raise batch_size or lower the "
                         "policy's draws")
    return batch_size


def replay(
    action: np.ndarray, reward: np.ndarray, n_arms: int, policy: Policy, *,
    seed: int | np.random.SeedSequence | None = 0, batch_size: int = 1, with_targets: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Li et al.'s replay of ``policy`` over logged (action, reward) rows in order.

    ``progress(rows)``, if given, is called after each batch with the number of rows it held.
    """
    batch_size = check_replay_work(action.size, n_arms, policy, batch_size)
    check_seed(seed)
    rng = as_generator(seed)
    state = ArmState.empty(n_arms)
    targets = np.empty((action.size, n_arms)) if with_targets else None
    total, total_sq, accepted = 0.0, 0.0, 0
    for start in range(0, action.size, batch_size):
        rows = slice(start, start + batch_size)
        logged, rewards = action[rows], reward[rows]
        if targets is not None:
            targets[rows] = policy.probabilities(state, rng)
        match = policy.choose(state, rng, logged.size) == logged
        kept = rewards[match]
        total, total_sq, accepted = total + kept.sum(), total_sq + kept @ kept, accepted + int(match.sum())
        state = state + ArmState.from_rewards(logged[match], kept, n_arms)
        if progress is not None:
            progress(logged.size)
    return ReplayResult(_mean_estimate(total, total_sq, accepted), accepted, targets, state)


def evaluate_policy(log: LoggedData, policy: Policy, *, seed: int = 0, batch_size: int = 100,
                    progress: Callable[[int], None] | None = None) -> PolicyEvaluation:
    """Replay, IPS, SNIPS and DR (reward model: per-arm logged means) of ``policy`` on ``log``;
    ``progress`` as in :func:`replay` (rows replayed)."""
    k = len(log.arms)
    result = replay(log.action, log.reward, k, policy, seed=seed, batch_size=batch_size, with_targets=True,
                    progress=progress)
    args = (log.reward, log.action, log.propensity, result.targets)
    return PolicyEvaluation(
        source=log.source, policy=policy.to_dict(), arms=log.arms, rows=log.n,
        uniform_logging=log.uniform_logging, replay=result,
        ips=ips(*args), snips=snips(*args), dr=doubly_robust(*args, arm_means(log.reward, log.action, k)),
    )


def _mean_estimate(total: float, total_sq: float, n: int) -> Estimate:
    """Mean of the accepted rewards, with the standard error from their sample variance."""
    if n < 2:
        return Estimate.normal("replay", total / n if n else np.nan, np.nan, n)
    mean = total / n
    return Estimate.normal("replay", mean, np.sqrt(max(total_sq - n * mean * mean, 0.0) / (n - 1) / n), n)
