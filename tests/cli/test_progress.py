"""Long work (simulate, simulate-segments, replay, replay-segments, ingest, demo) shows
progress on stderr at a terminal, and nothing at all with ``--json`` or when stdout or
stderr is not a terminal. The library reports progress through plain callbacks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from promolab.bandits import make_policy
from promolab.cli import output, run
from promolab.sim.replay import replay
from promolab.sim.segmented import load_segmented_scenario, run_segmented

ROOT = Path(__file__).resolve().parents[2]
SIMULATE = ["simulate", str(ROOT / "simulations" / "coupons.toml"), "--runs", "4", "--policy", "thompson"]
SEGMENTS = ["simulate-segments", str(ROOT / "simulations" / "segments" / "differ.toml"), "--runs", "2"]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    action = rng.integers(3, size=1500)
    pd.DataFrame({"action": action, "reward": (rng.random(1500) < 0.2).astype(int), "propensity": 1 / 3,
                  "channel": rng.choice(["web", "phone"], 1500)}).to_csv(tmp_path / "log.csv", index=False)
    return tmp_path / "log.csv"


@pytest.fixture
def attributes(tmp_path: Path) -> Path:
    pd.DataFrame({"user_id": ["u1", "u2"], "tier": ["gold", "silver"]}).to_csv(tmp_path / "a.csv", index=False)
    return tmp_path / "a.csv"


def commands(log: Path, attributes: Path, db: Path) -> list[list[str]]:
    replay_ = ["replay", str(log), "--policy", "thompson", "--batch-size", "50"]
    by_segment = ["replay-segments", str(log), "--policy", "thompson", "--segment-col", "channel"]
    ingest = ["ingest", str(attributes), "--kind", "attributes", "--db", str(db)]
    return [SIMULATE, SEGMENTS, replay_, by_segment, ingest]


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stdout and stderr are terminals; what is drawn on stderr lands in the returned buffer."""
    stderr = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=io.StringIO(), force_terminal=True, width=100))
    monkeypatch.setattr(output, "err_console", Console(file=stderr, force_terminal=True, width=100))
    return stderr


def test_piped_output_shows_no_progress(capsys, log, attributes, tmp_path) -> None:
    for argv in commands(log, attributes, tmp_path / "r.duckdb"):
        for json_ in ([], ["--json"]):
            assert run(argv + json_) == 0, argv
            out, err = capsys.readouterr()
            assert err == "", (argv, err)  # not even a blank line
            assert not any(word in out for word in ("simulating", "replaying", "reading", "storing")), argv
            if json_:
                json.loads(out)


def test_at_a_terminal_progress_is_drawn_on_stderr(terminal, capsys, log, attributes, tmp_path) -> None:
    expected = ["simulating", "simulating", "replaying", "replaying", "storing"]
    for argv, word in zip(commands(log, attributes, tmp_path / "r.duckdb"), expected):
        terminal.seek(0)
        terminal.truncate()
        assert run(argv) == 0, argv
        assert word in terminal.getvalue(), (argv, terminal.getvalue())
        assert word not in capsys.readouterr().out


def test_the_bar_counts_runs_and_rows(terminal, log) -> None:
    assert run(SIMULATE) == 0
    assert "4/4" in terminal.getvalue() and "runs" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    assert run(["replay", str(log), "--policy", "thompson", "--batch-size", "50"]) == 0
    assert "1500/1500" in terminal.getvalue() and "rows" in terminal.getvalue()


def test_json_at_a_terminal_draws_nothing(terminal, log, attributes, tmp_path) -> None:
    for argv in commands(log, attributes, tmp_path / "r.duckdb"):
        assert run(argv + ["--json"]) == 0, argv
        assert terminal.getvalue() == "", argv


def test_the_library_reports_progress_through_callbacks() -> None:
    rng = np.random.default_rng(0)
    action, reward = rng.integers(3, size=1001), rng.random(1001)
    rows: list[int] = []
    replay(action, reward, 3, make_policy("thompson"), batch_size=100, progress=rows.append)
    assert rows == [100] * 10 + [1]
    scenario = load_segmented_scenario(ROOT / "simulations" / "segments" / "differ.toml")
    done: list[str] = []
    results = run_segmented(scenario, runs=2, on_done=done.append)
    assert done == [r.policy for r in results] and len(done) == len(scenario.base.policies)
