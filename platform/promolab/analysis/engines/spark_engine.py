"""Spark: the same SQL, transpiled to Spark SQL by sqlglot, over Parquet (or CSV).

Local mode by default (``local[2]`` with quiet, small settings); any cluster through
``master`` (``--spark-master``) or the standard Spark settings (``spark-defaults.conf``,
``PYSPARK_SUBMIT_ARGS``, an already active SparkSession). pyspark is the optional extra
``promolab[spark]``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pandas as pd

from promolab.analysis.dialect import export_parquet, to_dialect
from promolab.analysis.engines.sources import (
    REQUIRED,
    SOURCE_COLUMNS,
    SqlSession,
    check_source_columns,
    parquet_location,
)
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.store import Registry

# pyspark 4.x warns on pandas 3 at import; promolab only collects rows, never toPandas().
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

INSTALL_HINT = "pyspark installed: pip install 'promolab[spark]' (and Java 17 or 21)"
NUMERIC = ("TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "BOOLEAN", "DECIMAL")  # Spark dtypes, upper-cased
LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.console.type = Console
appender.console.name = stderr
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
# pyspark counts as a shell: Spark sets the root level to this logger's, announcing it unless equal
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""


def _pyspark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError("engine", "spark", INSTALL_HINT) from exc
    return SparkSession


def _master_configured_elsewhere() -> bool:
    """Whether the standard Spark settings already name a master."""
    if "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return True
    conf_dirs = [os.environ.get("SPARK_CONF_DIR")]
    if os.environ.get("SPARK_HOME"):
        conf_dirs.append(os.path.join(os.environ["SPARK_HOME"], "conf"))
    for conf in filter(None, conf_dirs):
        defaults = Path(conf) / "spark-defaults.conf"
        if defaults.is_file() and any(line.split()[:1] == ["spark.master"]
                                      for line in defaults.read_text(errors="replace").splitlines()):
            return True
    return False


def spark_session(master: str | None = None, local_dir: str | Path | None = None, app_name: str = "promolab"):
    """The active SparkSession, or a new one.

    Without ``master`` an active session is reused as is (a notebook, a test fixture,
    spark-submit). A local master gets the quiet, small settings: 2 shuffle partitions,
    no UI, 2 GiB driver, serial GC, log level error, ``spark.local.dir`` under
    ``local_dir`` (default ``$PROMOLAB_SPARK_DIR`` or the temp folder). Every session
    uses UTC: DuckDB's timestamps read back as timestamp_ntz.
    """
    SparkSession = _pyspark()
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    configured = master is None and _master_configured_elsewhere()
    master = None if configured else (master or "local[2]")
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        base = Path(local_dir or os.environ.get("PROMOLAB_SPARK_DIR") or Path(tempfile.gettempdir()) / "promolab-spark")
        base.mkdir(parents=True, exist_ok=True)
        log4j = base / "log4j2.properties"
        log4j.write_text(LOG4J2)
        builder = (builder
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.default.parallelism", "2")
                   .config("spark.ui.enabled", "false")
                   .config("spark.driver.memory", "2g")
                   .config("spark.local.dir", str(base))
                   .config("spark.driver.extraJavaOptions",
                           f"-XX:+UseSerialGC -XX:-UsePerfData -Dlog4j2.configurationFile=file:{log4j}"))
    builder = (builder.config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC"))
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # no Java, bad master URL, …: one line
        raise InputError("spark_master" if master else "engine", master or "spark",
                         f"a reachable Spark ({str(exc).strip().splitlines()[0][:200]})") from exc
    session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return session


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


class SparkEngine:
    """Spark computes the core report, health, tails, segments and economics; abuse filtering
    (exact robust z-scores over windowed events) and bandit weight periods (the registry's
    weight history) stay on DuckDB."""

    name = "spark"
    sections = frozenset({"health", "tails", "segments", "economics"})

    def __init__(self, master: str | None = None, session: Any = None, local_dir: str | Path | None = None):
        _pyspark()  # fail early, with the install hint, if the extra is missing
        self.master = master
        self.local_dir = local_dir
        self._session = session

    @property
    def spark(self):
        if self._session is None:
            self._session = spark_session(self.master, self.local_dir)
        return self._session

    def sql(self, duckdb_sql: str) -> pd.DataFrame:
        """Run promolab's DuckDB SQL on Spark; the rows as a pandas frame."""
        # sqlglot writes PERCENTILE_CONT as Spark's approximate percentile; Spark's percentile() is the
        # exact, linearly interpolated one that DuckDB and the warehouses compute
        result = self.spark.sql(to_dialect(duckdb_sql, "spark", pretty=False).replace("PERCENTILE_APPROX(",
                                                                                       "PERCENTILE("))
        columns = result.columns
        return pd.DataFrame([tuple(row) for row in result.collect()], columns=columns)

    def _read(self, location: str, flag: str):
        """A Spark DataFrame over a Parquet file/folder (or a CSV file)."""
        if "://" not in location and not Path(location).exists():
            raise InputError(flag, location, "an existing Parquet (or CSV) file or folder")
        reader = self.spark.read
        try:
            if location.lower().endswith((".csv", ".csv.gz", ".tsv")):
                sep = "\t" if location.lower().endswith(".tsv") else ","
                return reader.option("header", True).option("inferSchema", True).option("sep", sep).csv(location)
            return reader.parquet(location)
        except Exception as exc:
            raise InputError(flag, location, f"readable Parquet ({_first_line(exc)})") from exc

    @contextmanager
    def open_table(self, path: str | Path) -> Iterator[SqlSession]:
        source = str(path)
        frame = self._read(source, "table")
        frame.createOrReplaceTempView("per_user_input")
        yield SqlSession(self.sql, frozenset({"per_user_input"}), "per_user_input",
                         {name: t.upper() for name, t in frame.dtypes}, lambda t: t.startswith(NUMERIC))

    @contextmanager
    def open_experiment(self, registry: "Registry", data: str | Path | None) -> Iterator[SqlSession]:
        if data is not None:
            yield SqlSession(self.sql, self._views(data))
            return
        # No lake given: export the registry to Parquet that this (local) Spark can read.
        base = self.local_dir or os.environ.get("PROMOLAB_SPARK_DIR")
        if base:
            Path(base).mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="promolab-export-", dir=base)
        try:
            export_parquet(registry, tmp)
            yield SqlSession(self.sql, self._views(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _views(self, data: str | Path) -> frozenset[str]:
        found = set()
        for table in SOURCE_COLUMNS:
            location = parquet_location(data, table, required=table in REQUIRED)
            if location is None:
                continue
            frame = self._read(location, "data")
            check_source_columns(table, location, frame.columns)
            frame.createOrReplaceTempView(table)
            found.add(table)
        return frozenset(found)
