"""The service's scheduled health check of 10 running experiments on 10 M events; not a timed test.

    .venv/bin/python benchmarks/bench_health.py [--events 10000000] [--experiments 10] [--repeats 3]

A registry (in the gitignored ``bench-data/``, rebuilt each run) holds ``--experiments``
copies of ``experiments/checkout-coupon.toml`` (CUPED covariate, a capped revenue metric, a
ratio metric, a refund guardrail with a margin, abuse filtering), all running, with one
user per 10 events split evenly over them, written by DuckDB itself (the ingest path is
measured elsewhere). Measured in the same run, median of ``--repeats``:

- the baseline: ``analyze_experiment`` of every experiment (what ``promolab report`` does);
- ``check_running``: the scheduled check (the reports plus the health evaluation and the
  alert bookkeeping in one transaction per experiment).

The ratio says what the health evaluation adds to the reports it reads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import machine  # noqa: E402

from promolab.analysis import analyze_experiment  # noqa: E402
from promolab.analysis.health_checks import check_running  # noqa: E402
from promolab.spec import load_experiment  # noqa: E402
from promolab.store import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
SPEC = ROOT / "experiments" / "checkout-coupon.toml"


def build(path: Path, n_events: int, n_experiments: int) -> list[str]:
    """A fresh registry with the running experiments and their synthetic exposures and events."""
    for suffix in ("", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    registry = Registry.open(path)
    base = load_experiment(SPEC)
    keys = [f"cc-{i}" for i in range(n_experiments)]
    for key in keys:
        registry.create_experiment(replace(base, key=key))
        registry.set_status(key, "running")
    users = n_events // 10
    variants = ", ".join(f"'{v}'" for v in base.variant_keys)
    with registry.transaction() as con:
        con.execute(f"""
            INSERT INTO exposures (experiment_key, user_id, variant_key, first_exposed_at, source)
            SELECT 'cc-' || (i % {n_experiments}), 'u' || i, [{variants}][1 + (hash(i) % 3)::INT],
                   TIMESTAMP '2025-03-01' + INTERVAL 1 SECOND * (hash(i + 7) % (7 * 86400))::BIGINT, 'bench'
            FROM range({users}) t(i)""")
        con.execute(f"""
            INSERT INTO events (source, event_id, user_id, event, value, ts)
            SELECT 'bench', 'e' || i, 'u' || (hash(i) % {users}),
                   CASE WHEN r < 0.60 THEN 'view' WHEN r < 0.80 THEN 'add_to_cart'
                        WHEN r < 0.97 THEN 'order' ELSE 'refund' END,
                   CASE WHEN r >= 0.80 AND r < 0.97 THEN round(5 + 200 * random() * random(), 2) ELSE 0.0 END,
                   TIMESTAMP '2025-03-01' + INTERVAL 1 SECOND * (hash(i + 13) % (14 * 86400))::BIGINT
            FROM (SELECT i, random() AS r FROM range({n_events}) t(i))""")
        con.execute(f"""
            INSERT INTO user_attributes (user_id, attribute, value_num, value_text)
            SELECT 'u' || i, 'prior_spend', round(50 * random(), 2), NULL FROM range({users}) t(i)""")
    return keys


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    DATA.mkdir(exist_ok=True)
    path = DATA / "health.duckdb"
    started = time.perf_counter()
    keys = build(path, args.events, args.experiments)
    print(f"registry: {args.experiments} running experiments, {args.events:,} events, "
          f"{args.events // 10:,} users (built in {time.perf_counter() - started:.1f} s)")
    registry = Registry.open(path)
    reports, checks = [], []
    for _ in range(args.repeats):
        reports.append(timed(lambda: [analyze_experiment(registry, k) for k in keys]))
        checks.append(timed(lambda: check_running(registry)))
    report, check = statistics.median(reports), statistics.median(checks)
    outcomes = check_running(registry)
    print(f"baseline: analyze_experiment of all {len(keys)}: {report:.2f} s (median of {args.repeats})")
    print(f"check_running of all {len(keys)}: {check:.2f} s (median of {args.repeats}); ratio {check / report:.2f}; "
          f"{sum(o.error is None for o in outcomes)} evaluated, "
          f"{sum(len(o.evaluation.findings) for o in outcomes if o.evaluation)} findings")


if __name__ == "__main__":
    main()
