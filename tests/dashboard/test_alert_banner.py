"""The Experiments page shows a banner naming the experiments with unacknowledged alerts; the
Report page lists an experiment's own alerts, in red when promolab paused it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from health_data import KEY, watch_registry, watch_spec  # noqa: E402

from promolab.analysis.health_checks import check_running  # noqa: E402
from promolab.store import Registry  # noqa: E402

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


def _page(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("PROMOLAB_DB", str(db))
    monkeypatch.setattr(sys, "argv", ["app.py"])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_banner_for_unacknowledged_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "r.duckdb"
    registry = watch_registry(db, refund_b=0.15)
    (outcome,) = check_running(registry)
    assert [a.kind for a in outcome.alerts] == ["guardrail_harm"]
    registry.close()
    banner = "\n".join(str(w.value) for w in _page(db, monkeypatch).warning)
    assert f"Unacknowledged alerts: `{KEY}`: guardrail_harm b/refund" in banner
    Registry.open(db).acknowledge_alert(1, "alice")
    Registry.close_if_open(db)
    assert not any("Unacknowledged alerts" in str(w.value) for w in _page(db, monkeypatch).warning)


def test_report_page_banner_says_promolab_paused_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "r.duckdb"
    registry = watch_registry(db, refund_b=0.15, spec=watch_spec(safety={"auto_pause": True}))
    (outcome,) = check_running(registry)
    assert outcome.paused
    registry.close()
    at = _page(db, monkeypatch)
    at.switch_page("app_pages/report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [str(e.value) for e in at.error if "Paused automatically" in str(e.value)]
    assert "guardrail refund harmed in b" in error and "paused the experiment" in error
    assert f"promolab experiment launch {KEY}" in error
    Registry.open(db).set_status(KEY, "running", by="alice")  # resumed: still unacknowledged, a warning now
    Registry.close_if_open(db)
    at = _page(db, monkeypatch)
    at.switch_page("app_pages/report.py").run()
    assert not any("Paused automatically" in str(e.value) for e in at.error)
    assert any("1 unacknowledged health alert" in str(w.value) for w in at.warning)
