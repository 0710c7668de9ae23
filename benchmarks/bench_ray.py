"""Simulation grid on Ray vs the process pool vs serial, speed-ups against the serial baseline
measured in the same run. Not a timed test.

    .venv/bin/python benchmarks/bench_ray.py [--runs 34] [--chunk-runs 17] [--workers 2] [--address ray://HOST:10001]

Grid: coupons + delayed-feedback × 3 policies × ``--runs`` runs each (default 2 × 3 × 34 = 204
runs), split in tasks of ``--chunk-runs`` runs. Pool times include starting the worker processes;
Ray is shown with and without starting and stopping a local Ray (``ray.init`` / ``shutdown``).
Every engine must return identical results. Needs ``pip install 'promolab[ray]'``.
``measure()`` returns the numbers for other benchmarks (e.g. bench_scale.py) to print.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from promolab.sim.grid import make_tasks, run_grid
from promolab.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
GRID = {"coupons.toml": ["thompson", "ucb1", "epsilon-greedy"],
        "delayed-feedback.toml": ["thompson", "top-two-thompson", "kl-ucb"]}


def _fingerprint(summaries) -> str:
    return json.dumps([s.to_dict() for s in summaries], sort_keys=True)


def measure(runs: int = 34, chunk_runs: int = 17, workers: int = 2, address: str | None = None,
            seed: int = 3) -> dict:
    """Time serial, process pool and Ray on the same grid; return seconds, speed-ups and a check
    that all three gave identical results."""
    from promolab.sim import ray_engine  # InputError naming the pip install if Ray is missing

    scenarios = [load_scenario(ROOT / "simulations" / name).with_policies(policies)
                 for name, policies in GRID.items()]
    tasks = make_tasks(scenarios, runs=runs, seed=seed, chunk_runs=chunk_runs)

    start = time.perf_counter()
    serial = run_grid(tasks)
    t_serial = time.perf_counter() - start

    start = time.perf_counter()
    pooled = run_grid(tasks, workers=workers)
    t_pool = time.perf_counter() - start

    start = time.perf_counter()
    with ray_engine.ray_session(address, num_cpus=workers):
        t_init = time.perf_counter() - start
        start_grid = time.perf_counter()
        on_ray = run_grid(tasks, engine="ray", address=address)
        t_ray_grid = time.perf_counter() - start_grid
    t_ray = time.perf_counter() - start

    reference = _fingerprint(serial)
    return {
        "scenarios": len(scenarios), "policies": sum(len(p) for p in GRID.values()), "runs": runs,
        "total_runs": sum(t.runs for t in tasks), "tasks": len(tasks), "workers": workers,
        "address": address or "local",
        "serial_s": t_serial, "pool_s": t_pool, "ray_s": t_ray, "ray_grid_s": t_ray_grid,
        "ray_start_s": t_init, "ray_stop_s": t_ray - t_init - t_ray_grid,
        "pool_speedup": t_serial / t_pool, "ray_speedup": t_serial / t_ray, "ray_grid_speedup": t_serial / t_ray_grid,
        "identical": _fingerprint(pooled) == reference and _fingerprint(on_ray) == reference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=34, help="runs per scenario × policy")
    parser.add_argument("--chunk-runs", type=int, default=17, help="runs per task")
    parser.add_argument("--workers", type=int, default=2, help="pool processes / local Ray CPUs")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray)")
    args = parser.parse_args()
    r = measure(args.runs, args.chunk_runs, args.workers, args.address)
    print(f"grid {r['scenarios']} scenarios, {r['policies']} scenario × policy cells × {r['runs']} runs = "
          f"{r['total_runs']} runs in {r['tasks']} tasks; {platform.machine()}, {os.cpu_count()} cores, "
          f"{args.workers} workers, Ray at {r['address']}")
    print(f"{'engine':32s} {'seconds':>8s} {'speed-up':>9s}")
    print(f"{'serial (1 process)':32s} {r['serial_s']:8.2f} {1:8.2f}×")
    print(f"{'process pool':32s} {r['pool_s']:8.2f} {r['pool_speedup']:8.2f}×")
    print(f"{'ray, incl. start + stop':32s} {r['ray_s']:8.2f} {r['ray_speedup']:8.2f}×")
    print(f"{'ray, grid only':32s} {r['ray_grid_s']:8.2f} {r['ray_grid_speedup']:8.2f}×")
    print(f"ray start {r['ray_start_s']:.2f} s, stop {r['ray_stop_s']:.2f} s; identical results: {r['identical']}; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
