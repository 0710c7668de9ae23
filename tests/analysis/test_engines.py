"""Engine selection errors (no Spark needed): one line, the fix named."""

from __future__ import annotations

import sys

import pytest

from promolab.analysis.engines import resolve_engine
from promolab.cli import run
from promolab.errors import InputError


def test_unknown_engine() -> None:
    with pytest.raises(InputError, match="^engine: got 'flink', expected one of duckdb, spark"):
        resolve_engine("flink")


def test_the_cli_names_its_flag(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """The library names the field; only the CLI says the flag."""
    table = tmp_path / "t.csv"
    table.write_text("v,y\na,1\nb,0\n")
    code = run(["analyze-table", str(table), "--variant", "v", "--control", "a", "--metric", "y:mean",
                 "--engine", "flink"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: --engine: got 'flink', expected one of duckdb, spark"


def test_spark_master_without_spark() -> None:
    with pytest.raises(InputError, match="^spark_master: got 'spark://h:7077', expected only with engine spark"):
        resolve_engine("duckdb", "spark://h:7077")


def test_missing_spark_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(InputError) as info:
        resolve_engine("spark")
    assert "pip install 'promolab[spark]'" in str(info.value) and "\n" not in str(info.value)
