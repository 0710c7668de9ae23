"""Numbers that drive analysis work are bounded and finite where they enter, and a report
whose filters remove a whole variant says what removed it (not "none yet")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.economics import EconomicsConfig, parse_costs
from promolab.analysis.filtering import TableFilters
from promolab.analysis.sequential import SequentialPlan
from promolab.cli import run
from promolab.errors import InputError
from promolab.spec import parse_experiment
from promolab.store import Registry, events_batch, exposures_batch


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 600
    path = tmp_path / "t.csv"
    pd.DataFrame({"arm": ["a", "b"] * (n // 2), "y": rng.normal(10, 2, n), "flag": [0, 1] * (n // 2),
                  "many": np.arange(n)}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("make", "field"), [
    (lambda: TableFilters(outliers=("y",), outlier_z=float("inf")), "filters.outlier_z"),
    (lambda: TableFilters(outliers=("y",), outlier_z=float("nan")), "filters.outlier_z"),
    (lambda: TableFilters(shared=("y",), max_accounts=0), "filters.max_accounts"),
    (lambda: EconomicsConfig("y", margin_rate=float("inf")), "economics.margin_rate"),
    (lambda: EconomicsConfig("y", costs={"b": {"coupon_value": float("inf")}}), "variant b: cost.coupon_value"),
    (lambda: parse_costs(["b:coupon_value=nan"]), "cost"),
    (lambda: SequentialPlan("gst", looks=100_000_000), "plan.looks"),
])
def test_non_finite_or_unbounded_values_are_refused(make, field: str) -> None:
    with pytest.raises(InputError) as info:
        make()
    assert info.value.field == field


@pytest.mark.parametrize(("flags", "message"), [
    (["--outlier", "y", "--outlier-z", "inf"], "error: --outlier-z: got inf, expected a finite number > 0"),
    (["--sequential", "gst", "--looks", "100000000"], "error: --looks: got 100000000, expected an integer in [1, 50]"),
    (["--revenue", "y", "--margin-rate", "nan"], "error: --margin-rate: got nan"),
    (["--segment", "many"], "error: --segment: got 'many', expected a column with at most 200 distinct values"),
])
def test_cli_refuses_them_by_flag(table: Path, flags: list[str], message: str, capsys) -> None:
    argv = ["analyze-table", str(table), "--variant", "arm", "--control", "a", "--metric", "y:mean", *flags]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_a_table_filter_that_removes_a_variant_says_so(table: Path) -> None:
    with pytest.raises(InputError) as info:
        analyze_table(table, "arm", "a", ["y:mean"], filters=TableFilters(flags=("flag",)))
    assert info.value.field == "variant 'b'" and info.value.value == "300 exposed, 0 analysed"
    assert "abuse filtering" in info.value.expected


SPEC = """
key = "all-bots"
name = "All bots"
owner = "tests"
control = "a"
[filtering]
burst_orders = 2
burst_seconds = 60
[[variants]]
key = "a"
[[variants]]
key = "b"
[[metrics]]
key = "conv"
kind = "binomial"
event = "order"
"""


def test_a_registry_filter_that_removes_a_variant_says_so(tmp_path: Path, capsys) -> None:
    reg = Registry.open(tmp_path / "bots.duckdb")
    reg.create_experiment(parse_experiment(SPEC))
    reg.set_status("all-bots", "running")
    users = [f"u{i}" for i in range(40)]
    arms = ["a", "b"] * 20
    reg.record_exposures("all-bots", exposures_batch(pd.DataFrame({"user_id": users, "variant": arms,
                                                                   "ts": "2024-01-01"})))
    bots = [u for u, v in zip(users, arms) if v == "b"]  # every b user orders twice within a second
    events = pd.DataFrame({"event_id": [f"{u}-{j}" for u in bots for j in range(2)],
                           "user_id": [u for u in bots for _ in range(2)], "event": "order", "value": 1.0,
                           "ts": [f"2024-01-02T00:00:0{j}" for _ in bots for j in range(2)]})
    reg.ingest_events(events_batch(events))
    with pytest.raises(InputError) as info:
        analyze_experiment(reg, "all-bots")
    assert info.value.field == "variant 'b'" and info.value.value == "20 exposed, 0 analysed"
    assert "none yet" not in str(info.value)
    assert run(["report", "all-bots", "--db", str(reg.path)]) == 2
    assert "20 exposed, 0 analysed" in capsys.readouterr().err
    assert analyze_experiment(reg, "all-bots", filter_users=False).metric("conv").variant("b").n == 20
