"""Spark runs the same SQL as DuckDB and gets the same numbers (1e-9 relative)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

pytest.importorskip("pyspark")

from promolab.analysis import analyze_experiment, analyze_table  # noqa: E402
from promolab.analysis.engines import resolve_engine  # noqa: E402
from promolab.analysis.engines.spark_engine import SparkEngine  # noqa: E402
from promolab.analysis.sql import experiment_stats_sql  # noqa: E402
from promolab.analysis.dialect import export_parquet  # noqa: E402
from promolab.errors import InputError  # noqa: E402
from warehouse_data import KEY, assert_close, coupon_registry, coupon_spec  # noqa: E402

# one worker process runs them all: one JVM, not one per pytest-xdist worker
pytestmark = pytest.mark.xdist_group("spark")

RTOL = 1e-9


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    return coupon_registry(tmp_path_factory.mktemp("spark-reg") / "r.duckdb", users=4000)


@pytest.fixture(scope="module")
def lake(registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lake")
    export_parquet(registry, out, KEY)
    return out


@pytest.fixture(scope="module")
def hillstrom_parquet(hillstrom: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hp") / "hillstrom.parquet"
    con = duckdb.connect()
    con.register("h", hillstrom)
    con.execute(f"COPY (SELECT * FROM h) TO '{path}' (FORMAT parquet)")
    return path


def _close(a: dict, b: dict) -> None:
    assert_close(a, b, rel=RTOL)


@pytest.mark.parametrize("window_days", [None, 7])
def test_experiment_sql_same_statistics_on_spark(registry, lake, spark_engine, window_days) -> None:
    sql = experiment_stats_sql(coupon_spec(), window_days=window_days)
    want = registry.query(sql)
    with spark_engine.open_experiment(registry, lake) as session:
        got = session.query(sql)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=RTOL)


def test_registry_experiment_report_equal(registry, lake, spark_engine) -> None:
    want = analyze_experiment(registry, KEY).to_dict()
    _close(analyze_experiment(registry, KEY, engine=spark_engine, data=lake).to_dict(), want)
    # without --data the registry is exported to Parquet for the local Spark
    _close(analyze_experiment(registry, KEY, engine=spark_engine).to_dict(), want)


def test_analyze_table_over_parquet_equal(hillstrom_parquet, spark_engine) -> None:
    args = (hillstrom_parquet, "segment", "No E-Mail", ["visit:binomial", "conversion:binomial", "spend:mean"])
    _close(analyze_table(*args, covariate="history", engine=spark_engine).to_dict(),
           analyze_table(*args, covariate="history").to_dict())
    ratio = (hillstrom_parquet, "segment", "No E-Mail", ["spend/visit:ratio", "history:mean:decrease"])
    _close(analyze_table(*ratio, engine=spark_engine).to_dict(), analyze_table(*ratio).to_dict())


def test_resolve_engine_reuses_the_active_session(spark) -> None:
    engine = resolve_engine("spark")
    assert isinstance(engine, SparkEngine)
    assert engine.spark is spark


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "group"}, "table.variant: got 'group', expected a column of"),
        ({"metrics": ["nope:mean"]}, "metric nope: got 'nope'"),
        ({"metrics": ["zip_code:mean"]}, "column zip_code: got 'STRING', expected a numeric column"),
        ({"metrics": ["history:binomial"]}, "expected only 0 or 1 in a binomial metric"),
        ({"control": "zzz"}, "plan.control: got 'zzz', expected a value of column segment"),
    ],
)
def test_bad_table_one_line(hillstrom_parquet, spark_engine, kwargs, message) -> None:
    args = {"variant": "segment", "control": "No E-Mail", "metrics": ["spend:mean"]} | kwargs
    with pytest.raises(InputError) as info:
        analyze_table(hillstrom_parquet, engine=spark_engine, **args)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_parquet_missing_a_column(registry, lake, spark_engine, tmp_path: Path) -> None:
    broken = tmp_path / "lake"
    broken.mkdir()
    con = duckdb.connect()
    for table in ("exposures", "user_attributes"):
        con.execute(f"COPY (SELECT * FROM '{lake / (table + '.parquet')}') TO '{broken / (table + '.parquet')}'")
    con.execute(f"COPY (SELECT * EXCLUDE (ts) FROM '{lake / 'events.parquet'}') TO '{broken / 'events.parquet'}'")
    for engine in (spark_engine, "duckdb"):
        with pytest.raises(InputError) as info:
            analyze_experiment(registry, KEY, engine=engine, data=broken)
        assert "events column: got 'ts', expected a column of" in str(info.value)
        assert "\n" not in str(info.value)
    (broken / "exposures.parquet").unlink()
    with pytest.raises(InputError, match="^data: .* expected a folder holding exposures.parquet"):
        analyze_experiment(registry, KEY, engine=spark_engine, data=broken)
    with pytest.raises(InputError, match="^table: got '.*none.parquet', expected an existing Parquet"):
        analyze_table(tmp_path / "none.parquet", "segment", "a", ["x:mean"], engine=spark_engine)


def test_a_section_spark_cannot_compute_is_refused(hillstrom_parquet, spark_engine) -> None:
    """Never silently dropped: abuse filtering asks for exact robust z-scores, a DuckDB section."""
    from promolab.analysis.filtering import TableFilters

    with pytest.raises(InputError) as info:
        analyze_table(hillstrom_parquet, "segment", "No E-Mail", ["spend:mean"], engine=spark_engine,
                      filters=TableFilters(outliers=("spend",)))
    assert str(info.value).startswith("engine: got 'spark', expected an engine that computes filtering")
