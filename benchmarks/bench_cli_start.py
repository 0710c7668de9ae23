"""CLI start-up (issue 13): how long a command takes end to end, as a user types it.

    .venv/bin/python benchmarks/bench_cli_start.py [--runs 7] [--db REGISTRY]

Each command runs ``--runs`` times in a fresh process (after one untimed warm-up run
that fills the OS file cache); reported are the median wall clock (``perf_counter``
around ``subprocess.run``, output discarded), the median CPU time of the child (user +
system, from ``RUSAGE_CHILDREN``: less sensitive to other work on the machine than the
wall clock) and the wall clock as a multiple of ``python -c pass``. ``experiment list``
reads a demo registry built once by ``promolab demo --db`` in a temporary folder
(or the one given with ``--db``). Target: every ``promolab`` command under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.5
PROMOLAB = Path(sys.executable).with_name("promolab")
POWER_ARGS = ["power", "--baseline", "0.05", "--mde", "0.1"]


def machine() -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall clock and child CPU seconds of one run; a failing command stops the benchmark."""
    cpu0 = child_cpu()
    t = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr.decode()[-3000:]}")
    return wall, child_cpu() - cpu0


def measure(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    run_once(argv, env)  # warm-up: file cache, .pyc files
    samples = [run_once(argv, env) for _ in range(runs)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def demo_registry(folder: Path, env: dict[str, str]) -> Path:
    db = folder / "demo.duckdb"
    t = time.perf_counter()
    subprocess.run([str(PROMOLAB), "demo", "--db", str(db)], stdout=subprocess.DEVNULL, env=env, check=True)
    print(f"demo registry built in {time.perf_counter() - t:.1f} s: {db}")
    return db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (median; at least 5)")
    parser.add_argument("--db", type=Path, help="an existing registry for experiment list (default: a fresh demo)")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs: at least 5")
    if not PROMOLAB.exists():
        raise SystemExit(f"no promolab script beside {sys.executable}: pip install -e . first")
    env = {k: v for k, v in os.environ.items() if k != "PROMOLAB_DB"}
    print(f"machine: {machine()}")
    load0 = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        db = args.db or demo_registry(Path(tmp), env)
        commands = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ('python -c "import promolab.cli"', [sys.executable, "-c", "import promolab.cli"]),
            ("promolab --help", [str(PROMOLAB), "--help"]),
            (f"promolab {' '.join(POWER_ARGS)}", [str(PROMOLAB), *POWER_ARGS]),
            ("promolab experiment list --db DEMO", [str(PROMOLAB), "experiment", "list", "--db", str(db)]),
        ]
        results = [(label, *measure(argv, args.runs, env)) for label, argv in commands]

    base = results[0][1]
    print(f"\n| command | median wall s | median CPU s | x python -c pass | < {TARGET_S} s |")
    print("|---|---:|---:|---:|---|")
    for label, wall, cpu in results:
        target = ("met" if wall < TARGET_S else "NOT met") if label.startswith("promolab") else ""
        print(f"| `{label}` | {wall:.3f} | {cpu:.3f} | {wall / base:.1f}x | {target} |")
    missed = [label for label, wall, _ in results if label.startswith("promolab") and wall >= TARGET_S]
    print(f"\n{args.runs} timed runs per command (median), load average {load0[0]:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after, on {os.cpu_count()} cores")
    print(f"{TARGET_S} s target: " + ("met by every promolab command" if not missed
                                      else "NOT met by " + ", ".join(f"`{m}`" for m in missed)))


if __name__ == "__main__":
    main()
