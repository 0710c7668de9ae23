"""The uplift analysis of the demo's Hillstrom experiment: the closed-form ridge against
scikit-learn's ``Ridge`` fitted per fold, arm and stage (the same estimate).

    .venv/bin/python benchmarks/bench_uplift.py [--db promolab-demo.duckdb] [--key hillstrom-email] [--repeat 3]

Without ``--db`` the demo registry is built first (``promolab demo``). Both runs are
``experiment_uplift`` as ``promolab uplift KEY --model ridge`` runs it (64,000 users, the
X-learner cross-fitted on 5 folds for each outcome and the margin, the nested distillation,
the policy values with 1,000 bootstrap resamples); the baseline passes
``sklearn.linear_model.Ridge(alpha=1.0)`` as the model, which fits the same regressions
through scikit-learn. Median of ``--repeat`` runs of each, interleaved, after one warm-up;
the largest difference between the two reports' numbers is printed.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sklearn.linear_model import Ridge

from promolab.store import Registry
from promolab.uplift.experiment import experiment_uplift

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_setup import demo_arguments, open_demo  # noqa: E402


def largest_difference(a: Any, b: Any) -> float:
    """The largest |a − b| / max(1, |b|) over the numbers of two reports' dictionaries."""
    if isinstance(a, dict):
        return max((largest_difference(a[k], b[k]) for k in a if k not in {"model", "source"}), default=0.0)
    if isinstance(a, (list, tuple)):
        return max((largest_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, float) and not (math.isnan(a) and math.isnan(b)):
        return abs(a - b) / max(1.0, abs(b))
    return 0.0


def timed(registry: Registry, key: str, model: Any) -> tuple[float, dict]:
    t = time.perf_counter()
    report = experiment_uplift(registry, key, model=model)
    return time.perf_counter() - t, report.to_dict()


def main() -> None:
    args = demo_arguments(__doc__, repeat=3)
    registry = open_demo(args.db)
    models = {"closed-form ridge": "ridge", "scikit-learn Ridge per fit": Ridge(alpha=1.0)}
    for model in models.values():
        timed(registry, args.key, model)
    times: dict[str, list[float]] = {name: [] for name in models}
    reports = {}
    for _ in range(args.repeat):
        for name, model in models.items():
            seconds, reports[name] = timed(registry, args.key, model)
            times[name].append(seconds)
    ours, baseline = (statistics.median(times[name]) for name in models)
    print(f"uplift report {args.key} (median of {args.repeat}): closed-form ridge {ours:.2f} s, "
          f"scikit-learn Ridge per fit {baseline:.2f} s: {baseline / ours:.2f}x")
    print(f"largest relative difference between the reports: {largest_difference(*reports.values()):.1e}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
