"""Text output fits the terminal without cutting a number: at 80 and 120 columns every
number of the output (as printed on a very wide terminal) appears whole, no line is
longer than the terminal, and there is no ellipsis."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from rich.text import Text

from promolab.analysis import analyze_experiment
from promolab.cli import run
from promolab.cli.app import console
from promolab.cli.output import Table
from promolab.cli.render import _p, print_report

ROOT = Path(__file__).resolve().parents[2]
WIDE = 1000
# a number as printed: 21,306  0.1062  +72.1%  -8.3  2.7e-113  1.5e-04  [+64.1,  +0.0832]
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]\d+)?%?")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory, copy_demo) -> Path:
    return copy_demo(tmp_path_factory.mktemp("width") / "d.duckdb")


@pytest.fixture(scope="module")
def demo_report(demo_db: Path):
    from promolab.store import Registry

    return analyze_experiment(Registry.open(demo_db), "hillstrom-email")


def printed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int, show) -> str:
    """What ``show()`` prints on a terminal ``width`` columns wide."""
    monkeypatch.setattr(console, "width", width)
    capsys.readouterr()
    show()
    return capsys.readouterr().out


def numbers(text: str) -> Counter[str]:
    return Counter(NUMBER.findall(text))


def assert_fits(wide: str, narrow: str, width: int) -> None:
    long = [line for line in narrow.splitlines() if len(line.rstrip()) > width]
    assert not long, "\n".join(long)
    assert "…" not in narrow
    missing = numbers(wide) - numbers(narrow)
    assert not missing, f"cut or missing at {width} columns: {sorted(missing)}\n{narrow}"


@pytest.mark.parametrize("width", [80, 120])
def test_every_number_of_the_demo_report_appears_whole(demo_report, capsys, monkeypatch, width: int) -> None:
    wide = printed(capsys, monkeypatch, WIDE, lambda: print_report(demo_report))
    narrow = printed(capsys, monkeypatch, width, lambda: print_report(demo_report))
    assert_fits(wide, narrow, width)
    # the report's own numbers, formatted as the report formats them, are there whole
    tokens = set(NUMBER.findall(narrow))
    for m in demo_report.metrics:
        for v in m.variants:
            assert f"{v.n:,}" in tokens
            if v.lift is not None:
                assert {_p(v.lift.p_value), _p(v.lift.p_value_adjusted), f"{v.lift.chance_to_win:.1%}"} <= tokens
    smallest = min(v.lift.p_value for m in demo_report.metrics for v in m.variants if v.lift is not None)
    assert smallest < 1e-100 and _p(smallest) in tokens  # e.g. 2.7e-113, once printed as 2.7e-1…


def _replay_log(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    action = rng.integers(3, size=2000)
    frame = pd.DataFrame({"action": action, "reward": (rng.random(2000) < np.array([0.1, 0.2, 0.3])[action]),
                          "propensity": 1 / 3, "channel": rng.choice(["Web", "Phone", "Multichannel"], 2000)})
    frame.assign(reward=frame.reward.astype(int)).to_csv(tmp_path / "log.csv", index=False)
    return tmp_path / "log.csv"


COMMANDS = {
    "report": ["report", "hillstrom-email", "--db", "{db}"],
    "experiment list": ["experiment", "list", "--db", "{db}"],
    "bandit regret": ["bandit", "regret", "coupon-bandit", "--db", "{db}"],
    "analyze-table": ["analyze-table", "{hillstrom}", "--variant", "segment", "--control", "No E-Mail",
                      "--metric", "visit:binomial", "--metric", "spend:mean", "--segment", "channel",
                      "--revenue", "spend", "--cost", "Mens E-Mail:per_user=0.01"],
    "power": ["power", "--baseline", "0.05", "--mde", "0.05", "--daily-users", "1000"],
    "simulate": ["simulate", str(ROOT / "simulations" / "coupons.toml"), "--runs", "5", "--policy", "thompson",
                 "--policy", "epsilon-greedy"],
    "replay": ["replay", "{log}", "--policy", "thompson", "--seed", "1"],
    "peeking": ["peeking", "--runs", "200", "--looks", "10"],
    "sequential": ["sequential", "hillstrom-email", "--db", "{db}", "--looks", "4"],
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_output_fits_without_cutting_numbers(name: str, width: int, demo_db, hillstrom_csv, tmp_path,
                                                     capsys, monkeypatch) -> None:
    values = {"db": str(demo_db), "hillstrom": str(hillstrom_csv), "log": str(_replay_log(tmp_path))}
    argv = [a.format(**values) for a in COMMANDS[name]]

    def show() -> None:
        assert run(argv) == 0

    wide = printed(capsys, monkeypatch, WIDE, show)
    narrow = printed(capsys, monkeypatch, width, show)
    assert numbers(wide), wide
    assert_fits(wide, narrow, width)


def render(table: Table, width: int) -> str:
    out = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    out.print(table)
    return out.export_text()


def test_a_table_too_wide_is_split_then_stacked_never_cut() -> None:
    table = Table("name", *(f"column {i}" for i in range(12)), text=("name",), title="wide")
    for name in ("first-row", "second-row"):
        table.add_row(name, *(f"{1234567.891 * (i + 1):,.3f}" for i in range(12)))
    wide = render(table, 400)
    for width in (80, 40):
        narrow = render(table, width)
        assert_fits(wide, narrow, width)
        assert narrow.count("first-row") >= 2  # split over several tables, the first column repeated
    stacked = render(table, 20)
    assert "second-row" in stacked and "column 11" in stacked and stacked.count("14,814,814.692") == 2
    assert_fits(wide, stacked, 20)


def test_names_wrap_and_are_never_cut() -> None:
    table = Table("variant", "users", text=("variant",))
    table.add_row(Text("a very long variant name that must wrap"), "1,234,567")
    out = render(table, 20)
    assert "…" not in out and "1,234,567" in out
    assert max(map(len, out.splitlines())) <= 20
    assert all(word in out.split() for word in "a very long variant name that must wrap".split())  # wrapped, not cut
