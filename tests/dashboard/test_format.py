"""The dashboard's number formats and the p-value axis, with values from real reports: p-values
a marketer can read (no 3.4e-111), and a log axis labelled with p-values, ticking at α and never
above p = 1."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))
from ui import charts  # noqa: E402
from ui import format as fmt  # noqa: E402
from ui import words  # noqa: E402


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


# -- money, percentages, labels: cases from the demo's reports -----------------------------------

@pytest.mark.parametrize(("x", "kind", "shown"), [
    (0.6528, "money", "$0.65"), (1423.4, "money", "$1,423"), (0.1062, "binomial", "10.62 %"), (1.077, "mean", "1.077"),
    (None, "money", "—"),
])
def test_variant_means_in_their_units(x, kind, shown) -> None:
    assert fmt.metric_value(x, kind) == shown


@pytest.mark.parametrize(("x", "kind", "shown"), [
    (0.7674, "money", "+$0.77"), (-0.202, "money", "−$0.20"), (0.0766, "binomial", "+7.66 pp"),
    (0.4227, "mean", "+0.4227"),
])
def test_absolute_lifts_in_their_units(x, kind, shown) -> None:
    assert fmt.absolute(x, kind) == shown


@pytest.mark.parametrize(("x", "shown"), [(0.721, "+72.1 %"), (-0.0125, "-1.2 %"), (1.188, "+118.8 %")])
def test_relative_lifts(x, shown) -> None:
    assert fmt.pct(x, signed=True) == shown


@pytest.mark.parametrize(("column", "value", "shown"), [
    ("newbie", 0, "newbie: no"), ("newbie", "1", "newbie: yes"), ("newbie", "1.0", "newbie: yes"),
    ("mens", "true", "mens: yes"), ("recency", "3", "recency = 3"), ("channel", "Web", "Web"),
    ("zip_code", "Surburban", "Surburban"),
])
def test_segment_values_in_words(column, value, shown) -> None:
    assert words.segment_value(column, value) == shown


def test_costs_policies_and_corrections_in_words() -> None:
    assert words.cost({"per_user": 0.01}) == "$0.01 per user sent the offer"
    assert words.cost({"discount_pct": 10, "shipping_cost": 6.5}) == "10 % off the order, $6.50 shipping paid per order"
    assert words.cost({}) == "none"
    assert words.policy("thompson") == "Thompson sampling" and words.policy("custom") == "custom"
    assert words.correction("holm").startswith("Holm correction")


def test_variant_keys_become_names_only_where_whole() -> None:
    """The report JSON with keys → names: dict keys and whole strings, never parts of longer text."""
    names = {"mens-email": "Mens E-Mail", "no-email": "No E-Mail"}
    data = {"control": "no-email", "srm": {"observed": {"mens-email": 21307, "no-email": 21306}},
            "metrics": [{"name": "visit", "variants": [{"variant": "mens-email", "n": 21307}]}],
            "verdict": {"text": "Ship mens-email", "decision": "ship", "variant": "mens-email"}}
    shown = words.named(data, names)
    assert shown["control"] == "No E-Mail" and shown["srm"]["observed"] == {"Mens E-Mail": 21307, "No E-Mail": 21306}
    assert shown["metrics"][0]["variants"][0] == {"variant": "Mens E-Mail", "n": 21307}
    assert shown["verdict"] == {"text": "Ship mens-email", "decision": "ship", "variant": "Mens E-Mail"}
    assert data["control"] == "no-email"  # the input is left as it was


def test_money_metrics_are_marked_in_the_report_and_its_segments() -> None:
    data = {"metrics": [{"name": "spend", "kind": "mean"}, {"name": "visit", "kind": "binomial"}],
            "segments": [{"column": "channel", "segments": [{"value": "Web", "metrics": [
                {"name": "spend", "kind": "mean"}]}]}]}
    shown = words.in_dollars(data, {"spend"})
    assert [m["kind"] for m in shown["metrics"]] == ["money", "binomial"]
    assert shown["segments"][0]["segments"][0]["metrics"][0]["kind"] == "money"
    assert data["metrics"][0]["kind"] == "mean"


@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20),
       st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3))
def test_named_replaces_exactly_the_keys(value, names) -> None:
    """Only strings equal to a key (as values or dict keys) change; structure and other values stay."""
    def walk(a, b) -> None:
        if isinstance(a, dict):
            assert isinstance(b, dict) and len(b) <= len(a)
            for k, v in a.items():
                if sum(names.get(x, x) == names.get(k, k) for x in a) == 1:  # colliding keys keep one value
                    walk(v, b[names.get(k, k)])
        elif isinstance(a, list):
            assert isinstance(b, list) and len(a) == len(b)
            for x, y in zip(a, b):
                walk(x, y)
        elif isinstance(a, str):
            assert b == names.get(a, a)
        else:
            assert b == a
    walk(value, words.named(value, names))


@given(st.text(max_size=20), st.one_of(st.text(max_size=20), st.integers(), st.floats()))
def test_segment_value_words_any_value(column, value) -> None:
    text = words.segment_value(column, value)
    assert isinstance(text, str) and (str(value) in text or text.endswith(("yes", "no")))
