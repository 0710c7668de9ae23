"""Issue 12: every number in a spec is finite and in range, payloads and targeting values
are JSON-representable, and a file that is not UTF-8 is named — for TOML files and for
dicts (the HTTP API) alike, through one validation path."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from promolab.errors import SpecError
from promolab.spec import experiment_from_dict, load_experiment, parse_experiment

BASE = """
key = "exp"
name = "Exp"
owner = "me"
control = "a"
[[variants]]
key = "a"
[[variants]]
key = "b"
weight = 3
[[metrics]]
key = "conv"
kind = "binomial"
event = "order"
[[metrics]]
key = "rev"
kind = "mean"
event = "order"
[[guardrails]]
key = "refund"
kind = "binomial"
event = "refund"
direction = "decrease"
margin = 0.01
"""

INF, NAN = float("inf"), float("nan")


def base() -> dict[str, Any]:
    return tomllib.loads(BASE)


def problems_of(raw: dict[str, Any], tmp_path: Path) -> list[tuple[str, list[str]]]:
    """The problem fields from the dict path and from the TOML-file path (same raw spec)."""
    out = []
    with pytest.raises(SpecError) as info:
        experiment_from_dict(copy.deepcopy(raw))
    out.append(("dict", [p.field for p in info.value.problems]))
    path = tmp_path / "spec.toml"
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_experiment(path)
    assert all(str(path) in line for line in str(info.value).splitlines())
    out.append(("toml", [p.field for p in info.value.problems]))
    return out


def set_path(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``set_path(raw, "variants.0.weight", inf)``: create tables on the way."""
    node: Any = raw
    parts = path.split(".")
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return raw


@pytest.mark.parametrize("value", [INF, -INF, NAN, 0.0, -0.0, -1.0])
def test_weight_must_be_finite_and_positive(value: float, tmp_path: Path) -> None:
    raw = set_path(base(), "variants.0.weight", value)
    for _, fields in problems_of(raw, tmp_path):
        assert fields == ["variants[0].weight"]


def test_weights_whose_sum_overflows_are_refused(tmp_path: Path) -> None:
    raw = set_path(set_path(base(), "variants.0.weight", 1e308), "variants.1.weight", 1e308)
    for _, fields in problems_of(raw, tmp_path):
        assert fields == ["variants"]
    with pytest.raises(SpecError, match=r"variants: got .*expected weights whose sum is finite"):
        experiment_from_dict(raw)
    # large but summable weights are fine, and the shares stay exact
    ok = set_path(set_path(base(), "variants.0.weight", 1e307), "variants.1.weight", 3e307)
    assert experiment_from_dict(ok).weights == pytest.approx((0.25, 0.75))


def test_a_weight_too_small_to_get_any_share_is_refused() -> None:
    raw = set_path(set_path(base(), "variants.0.weight", 5e-324), "variants.1.weight", 1e300)
    with pytest.raises(SpecError) as info:
        experiment_from_dict(raw)
    assert [p.field for p in info.value.problems] == ["variants[0].weight"]


@pytest.mark.parametrize(("path", "field"), [
    ("metrics.1.cap", "metrics[1].cap"),
    ("guardrails.0.margin", "guardrails[0].margin"),
    ("filtering.outlier_z", "filtering.outlier_z"),
    ("economics.margin_rate", "economics.margin_rate"),
    ("variants.1.cost", "variants[1].cost.shipping_cost"),
    ("layer", "layer.end"),
    ("traffic_percent", "traffic_percent"),
    ("analysis.alpha", "analysis.alpha"),
    ("analysis.srm_threshold", "analysis.srm_threshold"),
])
@pytest.mark.parametrize("value", [INF, -INF, NAN])
def test_every_float_field_refuses_inf_and_nan(path: str, field: str, value: float, tmp_path: Path) -> None:
    raw = base()
    if path == "variants.1.cost":
        raw["variants"][1]["cost"] = {"shipping_cost": value}
    elif path == "layer":
        raw["layer"] = {"key": "l", "start": 0.0, "end": value}
    else:
        set_path(raw, path, value)
    for _, fields in problems_of(raw, tmp_path):
        assert field in fields, fields


@pytest.mark.parametrize(("path", "field", "value"), [
    ("metrics.1.cap", "metrics[1].cap", 1e308),
    ("guardrails.0.margin", "guardrails[0].margin", 1e308),
    ("filtering.outlier_z", "filtering.outlier_z", 1e308),
    ("filtering.burst_seconds", "filtering.burst_seconds", 10**30),
    ("filtering.max_events_per_day", "filtering.max_events_per_day", 2**63),
    ("filtering.max_accounts", "filtering.max_accounts", 10**12),
    ("analysis.target_users", "analysis.target_users", 10**400),
])
def test_numbers_that_break_sql_or_arithmetic_are_out_of_range(path: str, field: str, value: Any) -> None:
    raw = set_path(base(), path, value)
    with pytest.raises(SpecError) as info:
        experiment_from_dict(raw)
    assert [p.field for p in info.value.problems] == [field]


def test_bandit_numbers_are_finite(tmp_path: Path) -> None:
    raw = base()
    raw["kind"] = "bandit"
    raw["bandit"] = {"policy": "ucb1", "reward": "conv", "params": {"reward_range": INF},
                     "update_period_seconds": INF}
    for _, fields in problems_of(raw, tmp_path):
        assert set(fields) == {"bandit.params.reward_range", "bandit.update_period_seconds"}, fields


def test_targeting_numbers_are_finite(tmp_path: Path) -> None:
    raw = base()
    raw["targeting"] = [{"attribute": "age", "op": "gt", "value": INF},
                        {"attribute": "country", "op": "in", "value": ["US", NAN]}]
    for _, fields in problems_of(raw, tmp_path):
        assert fields == ["targeting[0].value", "targeting[1].value[1]"]


def test_accepted_numbers_are_plain_finite_floats() -> None:
    raw = set_path(base(), "metrics.1.cap", 10**6)
    raw["filtering"] = {"outlier_z": 5}
    e = experiment_from_dict(raw)
    assert e.metrics[1].cap == 1e6 and type(e.metrics[1].cap) is float
    assert e.filtering is not None and e.filtering.outlier_z == 5.0


TOML_DATETIMES = [dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, 12, 0),
                  dt.date(2024, 1, 1), dt.time(12, 30)]


@pytest.mark.parametrize("value", TOML_DATETIMES, ids=lambda v: type(v).__name__)
def test_datetime_in_payload_is_a_field_error(value: Any, tmp_path: Path) -> None:
    raw = base()
    raw["variants"][1]["payload"] = {"starts": value, "nested": {"ok": [1, "x", True]}}
    for _, fields in problems_of(raw, tmp_path):
        assert fields == ["variants[1].payload.starts"]
    with pytest.raises(SpecError, match=r"variants\[1\]\.payload\.starts: got .*expected .*JSON"):
        experiment_from_dict(raw)


@pytest.mark.parametrize("value", [INF, NAN, 2**64, dt.date(2024, 1, 1), {1: "int key"}, b"bytes", None,
                                   ("tuple",), {"deep": [[{"x": dt.time(1, 2)}]]}])
def test_payload_values_must_be_json_representable(value: Any) -> None:
    raw = base()
    raw["variants"][0]["payload"] = {"x": value}
    with pytest.raises(SpecError) as info:
        experiment_from_dict(raw)
    fields = [p.field for p in info.value.problems]
    assert len(fields) == 1 and fields[0].startswith("variants[0].payload.x"), fields


def test_json_payloads_are_kept() -> None:
    payload = {"discount_pct": 10, "free": True, "label": "10 % [off]", "tiers": [1.5, 2, "three"],
               "nested": {"a": {"b": []}}}
    raw = base()
    raw["variants"][1]["payload"] = copy.deepcopy(payload)
    assert experiment_from_dict(raw).variants[1].payload == payload


def test_deeply_nested_payload_is_refused() -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    raw = base()
    raw["variants"][0]["payload"] = {"x": deep}
    with pytest.raises(SpecError, match=r"variants\[0\]\.payload\.x"):
        experiment_from_dict(raw)


@pytest.mark.parametrize("value", TOML_DATETIMES, ids=lambda v: type(v).__name__)
def test_datetime_in_targeting_value_is_a_field_error(value: Any, tmp_path: Path) -> None:
    raw = base()
    raw["targeting"] = [{"attribute": "signup", "op": "eq", "value": value},
                        {"attribute": "signup", "op": "in", "value": ["x", value]}]
    for _, fields in problems_of(raw, tmp_path):
        assert fields == ["targeting[0].value", "targeting[1].value[1]"]


def test_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace('"Exp"', '"Expérience"').encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_experiment(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "UTF-8" in message


def test_strings_must_be_valid_unicode_without_control_characters() -> None:
    for field, value in (("name", "bad \ud800 surrogate"), ("owner", "ansi \x1b[31m"), ("hypothesis", "nul \x00")):
        raw = base()
        raw[field] = value
        with pytest.raises(SpecError) as info:
            experiment_from_dict(raw)
        assert [p.field for p in info.value.problems] == [field]
    raw = base()
    raw["variants"][0]["payload"] = {"label": "lone \udcff"}
    with pytest.raises(SpecError, match=r"variants\[0\]\.payload\.label"):
        experiment_from_dict(raw)
    # tabs and new lines are fine in a hypothesis, as is any printable Unicode
    raw = base()
    raw["hypothesis"] = "line one\n\tline two — ünïcödé 🎉"
    assert experiment_from_dict(raw).hypothesis == raw["hypothesis"]


@pytest.mark.parametrize(("path", "value"), [("metrics.0.name", 5), ("metrics.0.name", ["x"]),
                                             ("variants.0.name", 3.5), ("targeting", [{"attribute": 1, "op": "eq",
                                                                                        "value": "x"}])])
def test_wrong_types_are_field_errors(path: str, value: Any) -> None:
    raw = set_path(base(), path, value)
    with pytest.raises(SpecError):
        experiment_from_dict(raw)


def test_toml_inf_nan_literals_are_refused_in_text() -> None:
    text = BASE.replace("weight = 3", "weight = inf").replace('event = "order"\n[[metrics]]',
                                                              'event = "order"\ncap = nan\n[[metrics]]', 1)
    text += "[filtering]\noutlier_z = inf\n"
    with pytest.raises(SpecError) as info:
        parse_experiment(text, source="x.toml")
    fields = [p.field for p in info.value.problems]
    assert fields == ["variants[1].weight", "metrics[0].cap", "filtering.outlier_z"]
