"""Vectorised simulation: many independent runs of one policy stepped together as arrays.

Each step hands a batch of users to every run at once (``policy.choose`` on a
(runs, K) state), draws their rewards, and folds feedback into the state after
``delay`` steps. The Python loop is over steps, never over users or runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from promolab.bandits import ArmState, Policy
from promolab.bandits.base import check_int
from promolab.sim.environment import Environment, Feedback
from promolab.sim.scenario import MAX_RUNS, Scenario, check_work


@dataclass(frozen=True, eq=False)
class RunBatch:
    """Per-run trajectories recorded at checkpoints; batches of the same scenario concatenate."""

    users: np.ndarray               # (P,) users seen per run at each checkpoint
    best_arm: np.ndarray            # (P,) the oracle's arm at each checkpoint
    regret: np.ndarray              # (R, P) cumulative expected regret
    pulls: np.ndarray               # (R, P, K) cumulative users per arm
    identified: np.ndarray          # (R, P) empirical-best arm == oracle arm
    discount: np.ndarray            # (R,) total discount spent
    margin_lost: np.ndarray | None  # (R,) expected margin lost versus the margin-best arm

    @property
    def runs(self) -> int:
        return self.regret.shape[0]

    @classmethod
    def concat(cls, batches: Sequence[RunBatch]) -> RunBatch:
        first = batches[0]
        stack = lambda name: np.concatenate([getattr(b, name) for b in batches])  # noqa: E731
        margin = None if first.margin_lost is None else stack("margin_lost")
        return cls(first.users, first.best_arm, stack("regret"), stack("pulls"), stack("identified"),
                   stack("discount"), margin)


def checkpoint_steps(steps: int, count: int) -> np.ndarray:
    """Up to ``count`` step indices spread evenly over the run, always including the last."""
    return np.unique(np.linspace(0, steps - 1, min(count, steps) + 1)[1:].round().astype(int))


def simulate(
    scenario: Scenario,
    policy: Policy,
    runs: int,
    seed: int | np.random.SeedSequence,
    progress: Callable[[int], None] | None = None,
) -> RunBatch:
    """Run ``runs`` independent bandits for ``scenario.horizon`` users each.

    ``progress(steps_done)`` is called at each checkpoint. Regret is the pseudo-regret
    Σₜ (μ*(t) − μ_{aₜ}(t)) against the per-step oracle.
    """
    runs = check_int("runs", runs, 1, MAX_RUNS)
    check_work(scenario, runs, chunk_runs=runs, policies=1)  # all runs step together here
    rng = np.random.default_rng(seed)
    env = Environment.build(scenario)
    k, delay = scenario.arms.k, scenario.delay
    gaps, margin_gaps = env.gaps, env.margin_gaps
    marks = checkpoint_steps(scenario.steps, scenario.checkpoints)
    regret_at = np.zeros((runs, len(marks)))
    pulls_at = np.zeros((runs, len(marks), k))
    identified_at = np.zeros((runs, len(marks)), dtype=bool)
    state = ArmState.empty(k, (runs,))
    pending: deque[Feedback] = deque()
    pulls, regret = np.zeros((runs, k)), np.zeros(runs)
    discount, margin_lost = np.zeros(runs), np.zeros(runs)
    arm_ids = np.arange(k)
    mark = 0
    for step in range(scenario.steps):
        arms = policy.choose(state, rng, int(env.batch_sizes[step]))
        counts = (arms[..., None] == arm_ids).sum(axis=0)
        feedback = env.draw(step, counts, rng)
        pulls += counts
        regret += counts @ gaps[step]
        discount += feedback.discount.sum(axis=1)
        if margin_gaps is not None:
            margin_lost += counts @ margin_gaps[step]
        pending.append(feedback)
        if len(pending) > delay:
            done = pending.popleft()
            state = state.update(done.n, done.sum, done.sum_sq)
        if step == marks[mark]:
            regret_at[:, mark], pulls_at[:, mark] = regret, pulls
            identified_at[:, mark] = np.argmax(np.nan_to_num(state.mean, nan=-np.inf), axis=1) == env.best_arm[step]
            mark += 1
            if progress is not None:
                progress(step + 1)
    users = np.cumsum(env.batch_sizes)[marks]
    return RunBatch(users, env.best_arm[marks], regret_at, pulls_at, identified_at, discount,
                    None if margin_gaps is None else margin_lost)
