"""What the benchmarks on the demo registry share: their arguments, the machine line, the registry."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench_scale import machine

from promolab.demo import build_demo
from promolab.store import Registry


def demo_arguments(doc: str, repeat: int) -> argparse.Namespace:
    """``--db`` (default: a new demo registry), ``--key`` (hillstrom-email), ``--repeat``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--key", default="hillstrom-email")
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser.parse_args()


def open_demo(db: Path | None) -> Registry:
    """Print the machine and its load; open ``db`` read-only, built by ``promolab demo`` first if None."""
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if db is None:
        db = Path(tempfile.mkdtemp()) / "demo.duckdb"
        build_demo(db).close()
    return Registry.open(db, read_only=True)
