"""The dashboard's prefetch computes each page's first view with the pages' own arguments, so a
page visited afterwards computes nothing: its cached functions are hits."""

from __future__ import annotations

import gc
import re
import sys
import threading
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
sys.path.insert(0, str(APP.parent))
from ui import background, prefetch  # noqa: E402


@pytest.mark.parametrize("in_a_child", [False, True], ids=["here", "long-jobs-in-a-child"])
def test_pages_find_their_first_view_computed(dashboard_db: Path, monkeypatch: pytest.MonkeyPatch,
                                              in_a_child: bool) -> None:
    import promolab.analysis.sequential_path as looks
    import promolab.uplift.experiment as uplift

    calls = {"uplift": 0, "sequential": 0}

    def counted(name, real):
        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(uplift, "experiment_uplift", counted("uplift", uplift.experiment_uplift))
    monkeypatch.setattr(looks, "sequential_path", counted("sequential", looks.sequential_path))
    monkeypatch.setenv("PROMOLAB_DB", str(dashboard_db))
    monkeypatch.setattr(sys, "argv", ["app.py"])
    st.cache_data.clear()
    if in_a_child:  # as ``prefetch.run`` does: the looks and the uplift models come from the low-priority process
        with background.low_priority_pool() as pool:
            prefetch.first_views(str(dashboard_db.resolve()), pool=pool)
    else:
        prefetch.first_views(str(dashboard_db.resolve()))
    computed = {"uplift": 0, "sequential": 0} if in_a_child else {"uplift": 1, "sequential": 1}
    assert calls == computed
    for page, drawn in (("app_pages/sequential.py", "z-statistic against the group-sequential boundaries"),
                        ("app_pages/targeting.py", "How well do the models rank users?")):
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params["experiment"] = "hillstrom-email"
        at.run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert drawn in [h.value for h in at.subheader]  # hillstrom-email's view, not another experiment's
    assert calls == computed  # both pages were cache hits
    st.cache_data.clear()


def test_the_background_jobs_start_once_the_first_page_is_drawn(dashboard_db: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The reports are done while the first page's run is still under way: the worker's jobs (the
    looks, then the uplift models) are submitted only after that run has ended and the pages
    have been quiet (its start-up, at normal priority until its initializer lowers it, slowed
    the page being drawn). With no visitor yet, they are submitted at once."""
    activity = prefetch.Activity()
    monkeypatch.setattr(prefetch, "activity", activity)
    started: list[tuple[str, float, int]] = []
    monkeypatch.setattr(background, "start", lambda pool, job, *args: started.append(
        (job.__name__, time.monotonic(), prefetch.activity.running)))
    for later in ("over_time", "attribute_values", "sequential_path", "bandit_regret", "segment_allocation",
                  "uplift_report"):  # the other pages' steps: not what this test is about
        monkeypatch.setattr(prefetch.data, later, lambda *args: None)
    monkeypatch.setenv("PROMOLAB_DB", str(dashboard_db))
    monkeypatch.setattr(sys, "argv", ["app.py"])
    st.cache_data.clear()
    activity.begin()  # the first page's run
    threading.Timer(1.0, activity.end).start()
    prefetch.first_views(str(dashboard_db.resolve()), wait=10.0, pool=object())
    assert [job for job, _, _ in started] == ["sequential_path", "uplift_report"]
    assert all(running == 0 and at - activity.ended >= prefetch.QUIET - 0.01 for _, at, running in started)
    assert activity.runs == 1
    started.clear()
    idle = prefetch.Activity()  # no visitor yet: no page to wait for; one comes 2 s later
    monkeypatch.setattr(prefetch, "activity", idle)
    visit = threading.Timer(2.0, lambda: (idle.begin(), idle.end()))  # the later steps wait for it
    begun = time.monotonic()
    visit.start()
    prefetch.first_views(str(dashboard_db.resolve()), wait=10.0, pool=object())
    assert [job for job, _, _ in started] == ["sequential_path", "uplift_report"] and idle.runs == 1
    assert all(at - begun < 2.0 and running == 0 for _, at, running in started)
    st.cache_data.clear()


def test_the_server_finds_the_app_and_the_registry(tmp_path: Path) -> None:
    from promolab.cli.dashboard import streamlit_args
    from promolab.cli.dashboard_server import app_and_registry

    args = streamlit_args(tmp_path / "r.duckdb", 8600, "127.0.0.1", APP)
    assert app_and_registry(args) == (APP.resolve(), str((tmp_path / "r.duckdb").resolve()))
    assert app_and_registry(["run", str(APP)]) is None and app_and_registry(["hello"]) is None


def test_the_head_start_freezes_what_it_imported_before_it_prefetches(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """The imported stack moves to the collector's permanent generation, so the full collection
    Streamlit runs after every script run does not walk it again; then the prefetch starts."""
    from promolab.cli import dashboard_server

    seen: list[int] = []
    monkeypatch.setattr(dashboard_server, "server_started", lambda: True)
    monkeypatch.setattr(prefetch, "run", lambda db: seen.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        dashboard_server.head_start(APP, str(tmp_path / "r.duckdb"))
        assert len(seen) == 1 and seen[0] > 50_000  # the modules' objects, frozen before the prefetch ran
    finally:
        gc.unfreeze()


def test_the_server_starts_without_scanning_the_installed_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit's runtime calls the component scan as it starts; the server has it read no
    distribution's metadata, and no page uses the custom components it would find."""
    import importlib.metadata
    import inspect

    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime.runtime import Runtime

    from promolab.cli import dashboard_server

    assert "discover_and_register_components" in inspect.getsource(Runtime.__init__)
    monkeypatch.setattr(BidiComponentManager, "discover_and_register_components",
                        BidiComponentManager.discover_and_register_components)  # restored after the test
    read: list[str] = []
    monkeypatch.setattr(importlib.metadata, "distributions", lambda *a, **k: read.append("scan") or iter(()))
    BidiComponentManager().discover_and_register_components()
    assert read == ["scan"]  # the test's hook sees Streamlit's scan…
    read.clear()
    dashboard_server.skip_component_discovery()
    manager = BidiComponentManager()
    manager.discover_and_register_components()
    assert read == [] and manager.get_metadata("anything") is None  # …and none once skipped
    pages = list(APP.parent.rglob("*.py"))
    assert pages and not [p.name for p in pages if re.search(r"components\.v\d|st\.components", p.read_text())]


def test_steps_wait_for_the_pages_to_be_idle() -> None:
    activity = prefetch.Activity()
    started = time.monotonic()
    activity.wait_idle(0.15)  # no page drawn yet: waits for one, up to the limit
    assert 0.15 <= time.monotonic() - started < 1.0
    started = time.monotonic()
    activity.begin()
    threading.Timer(0.2, activity.end).start()
    activity.wait_idle(5.0, quiet=0.1)  # a run under way: waits for its end, then for quiet
    returned = time.monotonic()
    assert activity.runs == 1 and activity.ended - started >= 0.19 and returned - activity.ended >= 0.1
    assert returned - started < 2.0
    started = time.monotonic()
    activity.wait_idle(5.0, quiet=0.1)  # idle and quiet already: no wait for another run or the limit
    assert time.monotonic() - started < 1.0
    activity.begin()
    started = time.monotonic()
    activity.wait_idle(0.1)  # never idle: the limit still lets the step run
    assert 0.1 <= time.monotonic() - started < 1.0
