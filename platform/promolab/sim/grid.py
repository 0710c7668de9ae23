"""Grids of scenarios × policies × seeds, run as independent tasks over a process pool.

A ``GridTask`` is plain picklable data and ``run_task`` a top-level pure function, so any
``concurrent.futures.Executor`` can run them — a ``ProcessPoolExecutor`` here — and so can
Ray (``engine="ray"``: ``promolab.sim.ray_engine``, imported only then). Each task's seed is a
``SeedSequence`` keyed by (root seed, policy label, chunk), so results do not depend on the
engine, the number of workers, the order tasks finish in, or which other policies are in the grid.
"""

from __future__ import annotations

import multiprocessing
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from promolab.bandits import Policy
from promolab.bandits.base import check_int
from promolab.errors import InputError
from promolab.sim.metrics import SimulationSummary, summarise
from promolab.sim.scenario import CHUNK_RUNS, MAX_RUNS, MAX_SEED, Scenario, check_work
from promolab.sim.simulate import RunBatch, simulate

# Worker processes (or local Ray CPUs): each holds a task's arrays (up to a few hundred MB, see
# scenario.MAX_ARRAY_CELLS), and more workers than cores only add memory; 64 covers large servers.
MAX_WORKERS = 64
ENGINES = ("pool", "ray")  # pool: concurrent.futures processes (or in-process for workers=1); ray: Ray tasks


@dataclass(frozen=True, eq=False)
class GridTask:
    """``runs`` runs of one policy on one scenario; ``chunk`` orders a scenario-policy's tasks."""

    scenario_index: int
    scenario: Scenario
    label: str
    policy: Policy
    chunk: int
    runs: int
    seed: np.random.SeedSequence


def run_task(task: GridTask) -> RunBatch:
    """Simulate one task (pure: same task, same result)."""
    return simulate(task.scenario, task.policy, task.runs, task.seed)


def make_tasks(
    scenarios: Sequence[Scenario], *, runs: int | None = None, seed: int | None = None, chunk_runs: int = CHUNK_RUNS
) -> list[GridTask]:
    """Split every (scenario, policy) into chunks of at most ``chunk_runs`` runs.

    ``runs`` and ``seed`` override each scenario's own; both, and each scenario's totals with
    them (``check_work``), are validated before any task is made.
    """
    if runs is not None:
        runs = check_int("runs", runs, 1, MAX_RUNS)
    if seed is not None:
        seed = check_int("seed", seed, 0, MAX_SEED)
    chunk_runs = check_int("chunk_runs", chunk_runs, 1, MAX_RUNS)
    for scenario in scenarios:
        check_work(scenario, runs, chunk_runs=chunk_runs)
    tasks = []
    for i, scenario in enumerate(scenarios):
        total = runs or scenario.runs
        root = scenario.seed if seed is None else seed
        for entry in scenario.policies:
            label_key = zlib.crc32(entry.label.encode())
            for chunk, start in enumerate(range(0, total, chunk_runs)):
                seq = np.random.SeedSequence(entropy=(root, label_key), spawn_key=(chunk,))
                tasks.append(GridTask(i, scenario, entry.label, entry.policy, chunk,
                                      min(chunk_runs, total - start), seq))
    return tasks


def check_engine(engine: str, address: str | None = None) -> None:
    """Raise InputError for an unknown engine, an address without Ray, or Ray not installed."""
    if engine not in ENGINES:
        raise InputError("--engine", engine, "one of " + ", ".join(ENGINES))
    if address and engine != "ray":
        raise InputError("--address", address, "only with --engine ray")
    if engine == "ray":
        from promolab.sim import ray_engine  # noqa: F401  (lazy: Ray is an optional extra)


def run_grid(
    tasks: Sequence[GridTask],
    *,
    workers: int = 1,
    executor: Executor | None = None,
    on_done: Callable[[GridTask], None] | None = None,
    engine: str = "pool",
    address: str | None = None,
) -> list[SimulationSummary]:
    """Run tasks (in this process if ``workers == 1`` and no executor is given) and summarise
    each (scenario, policy) in grid order.

    ``engine="ray"`` runs the same tasks as Ray tasks: on a local Ray with ``workers`` CPUs (all
    of this machine's if ``workers == 1``) or on the cluster at ``address``; same results.
    """
    check_engine(engine, address)
    workers = check_int("workers", workers, 1, MAX_WORKERS)
    results: dict[int, RunBatch] = {}
    if engine == "ray":
        from promolab.sim import ray_engine

        results = ray_engine.run_tasks(tasks, address=address, num_cpus=workers if workers > 1 else None,
                                       on_done=(lambda index: on_done(tasks[index])) if on_done else None)
    elif executor is None and workers == 1:
        for index, task in enumerate(tasks):
            results[index] = run_task(task)
            if on_done:
                on_done(task)
    else:
        own = executor is None
        pool = executor or ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            futures = {pool.submit(run_task, task): index for index, task in enumerate(tasks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if on_done:
                    on_done(tasks[futures[future]])
        finally:
            if own:
                pool.shutdown(cancel_futures=True)
    groups: dict[tuple[int, str], list[int]] = {}
    for index, task in enumerate(tasks):
        groups.setdefault((task.scenario_index, task.label), []).append(index)
    summaries = []
    for indices in groups.values():
        first = tasks[indices[0]]
        batch = RunBatch.concat([results[i] for i in sorted(indices, key=lambda i: tasks[i].chunk)])
        summaries.append(summarise(batch, first.scenario, first.label, first.policy.to_dict()))
    return summaries

