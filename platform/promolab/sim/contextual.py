"""Vectorised simulation of contextual scenarios (``promolab.sim.contextual_scenario``).

Each step, every run draws a batch of customers from the table (with replacement), the policy
picks an offer for each from its state (a contextual policy from their context vectors, a
context-free one from its arm statistics alone), conversions are drawn from the true model,
and the policy learns the batch. The Python loop is over steps, never over users or runs.

Every policy sees the same customers and the same conversion draws (common random numbers,
keyed by the scenario's seed), so differences between policies are theirs, not luck's.
Regret is against the oracle that knows the true model and shows each customer their best
offer: Σₜ (maxₖ μₖ(xₜ) − μ_{aₜ}(xₜ)), in expectation given the customers drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from promolab.bandits import ArmState
from promolab.bandits.base import check_int
from promolab.bandits.contextual import one_hot
from promolab.sim.contextual_scenario import ContextualEntry, ContextualScenario, check_contextual_work
from promolab.sim.metrics import Band, _list
from promolab.sim.scenario import MAX_RUNS, MAX_SEED
from promolab.sim.simulate import checkpoint_steps


@dataclass(frozen=True, eq=False)
class ContextualRuns:
    """Per-run trajectories at checkpoints."""

    users: np.ndarray                  # (P,) users per run at each checkpoint
    regret: np.ndarray                 # (R, P) cumulative expected regret versus the oracle
    reward: np.ndarray                 # (R, P) cumulative realised reward
    pulls: np.ndarray                  # (R, P, K) cumulative users per offer
    segment_pulls: np.ndarray | None   # (R, S, K) users per segment and offer, whole run


def simulate_contextual(scenario: ContextualScenario, entry: ContextualEntry, runs: int, seed: int) -> ContextualRuns:
    """``runs`` independent runs of one policy over ``scenario.horizon`` users each.

    ``seed`` keys the customers and conversions (shared by every policy) and, with the policy's
    label, the policy's own draws.
    """
    runs = check_int("runs", runs, 1, MAX_RUNS)
    check_contextual_work(scenario, runs, policies=1)
    pop, policy, k = scenario.population, entry.policy, scenario.k
    world = np.random.default_rng(np.random.SeedSequence(check_int("seed", seed, 0, MAX_SEED), spawn_key=(0,)))
    rng = np.random.default_rng(entry.seed(seed))
    gaps, n_seg = pop.gaps, len(pop.segments)
    state = (policy.empty_state(k, pop.X.shape[1], (runs,)) if entry.contextual else ArmState.empty(k, (runs,)))
    marks = checkpoint_steps(scenario.steps, scenario.checkpoints)
    regret_at, reward_at = np.zeros((runs, len(marks))), np.zeros((runs, len(marks)))
    pulls_at = np.zeros((runs, len(marks), k))
    regret, reward, pulls = np.zeros(runs), np.zeros(runs), np.zeros((runs, k))
    segment_pulls = np.zeros(runs * n_seg * k)
    run_ids = np.arange(runs)[:, None]
    mark = 0
    for step in range(scenario.steps):
        size = min(scenario.batch_size, scenario.horizon - step * scenario.batch_size)
        rows = world.integers(len(pop.X), size=(runs, size))
        converts = world.random((runs, size))
        X = pop.X[rows]
        arms = policy.choose(state, X, rng) if entry.contextual else policy.choose(state, rng, size).T
        y = (converts < pop.rate[rows, arms]).astype(float)
        r = scenario.value[arms] * y - scenario.cost[arms]
        shown = one_hot(arms, k)
        regret += gaps[rows, arms].sum(axis=1)
        reward += r.sum(axis=1)
        pulls += shown.sum(axis=1)
        if n_seg:
            cells = ((run_ids * n_seg + pop.segment[rows]) * k + arms).ravel()
            segment_pulls += np.bincount(cells, minlength=segment_pulls.size)
        if entry.contextual:
            state = policy.update(state, X, arms, y if policy.bernoulli_only else r)
        else:
            state = state.update(shown.sum(axis=1), (shown * r[..., None]).sum(axis=1),
                                 (shown * (r * r)[..., None]).sum(axis=1))
        if step == marks[mark]:
            regret_at[:, mark], reward_at[:, mark], pulls_at[:, mark] = regret, reward, pulls
            mark += 1
    users = np.minimum((marks + 1) * scenario.batch_size, scenario.horizon)
    return ContextualRuns(users, regret_at, reward_at, pulls_at,
                          segment_pulls.reshape(runs, n_seg, k) if n_seg else None)


@dataclass(frozen=True, eq=False)
class ContextualSummary:
    """What a data scientist reads off the simulation of one policy on a contextual scenario."""

    policy: str
    params: dict[str, Any]
    contextual: bool
    runs: int
    users: np.ndarray                    # (P,) checkpoints
    regret: Band                         # cumulative regret versus the oracle, at each checkpoint
    final_regret: Band                   # regret per user over the last checkpoint window, (1,)
    reward: Band                         # mean realised reward per user over the whole run, (1,)
    allocation: np.ndarray               # (P, K) share of each window's users per offer
    final_share: np.ndarray              # (K,) share of all users per offer
    segment_share: np.ndarray | None     # (S, K) share of each segment's users per offer

    @classmethod
    def of(cls, runs: ContextualRuns, entry: ContextualEntry) -> ContextualSummary:
        window = np.diff(runs.pulls, axis=1, prepend=0.0)
        last = np.diff(runs.regret, axis=1, prepend=0.0)[:, -1:] / np.diff(runs.users, prepend=0)[-1]
        total = runs.pulls[:, -1, :]
        segment_share = None
        if runs.segment_pulls is not None:
            seg = runs.segment_pulls.sum(axis=0)
            segment_share = seg / np.maximum(seg.sum(axis=1, keepdims=True), 1)
        return cls(entry.label, entry.policy.to_dict(), entry.contextual, runs.regret.shape[0], runs.users,
                   Band.of(runs.regret), Band.of(last), Band.of(runs.reward[:, -1:] / runs.users[-1]),
                   (window / window.sum(axis=2, keepdims=True)).mean(axis=0),
                   (total / total.sum(axis=1, keepdims=True)).mean(axis=0), segment_share)

    def to_dict(self, arms: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, Any]:
        final = lambda band: {k: v[-1] for k, v in band.to_dict().items()}  # noqa: E731
        return {
            "policy": self.policy, "params": self.params, "contextual": self.contextual, "runs": self.runs,
            "users": _list(self.users),
            "regret": {"final": final(self.regret), **self.regret.to_dict()},
            "final_step_regret_per_user": final(self.final_regret),
            "reward_per_user": final(self.reward),
            "allocation": {"final_share": dict(zip(arms, _list(self.final_share))),
                           "over_time": [dict(zip(arms, row)) for row in _list(self.allocation)]},
            "allocation_by_segment": None if self.segment_share is None else
            {s: dict(zip(arms, row)) for s, row in zip(segments, _list(self.segment_share))},
        }


@dataclass(frozen=True, eq=False)
class ContextualReport:
    """Every policy of a scenario, with the oracle's and each single offer's value for reference."""

    scenario: ContextualScenario
    runs: int
    seed: int
    results: tuple[ContextualSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        sc, pop = self.scenario, self.scenario.population
        return {
            "file": sc.source, "name": sc.name, "kind": "contextual", "description": sc.description,
            "data": sc.data, "link": sc.link, "horizon": sc.horizon, "batch_size": sc.batch_size,
            "runs": self.runs, "seed": self.seed, "features": list(sc.features.columns), "segment": sc.segment,
            "arms": {"names": list(sc.arms), "value": _list(sc.value), "cost": _list(sc.cost)},
            "oracle": {"value_per_user": round(pop.oracle_value, 6),
                       "best_offer_share": dict(zip(sc.arms, _list(pop.oracle_share))),
                       "offer_value_per_user": dict(zip(sc.arms, _list(pop.offer_values))),
                       "best_fixed_offer": sc.arms[int(np.argmax(pop.offer_values))],
                       "best_fixed_regret": round(sc.best_fixed_regret, 6)},
            "results": [r.to_dict(sc.arms, pop.segments) for r in self.results],
        }


def run_contextual(scenario: ContextualScenario, runs: int | None = None, seed: int | None = None,
                   on_done: Callable[[str], None] | None = None) -> ContextualReport:
    """Every configured policy on the scenario. ``runs`` and ``seed`` override the scenario's;
    they and the totals they imply are validated before anything runs. ``on_done(label)`` is
    called as each policy finishes."""
    runs = scenario.runs if runs is None else check_int("runs", runs, 1, MAX_RUNS)
    seed = scenario.seed if seed is None else check_int("seed", seed, 0, MAX_SEED)
    check_contextual_work(scenario, runs)
    results = []
    for entry in scenario.policies:
        results.append(ContextualSummary.of(simulate_contextual(scenario, entry, runs, seed), entry))
        if on_done is not None:
            on_done(entry.label)
    return ContextualReport(scenario, runs, seed, tuple(results))
