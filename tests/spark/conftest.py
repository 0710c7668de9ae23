"""One SparkSession for every Spark test (a JVM start costs ~5 s; the tests share one xdist worker)."""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from promolab.analysis.engines.spark_engine import spark_session

    session = spark_session("local[2]", local_dir=tmp_path_factory.mktemp("spark-local"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_engine(spark):
    from promolab.analysis.engines.spark_engine import SparkEngine

    return SparkEngine(session=spark)
