"""``[safety]`` in a spec (auto_pause, the guardrails that may pause): any value is either a
valid table that reads back equal after dumping, or one line per bad field naming the field,
the value and what was expected; a guardrail the experiment does not declare is refused."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.errors import SpecError
from promolab.spec import Safety, experiment_from_dict, parse_experiment
from promolab.spec.dump import experiment_to_dict, experiment_to_toml

BASE = {
    "key": "s", "name": "Safe", "owner": "tests",
    "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
    "metrics": [{"key": "conv", "kind": "binomial", "event": "order"}],
    "guardrails": [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease"},
                   {"key": "unsubscribe", "kind": "binomial", "event": "unsubscribe", "direction": "decrease"}],
}
ABSENT = object()
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12))
VALUES = st.one_of(st.just(ABSENT), SCALARS, st.lists(st.one_of(st.sampled_from(["refund", "unsubscribe", "conv"]),
                                                                SCALARS), max_size=3))


def _with(safety: object) -> dict:
    raw = copy.deepcopy(BASE)
    raw["safety"] = safety
    return raw


def test_a_valid_table_reads_back_equal() -> None:
    e = experiment_from_dict(_with({"auto_pause": True, "guardrails": ["refund"]}))
    assert e.safety == Safety(True, ("refund",))
    assert experiment_to_dict(e)["safety"] == {"auto_pause": True, "guardrails": ["refund"]}
    assert parse_experiment(experiment_to_toml(e)) == e
    plain = experiment_from_dict(copy.deepcopy(BASE))
    assert plain.safety == Safety() and "safety" not in experiment_to_dict(plain)


@pytest.mark.parametrize(("safety", "field", "expected"), [
    ({"auto_pause": "yes"}, "safety.auto_pause", "true or false"),
    ({"auto_pause": True, "guardrails": ["conv"]}, "safety.guardrails", "refund, unsubscribe"),
    ({"auto_pause": True, "guardrails": ["typo"]}, "safety.guardrails", "guardrail keys of this experiment"),
    ({"auto_pause": True, "guardrails": "refund"}, "safety.guardrails", "a list of guardrail keys"),
    ({"auto_pause": True, "rules": []}, "safety.rules", ""),
    (True, "safety", "a [safety] table"),
])
def test_bad_safety_names_the_field(safety: object, field: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        experiment_from_dict(_with(safety))
    (problem,) = info.value.problems
    assert problem.field == field and expected in problem.expected
    assert "\n" not in str(problem)


@settings(max_examples=300, deadline=None)
@given(VALUES, VALUES)
def test_any_safety_table_is_valid_or_named_in_one_line(auto_pause: object, guardrails: object) -> None:
    table = {k: v for k, v in (("auto_pause", auto_pause), ("guardrails", guardrails)) if v is not ABSENT}
    try:
        e = experiment_from_dict(_with(table))
    except SpecError as exc:
        assert exc.problems and all(p.field.startswith("safety.") for p in exc.problems)
        assert all("\n" not in str(p) for p in exc.problems)
        return
    assert isinstance(auto_pause, bool) or auto_pause is ABSENT
    assert set(e.safety.guardrails) <= {"refund", "unsubscribe"}
    assert parse_experiment(experiment_to_toml(e)) == e
