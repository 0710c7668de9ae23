"""The Experiments page shows a banner naming the experiments with unacknowledged alerts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from health_data import KEY, watch_registry  # noqa: E402

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
