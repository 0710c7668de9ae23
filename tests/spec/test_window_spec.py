"""Conversion windows in a spec (``window_hours``, ``delay_hours``): any value is either a
valid window that reads back equal after dumping, or one line per bad field naming the
field, the value and what was expected."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.errors import SpecError
from promolab.spec import experiment_from_dict, parse_experiment
from promolab.spec.dump import experiment_to_dict, experiment_to_toml
from promolab.spec.load import MAX_WINDOW_HOURS

BASE = {
    "key": "w", "name": "Windows", "owner": "tests",
    "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
    "metrics": [{"key": "conv", "kind": "binomial", "event": "order"},
                {"key": "revenue", "kind": "mean", "event": "order"},
                {"key": "aov", "kind": "ratio", "numerator": "revenue", "denominator": "conv"}],
}
ABSENT = object()
VALUES = st.one_of(
    st.just(ABSENT), st.none(), st.booleans(),
    st.integers(-2 * MAX_WINDOW_HOURS, 2 * MAX_WINDOW_HOURS), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.lists(st.integers(), max_size=2),
)


def _whole(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_WINDOW_HOURS


@settings(max_examples=500, deadline=None)
@given(VALUES, VALUES)
def test_any_window_is_valid_or_named_in_one_line(window: object, delay: object) -> None:
    raw = copy.deepcopy(BASE)
    for field, value in (("window_hours", window), ("delay_hours", delay)):
        if value is not ABSENT:
            raw["metrics"][1][field] = value
    given_window = window not in (ABSENT, None)
    ok = ((not given_window or _whole(window, 1)) and (delay in (ABSENT, None) or (given_window and _whole(delay, 0))))
    try:
        experiment = experiment_from_dict(raw)
    except SpecError as exc:
        assert not ok, exc
        for problem in exc.problems:
            assert problem.field in ("metrics[1].window_hours", "metrics[1].delay_hours")
            assert "\n" not in str(problem) and "hours" in problem.expected
            assert str(problem).startswith(f"{problem.field}: got {problem.value!r}, expected ")
        return
    assert ok
    m = experiment.metric("revenue")
    assert m.window_hours == (window if given_window else None)
    assert m.delay_hours == (delay if delay not in (ABSENT, None) else 0)
    assert experiment_from_dict(experiment_to_dict(experiment)) == experiment
    assert parse_experiment(experiment_to_toml(experiment)) == experiment


@pytest.mark.parametrize("field,value,expected", [
    ("window_hours", -24, "a whole number of hours in [1, 8760] (at most 365 days)"),
    ("window_hours", 0, "a whole number of hours in [1, 8760] (at most 365 days)"),
    ("window_hours", float("inf"), "a whole number of hours in [1, 8760] (at most 365 days)"),
    ("window_hours", float("nan"), "a whole number of hours in [1, 8760] (at most 365 days)"),
    ("window_hours", MAX_WINDOW_HOURS + 1, "a whole number of hours in [1, 8760] (at most 365 days)"),
    ("window_hours", 1.5, "a whole number of hours in [1, 8760] (at most 365 days)"),
    ("delay_hours", -1, "a whole number of hours in [0, 8760] (at most 365 days)"),
    ("delay_hours", float("inf"), "a whole number of hours in [0, 8760] (at most 365 days)"),
])
def test_bad_window_names_field_value_and_expectation(field: str, value: object, expected: str) -> None:
    raw = copy.deepcopy(BASE)
    raw["metrics"][0].update({"window_hours": 72, field: value})
    with pytest.raises(SpecError) as info:
        experiment_from_dict(raw)
    assert str(info.value) == f"metrics[0].{field}: got {value!r}, expected {expected}"


def test_windows_belong_to_base_metrics_and_not_to_rewards() -> None:
    raw = copy.deepcopy(BASE)
    raw["metrics"][2]["window_hours"] = 24
    raw["metrics"][1]["delay_hours"] = 2
    with pytest.raises(SpecError) as info:
        experiment_from_dict(raw)
    assert str(info.value).splitlines() == [
        "metrics[1].delay_hours: got 2, expected a window_hours as well (the delay shifts a conversion window)",
        "metrics[2].window_hours: got 24, expected no window on a ratio metric: its numerator and denominator "
        "metrics carry their own"]
    bandit = copy.deepcopy(BASE)
    bandit.update(kind="bandit", bandit={"policy": "thompson", "reward": "conv"})
    bandit["metrics"][0]["window_hours"] = 72
    with pytest.raises(SpecError, match=r"^bandit.reward: got 'conv', expected a metric without a conversion window"):
        experiment_from_dict(bandit)
