"""Where the time of one report goes: the SQL (DuckDB) and the statistics (everything else).

    .venv/bin/python benchmarks/bench_report.py [--db promolab-demo.duckdb] [--key hillstrom-email] [--repeat 5]

Without ``--db`` the demo registry is built first (``promolab demo``). The report is
``analyze_experiment`` as ``promolab report KEY`` runs it (CUPED, filtering, segments,
Bayesian read-outs, corrections); the SQL time is every ``Registry.query`` call inside it,
the statistics time the rest. Median of ``--repeat`` runs after one warm-up.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from promolab.analysis import analyze_experiment
from promolab.store import Registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_setup import demo_arguments, open_demo  # noqa: E402


def timed_report(registry: Registry, key: str) -> tuple[float, float]:
    """(total seconds, seconds inside Registry.query) of one report."""
    spent = [0.0]
    query = registry.query

    def timed_query(*args, **kwargs):
        t = time.perf_counter()
        try:
            return query(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    registry.query = timed_query  # type: ignore[method-assign]
    try:
        t = time.perf_counter()
        analyze_experiment(registry, key)
        return time.perf_counter() - t, spent[0]
    finally:
        del registry.query


def main() -> None:
    args = demo_arguments(__doc__, repeat=5)
    registry = open_demo(args.db)
    timed_report(registry, args.key)
    runs = [timed_report(registry, args.key) for _ in range(args.repeat)]
    total = statistics.median(t for t, _ in runs)
    sql = statistics.median(q for _, q in runs)
    stats = statistics.median(t - q for t, q in runs)
    print(f"report {args.key}: {total * 1e3:.0f} ms = SQL {sql * 1e3:.0f} ms + statistics {stats * 1e3:.0f} ms "
          f"(median of {args.repeat}; statistics = {stats / sql:.2f}x the SQL)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
