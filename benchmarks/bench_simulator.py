"""Simulator speed: promolab's vectorised runs vs MABWiser's own per-user loop, and the
process-pool speed-up on a grid. Ratios are measured in the same run; not a timed test.

    .venv/bin/python benchmarks/bench_simulator.py [--mab-runs 50] [--quick]

Needs MABWiser (``pip install mabwiser``); the MABWiser loop here is also the reference the
cross-check test in tests/sim/test_regret.py uses.
"""

from __future__ import annotations

import argparse
import os
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


def scenario(horizon: int, policy: str):
    return parse_scenario({"name": "bench-5-arms", "horizon": horizon, "checkpoints": 10,
                           "arms": {"names": [f"arm{i}" for i in range(len(RATES))], "rate": RATES},
                           "policies": [{"name": policy}]})


def speed(policy: str, runs: int, steps: int, mab_runs: int) -> None:
    sc = scenario(steps, policy)
    start = time.perf_counter()
    batch = simulate(sc, make_policy(policy), runs, seed=1)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = mabwiser_regret(policy, RATES, mab_runs, steps, seed=2)
    mab_time = time.perf_counter() - start
    ours_rate, mab_rate = runs * steps / ours, mab_runs * steps / mab_time
    band = Band.of(batch.regret[:, -1:])
    mab_se = theirs.std(ddof=1) / np.sqrt(mab_runs)
    z = (theirs.mean() - band.mean[0]) / np.hypot(band.se[0], mab_se)
    print(f"{policy:9s} promolab {runs}×{steps:,}: {ours:6.1f} s, {ours_rate:12,.0f} steps/s | "
          f"MABWiser {mab_runs}×{steps:,}: {mab_time:6.1f} s, {mab_rate:9,.0f} steps/s | "
          f"ratio {ours_rate / mab_rate:6.0f}×")
    print(f"{'':9s} regret at {steps:,}: promolab {band.mean[0]:.1f} ± {1.96 * band.se[0]:.1f} "
          f"(runs 5–95 %: {band.low[0]:.0f}–{band.high[0]:.0f}), MABWiser {theirs.mean():.1f} ± {1.96 * mab_se:.1f}, "
          f"z = {z:+.2f}")


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
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--mab-runs", type=int, default=50)
    parser.add_argument("--grid-runs", type=int, default=800)
    args = parser.parse_args()
    for policy in ("thompson", "ucb1"):
        speed(policy, args.runs, args.steps, args.mab_runs)
    pool_speedup(args.grid_runs)


if __name__ == "__main__":
    main()
