"""The report SQL in every warehouse dialect: parses back, avoids known pitfalls, and
(where DuckDB can run it) gives the same statistics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlglot

from promolab.analysis.sql import experiment_stats_sql
from promolab.analysis.dialect import DIALECTS, experiment_sql, to_dialect
from promolab.cli import run
from promolab.demo import hillstrom_spec
from promolab.errors import InputError
from warehouse_data import KEY, coupon_registry, coupon_spec

SPECS = {"coupon": coupon_spec, "hillstrom": hillstrom_spec}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    return coupon_registry(tmp_path_factory.mktemp("wh") / "r.duckdb")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("window_days", [None, 7])
def test_each_dialect_parses_back_and_avoids_pitfalls(dialect: str, spec: str, window_days: int | None) -> None:
    sql = experiment_sql(SPECS[spec](), dialect, window_days=window_days)
    tree = sqlglot.parse_one(sql.rstrip(";"), read=dialect)
    assert tree.find(sqlglot.exp.Select) is not None
    upper = sql.upper()
    for pitfall in ("GROUP BY ALL", "ARG_MIN", "DATE_DIFF", "DATEDIFF", "QUALIFY"):
        assert pitfall not in upper
    if window_days:
        assert "INTERVAL" in upper and "7" in upper
    # every alias a later step reads is quoted: case-folding engines resolve it
    quote = "`" if dialect in ("spark", "bigquery") else '"'
    assert f"AS {quote}variant{quote}" in sql


def test_schema_qualifies_source_tables_only() -> None:
    sql = experiment_sql(coupon_spec(), "bigquery", schema="shop.analytics")
    assert "shop.analytics.exposures" in sql and "shop.analytics.events" in sql
    assert "analytics.per_user" not in sql and "analytics.exposed" not in sql
    with pytest.raises(InputError, match="^schema: got"):
        experiment_sql(coupon_spec(), "bigquery", schema="a.b.c.d")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("window_days", [None, 7])
def test_duckdb_runs_its_own_and_the_postgres_output_identically(registry, dialect: str,
                                                                 window_days: int | None) -> None:
    spec = coupon_spec()
    expected = registry.query(experiment_stats_sql(spec, window_days=window_days))
    got = registry.query(experiment_sql(spec, dialect, window_days=window_days))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)


def test_window_is_a_half_open_timestamp_range(registry) -> None:
    spec = coupon_spec()
    every = registry.query(experiment_stats_sql(spec)).set_index("variant")
    week = registry.query(experiment_stats_sql(spec, window_days=7)).set_index("variant")
    assert (week["orders__sum"] < every["orders__sum"]).all()
    # recount by hand: events at exposure count, events exactly 7 days later do not
    hand = registry.query(
        "SELECT x.variant_key AS variant, COUNT(e.event_id) AS n FROM exposures x JOIN events e "
        "ON e.user_id = x.user_id AND e.event = 'order' AND e.ts >= x.first_exposed_at "
        "AND e.ts < x.first_exposed_at + INTERVAL 7 DAY GROUP BY 1").set_index("variant")["n"]
    assert week["orders__sum"].astype(int).to_dict() == hand.astype(int).to_dict()


def test_bad_dialect_and_window() -> None:
    with pytest.raises(InputError, match="^dialect: got 'oracle', expected one of duckdb, spark"):
        to_dialect("SELECT 1", "oracle")
    with pytest.raises(InputError, match="window_days"):
        experiment_sql(coupon_spec(), "spark", window_days=0)


def test_sql_cli_prints_each_dialect_and_refuses_unknown(registry, capsys) -> None:
    db = str(registry.path)
    for dialect in DIALECTS:
        assert run(["sql", KEY, "--db", db, "--dialect", dialect, "--window-days", "7"]) == 0
        out = capsys.readouterr().out
        sqlglot.parse_one(out.strip().rstrip(";"), read=dialect)
    assert run(["sql", KEY, "--db", db, "--dialect", "oracle"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --dialect: got 'oracle'") and "\n" not in err


def test_export_parquet_then_duckdb_over_the_lake(registry, tmp_path: Path, capsys) -> None:
    from promolab.analysis.engines.duckdb_engine import DuckDBEngine

    lake = tmp_path / "lake"
    assert run(["export-parquet", str(lake), "--experiment", KEY, "--db", str(registry.path)]) == 0
    assert "events.parquet" in capsys.readouterr().out
    sql = experiment_stats_sql(coupon_spec(), window_days=7)
    with DuckDBEngine().open_experiment(registry, lake) as session:
        got = session.query(sql)
    pd.testing.assert_frame_equal(got, registry.query(sql), check_dtype=False, rtol=1e-12)
    with pytest.raises(InputError, match="data: got .*, expected a folder holding exposures.parquet"):
        with DuckDBEngine().open_experiment(registry, tmp_path / "nowhere"):
            pass
