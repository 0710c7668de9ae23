"""Contextual bandits: promolab's vectorised LinUCB and linear Thompson sampling vs MABWiser's
LearningPolicy.LinUCB and LinTS on the same scenario, measured in the same run; not a timed test.

    .venv/bin/python benchmarks/bench_contextual.py [--runs 100] [--mab-runs 10] [--repeats 3]

Scenario: simulations/contextual/hillstrom.toml (customers drawn from Hillstrom's table, a
logistic response per offer, batches of 100 users between updates), the same parameters for
both libraries (LinUCB α, λ; LinTS v = MABWiser's α, λ). promolab steps all its runs as arrays;
MABWiser runs one bandit at a time with its own batched ``predict`` / ``partial_fit`` (each run
first shows every offer to one user, which MABWiser needs before predicting). Throughput is
decisions (users) per second; regret is the final cumulative expected regret against the
oracle that shows each customer their best offer, mean over runs ± 1.96 se. Each measurement
is repeated; the ratio printed is the median of the per-repeat ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import machine  # noqa: E402

from promolab.sim.contextual import simulate_contextual  # noqa: E402
from promolab.sim.contextual_scenario import ContextualScenario, load_contextual_scenario  # noqa: E402

SCENARIO = Path(__file__).resolve().parents[1] / "simulations" / "contextual" / "hillstrom.toml"


def mabwiser_regret(scenario: ContextualScenario, label: str, runs: int, seed: int) -> np.ndarray:
    """Final cumulative regret of ``runs`` MABWiser bandits, each stepped batch by batch."""
    from mabwiser.mab import MAB, LearningPolicy

    params = next(e.policy for e in scenario.policies if e.label == label).params()
    learning = (LearningPolicy.LinUCB(alpha=params["alpha"], l2_lambda=params["l2"]) if label == "linucb"
                else LearningPolicy.LinTS(alpha=params["v"], l2_lambda=params["l2"]))
    pop, k = scenario.population, scenario.k
    rng = np.random.default_rng(seed)
    regret = np.zeros(runs)
    for run in range(runs):
        mab = MAB(list(range(k)), learning, seed=seed + run)
        rows = rng.integers(len(pop.X), size=k)
        arms = np.arange(k)
        served = k
        while True:
            y = (rng.random(arms.size) < pop.rate[rows, arms]).astype(float)
            rewards = scenario.value[arms] * y - scenario.cost[arms]
            regret[run] += pop.gaps[rows, arms].sum()
            if served == k:
                mab.fit(decisions=arms, rewards=rewards, contexts=pop.X[rows])
            else:
                mab.partial_fit(decisions=arms, rewards=rewards, contexts=pop.X[rows])
            size = min(scenario.batch_size, scenario.horizon - served)
            if size == 0:
                break
            rows = rng.integers(len(pop.X), size=size)
            arms = np.asarray(mab.predict(pop.X[rows]) if size > 1 else [mab.predict(pop.X[rows])]).reshape(-1)
            served += size
    return regret


def measure(scenario: ContextualScenario, label: str, runs: int, mab_runs: int, seed: int) -> dict:
    entry = next(e for e in scenario.policies if e.label == label)
    start = time.perf_counter()
    ours = simulate_contextual(scenario, entry, runs, seed).regret[:, -1]
    ours_time = time.perf_counter() - start
    start = time.perf_counter()
    theirs = mabwiser_regret(scenario, label, mab_runs, seed)
    mab_time = time.perf_counter() - start
    return {"ours_rate": runs * scenario.horizon / ours_time, "mab_rate": mab_runs * scenario.horizon / mab_time,
            "ours": ours, "theirs": theirs}


def band(values: np.ndarray) -> str:
    return f"{values.mean():6.1f} ± {1.96 * values.std(ddof=1) / np.sqrt(values.size):4.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="promolab runs per repeat")
    parser.add_argument("--mab-runs", type=int, default=10, help="MABWiser runs per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scenario = load_contextual_scenario(SCENARIO)
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"scenario: {scenario.name}, {scenario.horizon:,} users per run, batches of {scenario.batch_size}, "
          f"{scenario.k} offers, d = {scenario.features.dim}; "
          f"best single offer's regret {scenario.best_fixed_regret:.1f}")
    for label in ("linucb", "lin-ts"):
        results = [measure(scenario, label, args.runs, args.mab_runs, seed=100 + r) for r in range(args.repeats)]
        ratios = [r["ours_rate"] / r["mab_rate"] for r in results]
        ours = np.concatenate([r["ours"] for r in results])
        theirs = np.concatenate([r["theirs"] for r in results])
        z = (theirs.mean() - ours.mean()) / np.hypot(ours.std(ddof=1) / np.sqrt(ours.size),
                                                     theirs.std(ddof=1) / np.sqrt(theirs.size))
        ours_rate = statistics.median(r["ours_rate"] for r in results)
        mab_rate = statistics.median(r["mab_rate"] for r in results)
        print(f"{label:7s} promolab {args.runs}×{scenario.horizon:,}: {ours_rate:10,.0f} users/s | MABWiser "
              f"{args.mab_runs}×{scenario.horizon:,}: {mab_rate:8,.0f} users/s | ratio "
              f"{statistics.median(ratios):5.0f}× (repeats: {', '.join(f'{x:.0f}' for x in ratios)})")
        print(f"{'':7s} final regret: promolab {band(ours)} ({ours.size} runs), MABWiser {band(theirs)} "
              f"({theirs.size} runs), z = {z:+.2f}; ratio of means {ours.mean() / theirs.mean():.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
