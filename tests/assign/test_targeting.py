"""Targeting rules: every operator, missing values and attributes, scalar = vector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promolab.assign import eligible, matches
from promolab.errors import InputError
from promolab.spec.model import TargetRule

COUNTRY = np.array(["US", "CA", "FR", None, "US"], dtype=object)
ORDERS = np.array([0.0, 3.0, 5.0, 1.0, np.nan])


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (TargetRule("country", "eq", "US"), [1, 0, 0, 0, 1]),
        (TargetRule("country", "ne", "US"), [0, 1, 1, 0, 0]),  # missing is never eligible
        (TargetRule("country", "in", ["US", "CA"]), [1, 1, 0, 0, 1]),
        (TargetRule("country", "not_in", ("US", "CA")), [0, 0, 1, 0, 0]),
        (TargetRule("orders", "lt", 3), [1, 0, 0, 1, 0]),
        (TargetRule("orders", "lte", 3), [1, 1, 0, 1, 0]),
        (TargetRule("orders", "gt", 1), [0, 1, 1, 0, 0]),
        (TargetRule("orders", "gte", 1), [0, 1, 1, 1, 0]),
        (TargetRule("orders", "eq", 5), [0, 0, 1, 0, 0]),
        (TargetRule("orders", "ne", 5), [1, 1, 0, 1, 0]),
        (TargetRule("orders", "in", [0, 5]), [1, 0, 1, 0, 0]),
        (TargetRule("orders", "not_in", [0, 5]), [0, 1, 0, 1, 0]),
    ],
)
def test_each_operator_vectorised_and_scalar(rule, expected):
    attrs = {"country": COUNTRY, "orders": ORDERS}
    assert eligible([rule], attrs, 5).tolist() == [bool(e) for e in expected]
    users = [{"country": c, "orders": o} for c, o in zip(COUNTRY, ORDERS)]
    assert [matches([rule], u) for u in users] == [bool(e) for e in expected]


def test_all_rules_must_hold():
    rules = [TargetRule("country", "eq", "US"), TargetRule("orders", "gte", 0)]
    attrs = {"country": COUNTRY, "orders": ORDERS}
    assert eligible(rules, attrs, 5).tolist() == [True, False, False, False, False]


def test_no_rules_everyone_eligible():
    assert eligible((), None, 3).tolist() == [True] * 3
    assert matches((), None)


def test_missing_attribute_nobody_eligible_even_for_negative_ops():
    for op, value in [("ne", "US"), ("not_in", ["US"]), ("eq", "US")]:
        rule = TargetRule("country", op, value)
        assert not eligible([rule], {"orders": ORDERS}, 5).any()
        assert not eligible([rule], None, 5).any()
        assert not matches([rule], {})
        assert not matches([rule], None)


def test_series_aligned_by_position_and_nullable_dtypes():
    s = pd.Series(["US", pd.NA, "CA"], index=[10, 3, 7], dtype="string")
    rule = TargetRule("country", "ne", "CA")
    assert eligible([rule], {"country": s}, 3).tolist() == [True, False, False]
    n = pd.Series([1, pd.NA, 9], dtype="Int64")
    assert eligible([TargetRule("n", "gt", 2)], {"n": n}, 3).tolist() == [False, False, True]


def test_booleans_and_strings_compare():
    attrs = {"vip": np.array([True, False]), "tier": np.array(["gold", "bronze"])}
    assert eligible([TargetRule("vip", "eq", True)], attrs, 2).tolist() == [True, False]
    assert eligible([TargetRule("tier", "gt", "c")], attrs, 2).tolist() == [True, False]


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (TargetRule("country", "in", "US"), "targeting.country"),
        (TargetRule("country", "eq", ["US"]), "targeting.country"),
        (TargetRule("orders", "lt", "ten"), "targeting.orders"),
        (TargetRule("country", "like", "US"), "targeting.country.op"),
    ],
)
def test_bad_rules_are_refused(rule, field):
    attrs = {"country": COUNTRY, "orders": np.array([1, 2, 3, 4, 5])}
    with pytest.raises(InputError, match=field):
        eligible([rule], attrs, 5)


def test_length_mismatch_is_refused():
    with pytest.raises(InputError, match="attributes.country"):
        eligible([TargetRule("country", "eq", "US")], {"country": COUNTRY}, 4)
