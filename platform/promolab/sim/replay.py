"""Offline replay of a bandit policy on logged data.

The replay method (Li, Chu, Langford & Wang 2011, "Unbiased offline evaluation of
contextual-bandit-based news article recommendation algorithms"): walk the log in order;
when the policy picks the logged action, accept the row, feed its reward back, and count
it. V̂ = Σ accepted rewards / #accepted is unbiased for the policy's per-user value over
#accepted users when the log was collected uniformly at random. Its interval: Wilson's for
a 0/1 reward, otherwise the bootstrap over accepted rows of ``promolab.sim.ope_intervals``.
Both treat the accepted rewards as independent; for a learning policy, whose arms change
along the log, that counts the spread between arms' means as noise, so it is conservative.

Here the policy updates every ``batch_size`` rows (as promolab deploys bandits). For the
off-policy estimators the target distribution of a row is the policy's selection
probabilities in that row's batch — it depends only on earlier rows, so they stay unbiased.

Speed: the policy's state changes only after a batch with an accepted row, so the choices of
the batches until then are drawn at once (``LOOKAHEAD_ROWS``, doubling while none is
accepted; draws past that batch are discarded, which leaves every row's choice an
independent draw given its state), and the selection probabilities are computed once per
state, for many states in one vectorised call, from a random stream of their own (so the
replay itself is the same with or without them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from promolab.bandits import ArmState, Policy
from promolab.bandits.contextual import StateArrays
from promolab.bandits.base import check_int
from promolab.errors import InputError
from promolab.sim.evaluation import DEFAULT_TAU, OffPolicyEvaluation, evaluate_target
from promolab.sim.logged import LoggedData
from promolab.sim.ope import DEFAULT_RESAMPLING, Estimate, RowTerms, estimate_all, reward_range
from promolab.sim.ope_intervals import Resampling
from promolab.sim.scenario import MAX_ARMS, MAX_ARRAY_CELLS, MAX_BATCH_SIZE, MAX_SEED, MAX_WORK, STEP_DRAWS

MIN_ACCEPTED = 100          # replay warns below this many accepted rows …
MIN_ACCEPTED_SHARE = 0.05   # … or this share of the log
LOOKAHEAD_ROWS = 64         # rows whose choices are first drawn at once under one state
MAX_LOOKAHEAD_ROWS = 65_536
PROBABILITY_CHUNK = 4_000_000  # policy draws per vectorised probabilities call (32 MB of floats)

Seed = int | np.random.SeedSequence | np.random.Generator | None


@dataclass(frozen=True, eq=False)
class ReplayResult:
    estimate: Estimate              # the replay method's value
    accepted: int
    rows: int
    targets: np.ndarray | None      # (n, K) the policy's probabilities for each row's batch
    state: ArmState | StateArrays   # what the policy learned from accepted rows

    @property
    def warnings(self) -> tuple[str, ...]:
        if self.accepted >= MIN_ACCEPTED and self.accepted >= MIN_ACCEPTED_SHARE * self.rows:
            return ()
        share = self.accepted / max(self.rows, 1)
        return (f"replay accepted {self.accepted:,} of {self.rows:,} rows ({share:.1%}), below {MIN_ACCEPTED} rows "
                f"or {MIN_ACCEPTED_SHARE:.0%}: its estimate rests on few rows",)


@dataclass(frozen=True, eq=False)
class PolicyEvaluation:
    """Every estimate of one bandit policy's value on one log: replay and off-policy."""

    source: str
    policy: dict[str, Any]
    arms: tuple[str, ...]
    rows: int
    uniform_logging: bool
    replay: ReplayResult
    ope: OffPolicyEvaluation

    @property
    def ips(self) -> Estimate:
        return self.ope.estimate("ips")

    @property
    def snips(self) -> Estimate:
        return self.ope.estimate("snips")

    @property
    def dr(self) -> Estimate:
        return self.ope.estimate("dr")

    @property
    def warnings(self) -> tuple[str, ...]:
        logging = () if self.uniform_logging else (
            "logging was not uniform: the replay estimate assumes it was; prefer SNIPS / DR",)
        return self.replay.warnings + logging + self.ope.warnings

    def to_dict(self) -> dict[str, Any]:
        ope = self.ope.to_dict()
        return {
            "file": self.source, "policy": self.policy, "arms": list(self.arms), "rows": self.rows,
            "uniform_logging": self.uniform_logging, "accepted": self.replay.accepted,
            "final_share": dict(zip(self.arms, np.round(self.replay.targets[-1], 6).tolist())),
            **ope, "estimates": {"replay": self.replay.estimate.to_dict(), **ope["estimates"]},
            "warnings": list(self.warnings),
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
    seed: Seed = 0, batch_size: int = 1, with_targets: bool = False,
    progress: Callable[[int], None] | None = None, resampling: Resampling = DEFAULT_RESAMPLING,
) -> ReplayResult:
    """Li et al.'s replay of ``policy`` over logged (action, reward) rows in order.

    ``progress(rows)``, if given, is called for each batch with the number of rows it held,
    once its choices (and, ``with_targets``, its probabilities) are done.
    """
    batch_size = check_replay_work(action.size, n_arms, policy, batch_size)
    check_seed(seed)
    resampling.check_rows(action.size)  # before the walk, not after it
    choice_rng, target_rng = _streams(seed, 2)
    accepted, starts, states = _replay_choices(action, reward, n_arms, policy, choice_rng, batch_size,
                                               None if with_targets else progress)
    targets = None
    if with_targets:
        targets = _policy_targets(policy, starts, states, action.size, target_rng, batch_size, progress)
    kept = reward[accepted]
    return ReplayResult(replay_estimate(kept, reward, resampling), kept.size, action.size, targets, states[-1])


def replay_estimate(kept: np.ndarray, reward: np.ndarray, resampling: Resampling = DEFAULT_RESAMPLING) -> Estimate:
    """Mean of the accepted rewards ``kept``: Wilson's interval when the log's ``reward`` is 0/1,
    else the bootstrap rule of ``promolab.sim.ope_intervals`` over accepted rows."""
    n = kept.size
    if n == 0:
        return Estimate("replay", np.nan, np.nan, np.nan, np.nan, 0, "none", resampling.level)
    if np.isin(reward, (0.0, 1.0)).all():
        mean = float(kept.mean())
        lower, upper = proportion_confint(kept.sum(), n, alpha=1 - resampling.level, method="wilson")
        return Estimate("replay", mean, math.sqrt(mean * (1 - mean) / n), float(lower), float(upper), n, "wilson",
                        resampling.level)
    return estimate_all([RowTerms("replay", kept, None, reward_range(reward))], reward, resampling)[0]


def evaluate_policy(log: LoggedData, policy: Policy, *, seed: int = 0, batch_size: int = 100,
                    progress: Callable[[int], None] | None = None, tau: float = DEFAULT_TAU,
                    resampling: Resampling = DEFAULT_RESAMPLING) -> PolicyEvaluation:
    """Replay, then IPS, SNIPS, DR, DM and switch-DR (threshold ``tau``; reward model: per-arm
    logged means) of ``policy`` on ``log``; ``progress`` as in :func:`replay` (rows replayed)."""
    k = len(log.arms)
    result = replay(log.action, log.reward, k, policy, seed=seed, batch_size=batch_size, with_targets=True,
                    progress=progress, resampling=resampling)
    return PolicyEvaluation(
        source=log.source, policy=policy.to_dict(), arms=log.arms, rows=log.n, uniform_logging=log.uniform_logging,
        replay=result, ope=evaluate_target(log, result.targets, tau=tau, resampling=resampling),
    )


def _streams(seed: Seed, k: int) -> list[np.random.Generator]:
    """``k`` independent generators from one seed."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(k)
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in sequence.spawn(k)]


def _whole_batches(rows: int, batch_size: int) -> int:
    return max(1, -(-rows // batch_size)) * batch_size


def _report(progress: Callable[[int], None] | None, start: int, stop: int, batch_size: int) -> None:
    if progress is not None:
        for first in range(start, stop, batch_size):
            progress(min(batch_size, stop - first))


def _replay_choices(action: np.ndarray, reward: np.ndarray, n_arms: int, policy: Policy, rng: np.random.Generator,
                    batch_size: int, progress: Callable[[int], None] | None
                    ) -> tuple[np.ndarray, list[int], list[ArmState]]:
    """The replay's walk: which rows were accepted, and the state in force from each row of
    ``starts`` on (``states[j]`` serves rows ``starts[j]`` to ``starts[j + 1]``)."""
    n = action.size
    accepted = np.zeros(n, dtype=bool)
    starts, states = [0], [ArmState.empty(n_arms)]
    first_look, most = _whole_batches(LOOKAHEAD_ROWS, batch_size), _whole_batches(MAX_LOOKAHEAD_ROWS, batch_size)
    start, ahead = 0, first_look
    while start < n:
        stop = min(n, start + ahead)
        match = policy.choose(states[-1], rng, stop - start) == action[start:stop]
        hits = np.flatnonzero(match)
        if hits.size:  # the state changes after the batch holding the first acceptance
            stop = min(n, start + (hits[0] // batch_size + 1) * batch_size)
            accepted[start:stop] = match[:stop - start]
            rows = np.flatnonzero(accepted[start:stop]) + start
            states.append(states[-1] + ArmState.from_rewards(action[rows], reward[rows], n_arms))
            starts.append(stop)
            ahead = first_look
        else:
            ahead = min(2 * ahead, most)
        _report(progress, start, stop, batch_size)
        start = stop
    return accepted, starts, states


def _policy_targets(policy: Policy, starts: list[int], states: list[ArmState], n: int, rng: np.random.Generator,
                    batch_size: int, progress: Callable[[int], None] | None) -> np.ndarray:
    """(n, K) probabilities: ``policy.probabilities`` once per state, for a chunk of states per call."""
    bounds = np.append(starts, n)
    lengths = np.diff(bounds)
    used = np.flatnonzero(lengths)  # the state after the last acceptance may serve no row
    n_arms = states[0].n_arms
    chunk = max(1, PROBABILITY_CHUNK // policy.probability_draws(n_arms))
    targets = np.empty((n, n_arms))
    for first in range(0, used.size, chunk):
        group = used[first:first + chunk]
        stacked = ArmState(*(np.stack([getattr(states[j], name) for j in group]) for name in ("n", "sum", "sum_sq")))
        lo, hi = bounds[group[0]], bounds[group[-1] + 1]
        targets[lo:hi] = np.repeat(policy.probabilities(stacked, rng), lengths[group], axis=0)
        _report(progress, lo, hi, batch_size)
    return targets
