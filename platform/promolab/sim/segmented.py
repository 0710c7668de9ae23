"""Segmented scenarios: users come from segments that may prefer different offers.

A scenario TOML is an ordinary scenario (``promolab.sim.scenario``) plus ``[[segments]]``
tables giving each segment's share of users and its own conversion rate per arm; a
policy with ``per_segment = true`` learns one policy per segment
(``promolab.bandits.segmented``), otherwise one global policy serves everyone::

    [arms]
    names = ["none", "10% off", "free shipping"]

    [[segments]]
    name = "bargain hunters"
    share = 0.5
    rate = [0.02, 0.05, 0.03]

    [[policies]]
    name = "thompson"
    label = "per-segment thompson"
    per_segment = true

Each step, a batch's users split over segments (multinomial on the shares, per run);
rewards come from that segment's ``Environment``. Regret is contextual: against the
best arm *of each user's segment*. The replay estimators (Li et al. replay, IPS, SNIPS,
DR with per-segment arm means as the reward model) evaluate either kind of policy on a
log with a segment column.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from promolab.bandits import ArmState, Policy, as_generator
from promolab.bandits.base import check_int
from promolab.bandits.segmented import MAX_SEGMENTS, SegmentedPolicy
from promolab.errors import InputError
from promolab.sim.environment import Environment
from promolab.sim.logged import LoggedData
from promolab.sim.metrics import Band
from promolab.sim.evaluation import evaluate_target
from promolab.sim.replay import (PolicyEvaluation, ReplayResult, check_replay_work, check_seed, replay,
                                 replay_estimate)
from promolab.sim.reward_model import CellMeans
from promolab.sim.scenario import (MAX_ARMS, MAX_RUNS, MAX_SEED, Scenario, check_work, parse_scenario,
                                   read_scenario_toml)
from promolab.sim.simulate import checkpoint_steps

# A segment's share is a relative weight (shares are normalised to sum to 1): finite and positive,
# at most this, so the sum of up to MAX_SEGMENTS of them stays finite and exact enough.
MAX_SHARE = 1e6


@dataclass(frozen=True, eq=False)
class SegmentedScenario:
    base: Scenario  # arms, horizon, batching, reward; its rate is the first segment's
    segments: tuple[str, ...]
    shares: np.ndarray  # (S,) summing to 1
    rates: np.ndarray  # (S, K)
    per_segment: dict[str, bool]  # policy label → learns per segment

    @property
    def name(self) -> str:
        return self.base.name

    def segment_scenario(self, s: int) -> Scenario:
        return replace(self.base, arms=replace(self.base.arms, rate=self.rates[s]))


def load_segmented_scenario(path: str | Path) -> SegmentedScenario:
    return parse_segmented_scenario(read_scenario_toml(path), source=str(path))


def parse_segmented_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> SegmentedScenario:
    segments = data.get("segments")
    if not isinstance(segments, list) or not segments:
        raise InputError("segments", segments, "at least one [[segments]] table with name, share, rate",
                         source=source)
    if len(segments) > MAX_SEGMENTS:
        raise InputError("segments", len(segments), f"at most {MAX_SEGMENTS:,} [[segments]] tables", source=source)
    arms = data.get("arms")
    if not isinstance(arms, Mapping) or not isinstance(arms.get("names"), list):
        raise InputError("arms", arms, "a table with names = [...]", source=source)
    k = len(arms["names"])
    if k > MAX_ARMS:
        raise InputError("arms.names", k, f"at most {MAX_ARMS} arms", source=source)
    names, shares, rates = [], [], []
    for i, seg in enumerate(segments):
        field = f"segments[{i}]"
        if not isinstance(seg, Mapping) or set(seg) - {"name", "share", "rate"} or "rate" not in seg:
            raise InputError(field, seg, "a table with name, share and rate = [one per arm]", source=source)
        rate, share = seg["rate"], seg.get("share", 1.0)
        if not isinstance(rate, list) or len(rate) != k or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) and 0 <= r <= 1 for r in rate):
            raise InputError(f"{field}.rate", rate, f"a list of {k} rates in [0, 1]", source=source)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= MAX_SHARE:
            raise InputError(f"{field}.share", share, f"a share in (0, {MAX_SHARE:g}] (shares are normalised)",
                             source=source)
        names.append(str(seg.get("name", f"segment {i + 1}")))
        shares.append(float(share))
        rates.append([float(r) for r in rate])
    if len(set(names)) != len(names):
        raise InputError("segments.name", names, "distinct segment names", source=source)
    policies = data.get("policies")
    if not isinstance(policies, list):
        raise InputError("policies", policies, "[[policies]] tables", source=source)
    clean = [{k2: v for k2, v in p.items() if k2 != "per_segment"} if isinstance(p, Mapping) else p for p in policies]
    base = parse_scenario({**{k2: v for k2, v in data.items() if k2 != "segments"},
                           "arms": {**arms, "rate": rates[0]}, "policies": clean}, source)
    flags = {}
    for entry, raw in zip(base.policies, policies):
        flag = raw.get("per_segment", False)
        if not isinstance(flag, bool):
            raise InputError(f"policies[{entry.label}].per_segment", flag, "true or false", source=source)
        flags[entry.label] = flag
    check_work(base, segments=len(names), chunk_runs=base.runs)  # segmented runs are not split into tasks
    share = np.array(shares)
    return SegmentedScenario(base, tuple(names), share / share.sum(), np.array(rates), flags)


@dataclass(frozen=True, eq=False)
class SegmentedSummary:
    scenario: str
    policy: str
    per_segment: bool
    runs: int
    users: np.ndarray  # (P,)
    regret: Band  # contextual regret at each checkpoint
    share: np.ndarray  # (S, K) final share of each segment's users per arm, mean over runs
    segments: tuple[str, ...]
    arms: tuple[str, ...]
    discount_spent: Band

    def to_dict(self) -> dict[str, Any]:
        r = lambda a: np.round(np.asarray(a, dtype=float), 6).tolist()  # noqa: E731
        return {"scenario": self.scenario, "policy": self.policy, "per_segment": self.per_segment,
                "runs": self.runs, "users": r(self.users),
                "regret": {"final": {k: v[-1] for k, v in self.regret.to_dict().items()}, **self.regret.to_dict()},
                "share": {s: dict(zip(self.arms, r(row))) for s, row in zip(self.segments, self.share)},
                "discount_spent": self.discount_spent.to_dict()["mean"][0]}


def simulate_segmented(scenario: SegmentedScenario, policy: Policy, per_segment: bool, runs: int,
                       seed: int | np.random.SeedSequence, label: str | None = None) -> SegmentedSummary:
    """``runs`` independent bandits (one per segment each if ``per_segment``) over the horizon."""
    base = scenario.base
    runs = check_int("runs", runs, 1, MAX_RUNS)
    check_work(base, runs, segments=len(scenario.segments), chunk_runs=runs, policies=1)
    rng = np.random.default_rng(seed)
    envs = [Environment.build(scenario.segment_scenario(s)) for s in range(len(scenario.segments))]
    n_seg, k = scenario.rates.shape
    marks = checkpoint_steps(base.steps, base.checkpoints)
    state = ArmState.empty(k, (runs, n_seg) if per_segment else (runs,))
    pending: deque = deque()
    pulls, regret, discount = np.zeros((runs, n_seg, k)), np.zeros(runs), np.zeros(runs)
    regret_at = np.zeros((runs, len(marks)))
    arm_ids, seg_ids = np.arange(k), np.arange(n_seg)
    mark = 0
    for step in range(base.steps):
        size = int(envs[0].batch_sizes[step])
        seg_counts = rng.multinomial(size, scenario.shares, size=runs)  # (R, S)
        arms = policy.choose(state, rng, size)
        if per_segment:  # (size, R, S): the first seg_counts[r, s] draws serve segment s
            used = np.arange(size)[:, None, None] < seg_counts[None]
            counts = ((arms[..., None] == arm_ids) & used[..., None]).sum(axis=0)
        else:  # (size, R): users in order belong to segments 0, 0, …, 1, 1, …
            seg_of = (np.arange(size)[:, None, None] >= np.cumsum(seg_counts, axis=1)[None]).sum(axis=2)
            counts = np.einsum("brs,brk->rsk", (seg_of[..., None] == seg_ids).astype(float),
                               (arms[..., None] == arm_ids).astype(float))
        counts = counts.astype(np.int64)
        feedback = [envs[s].draw(step, counts[:, s, :], rng) for s in range(n_seg)]
        pulls += counts
        regret += sum(counts[:, s, :] @ envs[s].gaps[step] for s in range(n_seg))
        discount += sum(f.discount.sum(axis=1) for f in feedback)
        stacked = [np.stack([getattr(f, name) for f in feedback], axis=1) for name in ("n", "sum", "sum_sq")]
        pending.append(stacked if per_segment else [x.sum(axis=1) for x in stacked])
        if len(pending) > base.delay:
            state = state.update(*pending.popleft())
        if step == marks[mark]:
            regret_at[:, mark] = regret
            mark += 1
    share = (pulls / np.maximum(pulls.sum(axis=2, keepdims=True), 1)).mean(axis=0)
    return SegmentedSummary(base.name, label or policy.name, per_segment, runs,
                            np.cumsum(envs[0].batch_sizes)[marks], Band.of(regret_at), share, scenario.segments,
                            base.arms.names, Band.of(discount[:, None]))


def run_segmented(scenario: SegmentedScenario, runs: int | None = None, seed: int | None = None,
                  on_done: Callable[[str], None] | None = None) -> list[SegmentedSummary]:
    """Every configured policy on the scenario, each with its own child seed.

    ``runs`` and ``seed`` override the scenario's; they and the totals they imply are validated
    before anything runs. ``on_done(label)``, if given, is called as each policy finishes.
    """
    runs = scenario.base.runs if runs is None else check_int("runs", runs, 1, MAX_RUNS)
    if seed is not None:
        seed = check_int("seed", seed, 0, MAX_SEED)
    check_work(scenario.base, runs, segments=len(scenario.segments), chunk_runs=runs)
    seeds = np.random.SeedSequence(scenario.base.seed if seed is None else seed).spawn(len(scenario.base.policies))
    summaries = []
    for entry, s in zip(scenario.base.policies, seeds):
        summaries.append(simulate_segmented(scenario, entry.policy, scenario.per_segment[entry.label], runs, s,
                                            entry.label))
        if on_done is not None:
            on_done(entry.label)
    return summaries


# --------------------------------------------------------------------------- replay on logs


def replay_segmented(action: np.ndarray, reward: np.ndarray, segment: np.ndarray, n_arms: int,
                     policy: SegmentedPolicy, *, seed: int | None = 0, batch_size: int = 1,
                     progress: Callable[[int], None] | None = None) -> ReplayResult:
    """Li et al.'s replay where each row's segment picks the policy row that serves it;
    ``progress(rows)`` as in :func:`promolab.sim.replay.replay`."""
    batch_size = check_replay_work(action.size, n_arms, policy.policy, batch_size, segments=policy.n_segments)
    check_seed(seed)
    rng = as_generator(seed)
    state = policy.empty_state(n_arms)
    targets = np.empty((action.size, n_arms))
    accepted = np.zeros(action.size, dtype=bool)
    for start in range(0, action.size, batch_size):
        rows = slice(start, start + batch_size)
        seg, logged, rewards = segment[rows], action[rows], reward[rows]
        targets[rows] = policy.probabilities(state, rng)[seg]
        match = accepted[rows] = policy.choose(state, seg, rng) == logged
        state = policy.update(state, seg[match], logged[match], rewards[match])
        if progress is not None:
            progress(logged.size)
    kept = reward[accepted]
    return ReplayResult(replay_estimate(kept, reward), kept.size, action.size, targets,
                        ArmState(state.n.sum(axis=0), state.sum.sum(axis=0), state.sum_sq.sum(axis=0)))


def evaluate_segmented(log: LoggedData, labels: np.ndarray, policy: Policy, *, per_segment: bool = True,
                       seed: int = 0, batch_size: int = 100,
                       progress: Callable[[int], None] | None = None) -> PolicyEvaluation:
    """Replay and the off-policy estimates of a per-segment (or global) policy on a log with segments.

    The reward model of DR, DM and switch-DR is per (segment, arm) for both, so the two are compared fairly.
    ``progress(rows)`` is called after each replayed batch with its number of rows.
    """
    k = len(log.arms)
    segments = tuple(sorted(set(np.asarray(labels).astype(str))))
    wrapped = SegmentedPolicy(policy, segments)
    seg = wrapped.index(labels)
    if per_segment:
        result = replay_segmented(log.action, log.reward, seg, k, wrapped, seed=seed, batch_size=batch_size,
                                  progress=progress)
    else:
        result = replay(log.action, log.reward, k, policy, seed=seed, batch_size=batch_size, with_targets=True,
                        progress=progress)
    info = {**policy.to_dict(), "per_segment": per_segment, "segments": list(segments)}
    return PolicyEvaluation(source=log.source, policy=info, arms=log.arms, rows=log.n,
                            uniform_logging=log.uniform_logging, replay=result,
                            ope=evaluate_target(log, result.targets, CellMeans(seg, len(segments))))


__all__ = ["SegmentedScenario", "SegmentedSummary", "evaluate_segmented", "load_segmented_scenario",
           "parse_segmented_scenario", "replay_segmented", "run_segmented", "simulate_segmented"]
