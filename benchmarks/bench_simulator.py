"""Simulator speed: promolab's vectorised runs vs a plain vectorised numpy loop (the floor:
one draw per run per step, no scenario, no checkpoints) and MABWiser's own per-user loop,
at 200 and 1,000 runs; and the process-pool speed-up on a grid. Ratios are measured in the
same run; not a timed test.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_simulator.py [--runs 200 1000] [--mab-runs 50]

The MABWiser loop here is also the reference the cross-check test in
tests/sim/test_regret.py uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from promolab.bandits import make_policy
from promolab.sim.grid import make_tasks, run_grid
from promolab.sim.metrics import Band
from promolab.sim.scenario import load_scenario, parse_scenario
from promolab.sim.simulate import simulate

RATES = [0.10, 0.12, 0.15, 0.20, 0.25]
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import machine  # noqa: E402


def mabwiser_regret(policy: str, rates: list[float], runs: int, steps: int, seed: int) -> np.ndarray:
    """Cumulative pseudo-regret after ``steps`` users for each of ``runs`` MABWiser bandits,
    stepped one user at a time with ``predict`` / ``partial_fit`` (its own loop). Each run
    starts with one real pull of every arm, which MABWiser needs before predicting."""
    from mabwiser.mab import MAB, LearningPolicy

    learning = {"thompson": LearningPolicy.ThompsonSampling(), "ucb1": LearningPolicy.UCB1(alpha=1.0)}[policy]
    mu = np.asarray(rates)
    gaps = mu.max() - mu
    rng = np.random.default_rng(seed)
    arms = list(range(mu.size))
    regret = np.zeros(runs)
    for run in range(runs):
        mab = MAB(arms, learning, seed=seed + run)
        mab.fit(decisions=arms, rewards=(rng.random(mu.size) < mu).astype(int).tolist())
        total = gaps.sum()
        for _ in range(steps - mu.size):
            arm = mab.predict()
            mab.partial_fit([arm], [int(rng.random() < mu[arm])])
            total += gaps[arm]
        regret[run] = total
    return regret


def numpy_regret(policy: str, rates: list[float], runs: int, steps: int, seed: int) -> np.ndarray:
    """Cumulative pseudo-regret after ``steps`` users for ``runs`` bandits stepped together by a
    plain numpy loop: Thompson draws Beta(1 + s, 1 + f) per run and arm, UCB1 plays each arm
    once and then argmax of mean + √(2 ln t / n); one reward draw per run per step."""
    mu = np.asarray(rates)
    k = mu.size
    gaps = mu.max() - mu
    rng = np.random.default_rng(seed)
    wins = np.zeros((runs, k))
    pulls = np.zeros((runs, k))
    regret = np.zeros(runs)
    rows = np.arange(runs)
    for t in range(steps):
        if policy == "thompson":
            arm = rng.beta(1.0 + wins, 1.0 + pulls - wins).argmax(axis=1)
        elif t < k:
            arm = np.full(runs, t)
        else:
            arm = (wins / pulls + np.sqrt(2.0 * np.log(t) / pulls)).argmax(axis=1)
        reward = rng.random(runs) < mu[arm]
        wins[rows, arm] += reward
        pulls[rows, arm] += 1.0
        regret += gaps[arm]
    return regret


def scenario(horizon: int, policy: str):
    return parse_scenario({"name": "bench-5-arms", "horizon": horizon, "checkpoints": 10,
                           "arms": {"names": [f"arm{i}" for i in range(len(RATES))], "rate": RATES},
                           "policies": [{"name": policy}]})


def speed(policy: str, runs_list: list[int], steps: int, mab_runs: int) -> None:
    start = time.perf_counter()
    theirs = mabwiser_regret(policy, RATES, mab_runs, steps, seed=2)
    mab_rate = mab_runs * steps / (time.perf_counter() - start)
    mab_se = theirs.std(ddof=1) / np.sqrt(mab_runs)
    print(f"{policy:9s} MABWiser {mab_runs}×{steps:,}: {mab_rate:9,.0f} steps/s; "
          f"regret {theirs.mean():.1f} ± {1.96 * mab_se:.1f}")
    for runs in runs_list:
        sc = scenario(steps, policy)
        ours_t, floor_t = [], []
        for rep in range(3):  # median of 3, alternating
            start = time.perf_counter()
            batch = simulate(sc, make_policy(policy), runs, seed=1 + rep)
            ours_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            floor = numpy_regret(policy, RATES, runs, steps, seed=3 + rep)
            floor_t.append(time.perf_counter() - start)
        ours, plain = float(np.median(ours_t)), float(np.median(floor_t))
        band = Band.of(batch.regret[:, -1:])
        z = (theirs.mean() - band.mean[0]) / np.hypot(band.se[0], mab_se)
        z_floor = (floor.mean() - band.mean[0]) / np.hypot(band.se[0], floor.std(ddof=1) / np.sqrt(runs))
        rate = runs * steps / ours
        print(f"{'':9s} {runs:>5} runs: promolab {ours:6.2f} s {rate:12,.0f} steps/s | plain numpy loop "
              f"{plain:6.2f} s: promolab takes {ours / plain:4.2f}× its time | {rate / mab_rate:5.0f}× MABWiser")
        print(f"{'':9s} {'':>10}  regret at {steps:,}: promolab {band.mean[0]:.1f} ± {1.96 * band.se[0]:.1f}, "
              f"numpy loop {floor.mean():.1f} (z = {z_floor:+.2f}), MABWiser z = {z:+.2f}")


def pool_speedup(runs: int) -> None:
    scenarios = [load_scenario(ROOT / "simulations" / name) for name in ("hillstrom.toml", "delayed-feedback.toml")]
    scenarios = [s.with_policies(["thompson", "ucb1"]) for s in scenarios]
    tasks = make_tasks(scenarios, runs=runs, seed=3, chunk_runs=100)
    timings = {}
    for workers in (1, 2):
        start = time.perf_counter()
        summaries = run_grid(tasks, workers=workers)
        timings[workers] = time.perf_counter() - start
        regret = [round(float(s.regret.mean[-1]), 6) for s in summaries]
        if workers == 1:
            reference = regret
    print(f"grid {len(scenarios)} scenarios × 2 policies × {runs} runs ({len(tasks)} tasks): "
          f"1 worker {timings[1]:.1f} s, 2 workers {timings[2]:.1f} s, speed-up {timings[1] / timings[2]:.2f}× "
          f"(identical results: {regret == reference}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--mab-runs", type=int, default=50)
    parser.add_argument("--grid-runs", type=int, default=800)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    for policy in ("thompson", "ucb1"):
        speed(policy, args.runs, args.steps, args.mab_runs)
    pool_speedup(args.grid_runs)


if __name__ == "__main__":
    main()
