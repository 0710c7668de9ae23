"""The dashboard's number formats and the p-value axis, with values from real reports: p-values
a marketer can read (no 3.4e-111), and a log axis labelled with p-values, ticking at α and never
above p = 1."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))
from ui import charts  # noqa: E402
from ui import format as fmt  # noqa: E402


@pytest.mark.parametrize(("p", "shown"), [
    (3.4e-111, "< 0.001"), (0.000999, "< 0.001"), (0.001, "0.001"), (0.0123, "0.012"), (0.54, "0.540"),
    (1.0, "1.000"), (None, "—"), (float("nan"), "—"), (float("inf"), "—"),
])
def test_pvalues_read_as_people_write_them(p, shown) -> None:
    assert fmt.pvalue(p) == shown


@pytest.mark.parametrize(("p", "label"), [(1.0, "1"), (0.05, "0.05"), (0.001, "0.001"), (1e-4, "10⁻⁴"),
                                          (1e-12, "10⁻¹²")])
def test_p_axis_labels(p, label) -> None:
    assert fmt.p_tick(p) == label


def test_the_p_value_axis_ticks_at_alpha_and_stops_at_one() -> None:
    frame = pd.DataFrame({"information_fraction": [0.25, 0.5, 0.75, 1.0],
                          "p_value": [0.2, 0.03, 4e-4, 2e-6], "always_valid_p": [1.0, 0.4, 0.02, 3e-4]})
    fig = charts.pvalue_path(frame, "#1f77b4", 0.05)
    axis = fig.layout.yaxis
    assert list(axis.tickvals) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 1.0]
    assert list(axis.ticktext) == ["10⁻⁶", "10⁻⁵", "10⁻⁴", "0.001", "0.01", "0.05", "0.1", "1"]
    assert axis.range[1] <= math.log10(1.0) + 0.05 and axis.range[0] < math.log10(2e-6)
    assert not any(t.isdigit() and len(t) == 1 and t not in ("1",) for t in axis.ticktext)  # no bare "5" or "2"


def test_many_decades_are_thinned() -> None:
    ticks = charts.p_axis_ticks(pd.Series([1e-40, 0.5]), 0.05)
    assert 1.0 in ticks and 0.05 in ticks and len(ticks) <= 9
    assert ticks == sorted(ticks) and min(ticks) <= 1e-35
    frame = pd.DataFrame({"information_fraction": [0.5, 1.0], "p_value": [0.5, 1e-40], "always_valid_p": [1.0, 1e-20]})
    assert charts.pvalue_path(frame, "#1f77b4", 0.05).layout.yaxis.range[0] < -40  # every point stays on the chart
