"""Run one measurement of a benchmark script in a fresh Python process (own peak RSS)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_child(script: str, kind: str, *args: Path | str) -> dict:
    """``python SCRIPT --child KIND ARGS...``; the child prints one JSON line last."""
    out = subprocess.run([sys.executable, script, "--child", kind, *map(str, args)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
