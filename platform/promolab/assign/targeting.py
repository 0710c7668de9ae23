"""Targeting: which users an experiment may see, from their attributes.

A user is eligible when every rule holds. A rule holds only where the attribute is
present and not null (None / NaN / NA); a user missing the attribute is never eligible,
whatever the operator, including ``ne`` and ``not_in`` (an unknown country is not "not
US"). Rules are evaluated over columns (attribute name -> array or Series, aligned by
position with the user ids); one user's dict is evaluated as a batch of one, so the two
can never disagree.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from promolab.errors import InputError
from promolab.spec.model import TARGET_OPS, TargetRule

COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _column(attributes: Mapping[str, Any], name: str, n: int) -> pd.Series:
    col = attributes[name]
    s = col.reset_index(drop=True) if isinstance(col, pd.Series) else pd.Series(col)
    if len(s) != n:
        raise InputError(f"attributes.{name}", f"{len(s)} values", f"{n} values, one per user")
    return s


def _rule_mask(rule: TargetRule, s: pd.Series) -> np.ndarray:
    field = f"targeting.{rule.attribute}"
    if rule.op in ("in", "not_in"):
        if isinstance(rule.value, (str, bytes)) or not isinstance(rule.value, Collection):
            raise InputError(field, rule.value, f"a list of values for '{rule.op}'")
        held = s.isin(list(rule.value))
        if rule.op == "not_in":
            held = ~held
    elif rule.op in COMPARE:
        if isinstance(rule.value, (list, tuple, set, frozenset, dict)):
            raise InputError(field, rule.value, f"a single value for '{rule.op}'")
        try:
            held = COMPARE[rule.op](s, rule.value)
        except TypeError:
            raise InputError(
                field, rule.value, f"a value comparable with attribute values of type {s.dtype}"
            ) from None
    else:
        raise InputError(f"{field}.op", rule.op, f"one of {', '.join(TARGET_OPS)}")
    return np.asarray(held.to_numpy(dtype=bool, na_value=False)) & s.notna().to_numpy()


def eligible(
    rules: Sequence[TargetRule], attributes: Mapping[str, Any] | None, n: int
) -> np.ndarray:
    """Boolean mask of the ``n`` users satisfying every rule."""
    mask = np.ones(n, dtype=bool)
    for rule in rules:
        if attributes is None or rule.attribute not in attributes:
            return np.zeros(n, dtype=bool)
        mask &= _rule_mask(rule, _column(attributes, rule.attribute, n))
    return mask


def matches(rules: Sequence[TargetRule], attributes: Mapping[str, Any] | None) -> bool:
    """Whether one user (attribute name -> value) satisfies every rule."""
    batch = None if attributes is None else {k: [v] for k, v in attributes.items()}
    return bool(eligible(rules, batch, 1)[0])
