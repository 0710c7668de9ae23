"""Data access for the dashboard: the registry file, and every cached library call.

This is the only module that uses Streamlit's caches. What only one page needs (uplift models,
file analysis, the bundled table, simulations) is imported on first use: the first page of a
freshly started dashboard loads without it. Cached functions take the registry
path (a string) as their key, never the Registry object, and return plain dataclasses or
frames; ``clear()`` drops everything after the dashboard writes to the registry.

Which registry file: ``--db FILE`` after ``--`` on the ``streamlit run`` command line
(``promolab dashboard`` passes it), else ``$PROMOLAB_DB``, else ``promolab-demo.duckdb`` if
it exists, else ``promolab.duckdb`` — the same rule as ``promolab dashboard``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from promolab.analysis import Report, analyze_experiment
from promolab.analysis.allocation import Period, SegmentAllocation
from promolab.analysis.allocation import segment_allocation as allocation_by_segment
from promolab.analysis.over_time import OverTime
from promolab.analysis.over_time import over_time as series_over_time
from promolab.spec import Experiment
from promolab.store import ExperimentSummary, Registry
from promolab.store.alerts import Alert
from promolab.store.location import resolve_db_path
from ui import background

REPO = Path(__file__).resolve().parents[2]
SIMULATIONS = REPO / "simulations"
TTL = 300  # seconds; ``follow`` clears the caches sooner when the registry changes


def default_db_path() -> str:
    """The CLI's rule: $PROMOLAB_DB, else ./promolab.duckdb if it exists, else
    ./promolab-demo.duckdb if it exists, else ./promolab.duckdb."""
    return str(resolve_db_path())


def db_from_argv(argv: Sequence[str]) -> str | None:
    """``--db FILE`` or ``--db=FILE`` among the script arguments."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--db="):
            return arg.split("=", 1)[1]
    return None


def db_path() -> str:
    """The registry file this dashboard shows (absolute path)."""
    return str(Path(db_from_argv(sys.argv[1:]) or default_db_path()).resolve())


@st.cache_resource(show_spinner=False)
def registry(path: str) -> Registry:
    """The registry of ``path`` (it opens the file per operation: the dashboard never holds
    it between reruns, and the service and the CLI use it at the same time)."""
    return Registry.open(path)


def clear() -> None:
    """Forget cached results (after the dashboard wrote to the registry, or on Refresh), and
    the prefetch's jobs under way."""
    st.cache_data.clear()
    background.forget()


_seen: dict[str, tuple] = {}


def follow(path: str) -> None:
    """Once per rerun: forget cached results when the registry changed since the last rerun
    (another process - the service, the CLI - ingested or changed something), so every
    page shows current data."""
    fingerprint = registry(path).data_fingerprint()
    if _seen.get(path, fingerprint) != fingerprint:
        clear()
    _seen[path] = fingerprint


# -- registry reads ----------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def experiments(path: str) -> list[ExperimentSummary]:
    """``promolab experiment list --json``."""
    return registry(path).list_experiments()


@st.cache_data(ttl=TTL, show_spinner=False)
def open_alerts(path: str) -> list[Alert]:
    """Unacknowledged health alerts, newest first (``promolab alerts --json``)."""
    return registry(path).alerts()


@st.cache_data(ttl=TTL, show_spinner=False)
def experiment(path: str, key: str) -> Experiment:
    """The stored spec (``promolab experiment show KEY --json``)."""
    return registry(path).get_experiment(key)


@st.cache_data(ttl=TTL, show_spinner=False)
def status_history(path: str, key: str) -> pd.DataFrame:
    rows = registry(path).status_history(key)
    return pd.DataFrame([r.__dict__ for r in rows])


@st.cache_data(ttl=TTL, show_spinner="Analysing…")
def report(path: str, key: str, cuped: bool = True, unfiltered: bool = False) -> Report:
    """``promolab report KEY [--no-cuped] [--no-filter] --json``: with ``unfiltered`` the report also
    carries the analysis of every exposed user (abuse filtering off) in ``unfiltered``."""
    return analyze_experiment(registry(path), key, cuped=cuped, compare_unfiltered=unfiltered)


@st.cache_data(ttl=TTL, show_spinner="Drilling down…")
def segment_report(path: str, key: str, column: str, cuped: bool = True) -> Report:
    """``promolab report KEY [--no-cuped] --segment COLUMN --json`` (its ``segments`` entry)."""
    return analyze_experiment(registry(path), key, cuped=cuped, segments=(column,))


@st.cache_data(ttl=TTL, show_spinner="Computing the lift over time…")
def over_time(path: str, key: str, period: str = "day", cuped: bool = True) -> OverTime:
    """``promolab report KEY --over-time --period PERIOD [--no-cuped] --json``."""
    return series_over_time(registry(path), key, period, cuped=cuped)


@st.cache_data(ttl=TTL, show_spinner=False)
def attribute_values(path: str, key: str) -> dict[str, int]:
    """User attributes stored for an experiment's exposed users → their number of distinct values
    (the columns a report can drill down by)."""
    frame = registry(path).query(
        "SELECT a.attribute, COUNT(DISTINCT COALESCE(a.value_text, CAST(a.value_num AS VARCHAR))) AS n "
        "FROM user_attributes a WHERE a.user_id IN (SELECT user_id FROM exposures WHERE experiment_key = ?) "
        "GROUP BY 1 ORDER BY 1", [key])
    return {str(a): int(n) for a, n in zip(frame["attribute"], frame["n"])}


@st.cache_data(ttl=TTL, show_spinner=False)
def weight_history(path: str, key: str) -> pd.DataFrame:
    """Stored bandit weights: updated_at, variant_key, weight, policy, reason."""
    return registry(path).weight_history(key)


@st.cache_data(ttl=TTL, show_spinner=False)
def current_weights(path: str, key: str) -> dict[str, float]:
    return registry(path).current_weights(key)


@st.cache_data(ttl=TTL, show_spinner=False)
def exposure_window(path: str, key: str) -> tuple[Any, Any]:
    """First and last exposure time stamps of an experiment (None, None without exposures)."""
    row = registry(path).query(
        "SELECT MIN(first_exposed_at) AS lo, MAX(first_exposed_at) AS hi FROM exposures WHERE experiment_key = ?",
        [key],
    ).iloc[0]
    return (None if pd.isna(row.lo) else row.lo, None if pd.isna(row.hi) else row.hi)


def days_running(path: str, summary: ExperimentSummary) -> float | None:
    """Days from launch to the stop, or, while it runs, to its latest exposure (now if none yet);
    None for a draft."""
    if summary.launched_at is None:
        return None
    history = status_history(path, summary.key)
    stops = history[history.to_status == "stopped"].changed_at if not history.empty else []
    end = stops.iloc[0] if len(stops) else exposure_window(path, summary.key)[1]
    if end is None:
        end = datetime.now(timezone.utc).replace(tzinfo=None)
    return round(max((pd.Timestamp(end) - pd.Timestamp(summary.launched_at)).total_seconds(), 0) / 86400, 1)


@st.cache_data(ttl=TTL, show_spinner=False)
def daily_traffic(path: str) -> tuple[int | None, int]:
    """Median users first exposed per day across the registry, and the number of days seen."""
    frame = registry(path).query(
        "SELECT CAST(first_exposed_at AS DATE) AS day, COUNT(DISTINCT user_id) AS users "
        "FROM exposures GROUP BY 1"
    )
    if frame.empty:
        return None, 0
    return int(frame.users.median()), len(frame)


@st.cache_data(ttl=TTL, show_spinner="Computing the looks…")
def sequential_path(path: str, key: str, looks: int, spending: str):
    """``promolab sequential KEY --looks K --spending S --json``: every variant × metric (the
    prefetch starts it in its low-priority process: ``ui.background``)."""
    return background.compute(background.sequential_path, path, key, looks, spending)


@st.cache_data(ttl=TTL, show_spinner=False)
def bandit_regret(path: str, key: str, period: str = "day"):
    """``promolab bandit regret KEY --json``: reward, estimated regret and allocation per period."""
    from ui.bandit import bandit_regret as compute

    return compute(registry(path), key, period)


@st.cache_data(ttl=TTL, show_spinner="Cross-fitting uplift models…", max_entries=20)
def uplift_report(path: str, key: str, learners: tuple[str, ...] = ("x",), model: str = "ridge",
                  share: float | None = None):
    """``promolab uplift --experiment KEY --learner … --model MODEL [--share S] --json``: an UpliftReport
    (the prefetch starts it in its low-priority process: ``ui.background``)."""
    return background.compute(background.uplift_report, path, key, learners, model, share)


@st.cache_data(ttl=TTL, show_spinner=False)
def segment_allocation(path: str, key: str, feature: str, period: Period = "day") -> SegmentAllocation:
    """A contextual experiment's variant shares per ``feature`` segment and period (policy users)."""
    return allocation_by_segment(registry(path), key, feature, period)


# -- files and simulations ---------------------------------------------------------------

@st.cache_data(show_spinner="Analysing the file…", max_entries=20)
def table_report(data: bytes, suffix: str, variant: str, control: str, metrics: tuple[str, ...],
                 covariate: str | None, alpha: float, correction: str, user: str | None = None) -> Report:
    """``promolab analyze-table FILE --variant … --control … --metric … [--user COL] --json``."""
    from promolab.analysis import analyze_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return analyze_table(path, variant, control, list(metrics), covariate=covariate, alpha=alpha,
                             correction=correction, user=user)


@st.cache_data(show_spinner=False, max_entries=20)
def table_preview(data: bytes, suffix: str) -> pd.DataFrame:
    """The first rows of an uploaded table, read by DuckDB like ``analyze-table`` does."""
    from promolab.analysis.table import open_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        con = duckdb.connect()
        try:
            name = open_table(con, path, "preview")
            return con.execute(f'SELECT * FROM "{name}" LIMIT 2000').df()
        finally:
            con.close()


@st.cache_data(show_spinner=False)
def sample_table() -> bytes:
    """The bundled Hillstrom table as CSV bytes (an example file to analyse)."""
    from promolab.demo import hillstrom_frame

    return hillstrom_frame().to_csv(index=False).encode()


def scenario_files() -> list[Path]:
    return sorted(SIMULATIONS.glob("*.toml")) if SIMULATIONS.is_dir() else []


@st.cache_data(show_spinner=False, max_entries=30)
def simulate(toml_text: str, source: str, policies: tuple[str, ...], runs: int, seed: int | None):
    """``promolab simulate FILE --policy … --runs N --json``: one summary per policy."""
    import tomllib

    from promolab.sim.grid import make_tasks, run_grid
    from promolab.sim.scenario import parse_scenario

    scenario = parse_scenario(tomllib.loads(toml_text), source=source)
    if policies:
        scenario = scenario.with_policies(list(policies))
    summaries = run_grid(make_tasks([scenario], runs=runs, seed=seed))
    return scenario, summaries
