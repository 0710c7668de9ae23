"""A report computes its analysed users once (a DuckDB temporary table) and leaves nothing behind."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.engines import SqlSession
from promolab.jsonable import to_plain
from promolab.store import Registry

KEYS = ("hillstrom-email", "coupon-bandit", "hillstrom-targeted")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, copy_demo) -> Path:
    return copy_demo(tmp_path_factory.mktemp("pinned") / "demo.duckdb")


def _close(a, b, path: str = "") -> None:
    """Equal structures, floats to 1e-9 relative (sums in another order; a difference of two sums loses digits)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and not (math.isnan(a) and math.isnan(b)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


@pytest.mark.parametrize("key", KEYS)
def test_pinned_report_equals_the_one_that_joins_per_query(demo: Path, key: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry.open(demo, read_only=True)
    created: list[str] = []
    run = SqlSession.pin

    def counting(self: SqlSession, ctes: str) -> str:
        out = run(self, ctes)
        created.extend(self.pinned)
        return out

    monkeypatch.setattr(SqlSession, "pin", counting)
    pinned = to_plain(analyze_experiment(registry, key))
    assert len(created) == 1  # one temporary table per report
    monkeypatch.setattr(SqlSession, "pin", lambda self, ctes: ctes)
    _close(pinned, to_plain(analyze_experiment(registry, key)))


def test_the_registry_connection_keeps_no_temporary_table(demo: Path) -> None:
    registry = Registry.open(demo, read_only=True)
    with registry.hold():  # the same connection before and after the report
        analyze_experiment(registry, "hillstrom-email")
        left = registry.query("SELECT table_name FROM duckdb_tables() WHERE temporary")
    assert list(left["table_name"]) == []


def test_a_failed_report_drops_its_table(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry.open(demo, read_only=True)

    def failing(*args, **kwargs):
        raise RuntimeError("after the pin")

    monkeypatch.setattr("promolab.analysis.pipeline.stats_from_frame", failing)
    with registry.hold():
        with pytest.raises(RuntimeError, match="after the pin"):
            analyze_experiment(registry, "hillstrom-email")
        assert registry.query("SELECT COUNT(*) AS n FROM duckdb_tables() WHERE temporary")["n"].iloc[0] == 0


def test_pinned_table_report_equals_the_unpinned(hillstrom_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def report() -> dict:
        return to_plain(analyze_table(hillstrom_csv, "segment", "No E-Mail", ["visit:binomial", "spend:mean"],
                                      covariate="history", segments=["newbie"]))

    pinned = report()
    monkeypatch.setattr(SqlSession, "pin", lambda self, ctes: ctes)
    _close(pinned, report())


def test_pin_rewrites_only_the_last_clause() -> None:
    ran: list[str] = []
    session = SqlSession(lambda sql: ran.append(sql), frozenset(), temporary=True)
    ctes = "WITH a AS (SELECT 1 AS x),\nanalysis_users AS (SELECT * FROM a)\n"
    out = session.pin(ctes)
    (name,) = session.pinned
    assert ran == [f"CREATE TEMP TABLE {name} AS {ctes}SELECT * FROM analysis_users"]
    assert out == f"WITH a AS (SELECT 1 AS x),\nanalysis_users AS (SELECT * FROM {name})\n"
    session.unpin()
    assert ran[-1] == f"DROP TABLE IF EXISTS {name}" and session.pinned == []


def test_pin_without_temporary_tables_changes_nothing() -> None:
    session = SqlSession(lambda sql: pytest.fail(sql), frozenset())
    ctes = "WITH analysis_users AS (SELECT 1)\n"
    assert session.pin(ctes) == ctes and session.pinned == []


def test_pin_needs_an_analysis_users_clause() -> None:
    session = SqlSession(lambda sql: None, frozenset(), temporary=True)
    with pytest.raises(ValueError, match="ending in analysis_users"):
        session.pin("WITH a AS (SELECT 1)\n")
