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
from promolab.sim.environment import Environment, Feedback, UserFeedback
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
    Σₜ (μ*(t) − μ_{aₜ}(t)) against the per-step oracle. With ``batch_size = 1`` each step
    draws one uniform per run (``Environment.draw_users``) rather than a binomial per run
    and arm: the same reward distribution, fewer draws.
    """
    runs = check_int("runs", runs, 1, MAX_RUNS)
    check_work(scenario, runs, chunk_runs=runs, policies=1)  # all runs step together here
    return _simulate(scenario, policy, runs, seed, progress, per_user=scenario.batch_size == 1)


def _simulate(
    scenario: Scenario,
    policy: Policy,
    runs: int,
    seed: int | np.random.SeedSequence,
    progress: Callable[[int], None] | None,
    *,
    per_user: bool,
) -> RunBatch:
    """``simulate`` on validated arguments; ``per_user`` steps one user per run (batch size 1)."""
    rng = np.random.default_rng(seed)
    env = Environment.build(scenario)
    k, delay = scenario.arms.k, scenario.delay
    gaps, margin_gaps = env.gaps, env.margin_gaps
    marks = checkpoint_steps(scenario.steps, scenario.checkpoints)
    regret_at = np.zeros((runs, len(marks)))
    pulls_at = np.zeros((runs, len(marks), k))
    identified_at = np.zeros((runs, len(marks)), dtype=bool)
    tally = _Tally(runs, k, delay, binary=scenario.reward == "conversion")
    arm_ids = np.arange(k)
    mark = 0
    for step in range(scenario.steps):
        feedback: Feedback | UserFeedback
        if per_user:
            feedback = env.draw_users(step, policy.choose(tally.state, rng, 1)[0], rng)
        else:
            arms = policy.choose(tally.state, rng, int(env.batch_sizes[step]))
            feedback = env.draw(step, (arms[..., None] == arm_ids).sum(axis=0), rng)
        tally.add(feedback, gaps[step], None if margin_gaps is None else margin_gaps[step])
        if step == marks[mark]:
            regret_at[:, mark], pulls_at[:, mark] = tally.regret, tally.pulls
            identified_at[:, mark] = np.argmax(np.nan_to_num(tally.state.mean, nan=-np.inf), axis=1) == env.best_arm[step]
            mark += 1
            if progress is not None:
                progress(step + 1)
    users = np.cumsum(env.batch_sizes)[marks]
    return RunBatch(users, env.best_arm[marks], regret_at, pulls_at, identified_at, tally.discount,
                    None if margin_gaps is None else tally.margin_lost)


class _Tally:
    """Running per-run totals, added to in place. The fed-back n, Σy, Σy² live in one arm-major
    buffer (·, K, runs), seen as (runs, K) views: ``state`` is one ``ArmState``, validated once,
    whose reductions over arms (a policy's per-run max, sum) run along contiguous rows. With
    0/1 rewards Σy² = Σy, and one array serves as both."""

    def __init__(self, runs: int, k: int, delay: int, binary: bool) -> None:
        self._buffer = np.zeros((2 if binary else 3, k, runs))  # n, Σy[, Σy²]
        self._rows = np.arange(runs)
        self._delay = delay
        self._pending: deque[tuple[Feedback | UserFeedback, np.ndarray | None]] = deque()
        n, total, *total_sq = self._buffer.transpose(0, 2, 1)
        self.state = ArmState(n, total, total_sq[0] if total_sq else total)
        self.regret, self.discount, self.margin_lost = np.zeros(runs), np.zeros(runs), np.zeros(runs)

    @property
    def pulls(self) -> np.ndarray:
        """Users shown each arm in each run, (runs, K): fed back or still pending."""
        shown = self._buffer[:1].copy()
        for feedback, cells in self._pending:
            self._fold(feedback, cells, shown)
        return shown[0].T

    def add(self, feedback: Feedback | UserFeedback, gaps: np.ndarray, margin_gaps: np.ndarray | None) -> None:
        """One step's users: regret and (with order values) discount and margin lost now;
        their n, Σy and Σy² reach ``state`` ``delay`` steps later."""
        # a user per run: the flat buffer cell of (run, arm), to add to without one-hot arrays
        cells = feedback.arms * self._rows.size + self._rows if isinstance(feedback, UserFeedback) else None
        self.regret += feedback.per_run(gaps)
        if margin_gaps is not None:  # otherwise no order values: nothing spent
            self.discount += feedback.spent
            self.margin_lost += feedback.per_run(margin_gaps)
        self._pending.append((feedback, cells))
        if len(self._pending) > self._delay:
            self._fold(*self._pending.popleft(), self._buffer)

    @staticmethod
    def _fold(feedback: Feedback | UserFeedback, cells: np.ndarray | None, into: np.ndarray) -> None:
        """Add the feedback's n, Σy, Σy² (as many as ``into`` has rows for) to ``into``, (m, K, runs)."""
        stats = (feedback.n, feedback.sum, feedback.sum_sq)
        if cells is None:
            for target, values in zip(into, stats):
                target += values.T
        else:
            for target, values in zip(into.reshape(len(into), -1), stats):
                np.add.at(target, cells, values)
