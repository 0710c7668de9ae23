"""The Report page's lift over time under Streamlit's AppTest: the cumulative lift and its CI band
per variant with the group-sequential boundary are the library's numbers (``promolab report KEY
--over-time --json``), the metric and period selectors redraw it, and an experiment whose users
all arrived at once says there is no series."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from warehouse_data import assert_close

from promolab.analysis.over_time import over_time
from promolab.store import Registry

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PAGE = "app_pages/report.py"
CHECKOUT = "checkout-coupon"  # 14 days of exposures, a group-sequential plan
TIMEOUT = 60


@pytest.fixture
def page(dashboard_db: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROMOLAB_DB", str(dashboard_db))
    monkeypatch.setattr(sys, "argv", ["app.py"])

    def open_page(experiment: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.query_params["experiment"] = experiment
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def _chart(at: AppTest) -> dict:
    """The lift-over-time figure (its traces name the variants' boundaries or intervals over time)."""
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if "cumulative lift" in json.dumps(spec["layout"].get("yaxis", {})):
            return spec
    raise AssertionError("no lift-over-time chart")


def _trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def _y(trace: dict) -> list[float]:
    """A trace's y values (plotly sends numeric arrays as base64 ``bdata``)."""
    y = trace["y"]
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist()
    return [float("nan") if v is None else v for v in y]


def test_chart_is_the_cumulative_lift_with_band_and_boundary(page, dashboard_db) -> None:
    at = page(CHECKOUT)
    assert at.selectbox(key="report-ot-metric").value == "conversion"  # the primary metric by default
    series = over_time(Registry.open(dashboard_db), CHECKOUT)
    assert series.sequential == "gst" and len(series.starts) == 14
    spec = _chart(at)
    names = {v.key: v.name for v in Registry.open(dashboard_db).get_experiment(CHECKOUT).variants}
    for lift in series.metric("conversion").lifts:
        points = lift.points
        name = names[lift.variant]  # the chart calls variants by the spec's names
        line = _trace(spec, f"{name} vs {names[series.control]}")
        assert_close(_y(line), [p.absolute * 100 for p in points], path=lift.variant)  # percentage points
        band = _trace(spec, f"{name}: confidence interval")
        assert_close(_y(band), [p.abs_ci_high * 100 for p in points] + [p.abs_ci_low * 100 for p in points[::-1]])
        boundary = _trace(spec, f"{name}: group-sequential boundary")
        reach = [p.boundary_lift * 100 if np.isfinite(p.boundary_lift) else float("nan") for p in points]
        assert_close(_y(boundary), reach)  # an infinite boundary (almost no information yet) is not drawn
        drawn = [y for y in _y(boundary) if np.isfinite(y)]
        assert len(drawn) >= 3 and np.all(np.diff(drawn) < 0)  # the critical lift narrows as users accrue
    assert any("Trend: " in c.value for c in at.caption)
    assert any(f"promolab report {CHECKOUT} --over-time --period day" in c.value for c in at.caption)


def test_metric_and_period_selectors_redraw_the_chart(page) -> None:
    at = page(CHECKOUT)
    before = _chart(at)
    at.selectbox(key="report-ot-metric").select("revenue").run()
    assert not at.exception
    revenue = _chart(at)
    assert revenue != before and "units" in json.dumps(revenue["layout"]["yaxis"])
    at.radio(key="report-ot-period").set_value("hour").run()
    assert not at.exception
    hourly = _chart(at)
    assert len(hourly["data"][1]["x"]) > len(revenue["data"][1]["x"])
    assert any("--period hour" in c.value for c in at.caption)


def test_users_exposed_at_once_have_no_series(page) -> None:
    at = page("hillstrom-email")  # Hillstrom's campaign: one time stamp for every user
    assert any("no series to draw" in c.value for c in at.caption)
    with pytest.raises(AssertionError):
        _chart(at)
