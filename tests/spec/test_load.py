"""Experiment specs: valid files load, bad files report every problem with file, field, value."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.errors import SpecError
from promolab.spec import experiment_from_dict, experiment_to_toml, load_experiment, parse_experiment

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "experiments").glob("*.toml"))

MINIMAL = """
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
"""


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_specs_load_and_round_trip(path: Path) -> None:
    e = load_experiment(path)
    assert parse_experiment(experiment_to_toml(e)) == e
    assert e.control in e.variant_keys
    assert abs(sum(e.weights) - 1) < 1e-12


def test_at_least_two_shipped_specs() -> None:
    keys = {load_experiment(p).key for p in SPECS}
    assert {"hillstrom-email", "checkout-coupon"} <= keys


def test_minimal_spec_defaults() -> None:
    e = parse_experiment(MINIMAL)
    assert e.kind == "ab" and e.coverage == 1.0 and e.layer is None and e.targeting == ()
    assert e.weights == (0.25, 0.75)
    assert e.plan.alpha == 0.05 and e.plan.correction == "holm"
    assert e.hash_salt == "exp"
    assert parse_experiment(experiment_to_toml(e)) == e


def test_every_problem_is_reported_with_file_field_and_value() -> None:
    text = MINIMAL.replace('key = "exp"', 'key = "Bad Key"').replace("weight = 3", "weight = -1") + """
[[metrics]]
key = "aov"
kind = "ratio"
numerator = "revenue"
denominator = "conv"
"""
    with pytest.raises(SpecError) as info:
        parse_experiment(text, source="experiments/x.toml")
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("experiments/x.toml: ") for line in lines)
    assert any("key: got 'Bad Key'" in line for line in lines)
    assert any("variants[1].weight: got -1" in line and "> 0" in line for line in lines)
    assert any("metric aov.numerator: got 'revenue'" in line for line in lines)


def test_malformed_toml_is_one_line() -> None:
    with pytest.raises(SpecError) as info:
        parse_experiment("key = = 1", source="bad.toml")
    assert str(info.value).startswith("bad.toml: toml: got")
    assert "expected valid TOML" in str(info.value)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="nope.toml"):
        load_experiment(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ('control = "zzz"', "control"),
        ("traffic_percent = 120", "traffic_percent"),
        ('kind = "bandit"', "bandit"),
        ('unknown_field = 1', "unknown_field"),
        ('layer = { key = "l", start = 0.6, end = 0.2 }', "layer.end"),
        ('analysis = { sequential = "gst" }', "analysis.looks"),
        ('analysis = { sequential = "gst", looks = 3 }', "analysis.target_users"),
        ('analysis = { alpha = 1.5 }', "analysis.alpha"),
    ],
)
def test_field_errors(patch: str, field: str) -> None:
    key, _, _ = patch.partition(" = ")
    lines = [line for line in MINIMAL.splitlines() if not line.startswith(key + " ")]
    text = patch + "\n" + "\n".join(lines)
    with pytest.raises(SpecError) as info:
        parse_experiment(text)
    assert any(p.field == field for p in info.value.problems), str(info.value)


def test_targeting_rules_are_validated() -> None:
    text = MINIMAL + '\n[[targeting]]\nattribute = "country"\nop = "in"\nvalue = "US"\n'
    with pytest.raises(SpecError, match=r"targeting\[0\]\.value: got 'US', expected a list"):
        parse_experiment(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True), st.integers()))
def test_key_validation_accepts_only_slug_keys(key: object) -> None:
    raw = tomllib.loads(MINIMAL)
    raw["key"] = key
    valid = isinstance(key, str) and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", key) is not None
    if valid:
        assert experiment_from_dict(raw).key == key
    else:
        with pytest.raises(SpecError) as info:
            experiment_from_dict(raw)
        assert [p.field for p in info.value.problems] == ["key"]
