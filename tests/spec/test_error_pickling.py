"""Errors cross process boundaries (the dashboard's low-priority worker, Ray, Spark) whole: a
pickled error reads the same line and keeps its fields."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from promolab.errors import InputError, SpecError, StateError
from promolab.service.state import NotServable
from promolab.store.preflight import RegistryFileError

values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))


@given(field=st.text(min_size=1, max_size=30), value=values, expected=st.text(max_size=60),
       source=st.one_of(st.none(), st.text(min_size=1, max_size=30)))
def test_input_error_round_trips(field: str, value: object, expected: str, source: str | None) -> None:
    error = InputError(field, value, expected, source=source)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is InputError and str(back) == str(error)
    assert (back.field, back.value, back.expected, back.source) == (field, value, expected, source)


def test_spec_error_keeps_its_problems() -> None:
    error = SpecError([InputError("alpha", 1.5, "a number in (0, 1)"), InputError("key", "", "a slug")])
    back = pickle.loads(pickle.dumps(error))
    assert str(back) == str(error) and [str(p) for p in back.problems] == [str(p) for p in error.problems]


def test_state_errors_round_trip() -> None:
    for error in (StateError("stopped: cannot resume"), RegistryFileError("r.duckdb: is truncated"),
                  NotServable("coupon-bandit", "no variants", "variants", [], "at least two")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
