"""Policies by name, so TOML scenarios and experiment specs can name them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from promolab.bandits.base import Policy
from promolab.bandits.greedy import EpsilonGreedy
from promolab.bandits.thompson import Thompson, TopTwoThompson
from promolab.bandits.ucb import KLUCB, UCB1
from promolab.errors import InputError

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (Thompson, TopTwoThompson, UCB1, KLUCB, EpsilonGreedy)
}


def policy_parameters(name: str) -> tuple[str, ...]:
    """The parameter names a registered policy accepts."""
    return tuple(f.name for f in fields(POLICIES[name]))


def make_policy(name: str, params: Mapping[str, Any] | None = None, *, field: str = "policy") -> Policy:
    """Build a registered policy, e.g. ``make_policy("thompson", {"floor": 0.05})``.

    Errors name the field as ``{field}.name`` or ``{field}.{parameter}``.
    """
    if not isinstance(name, str) or name not in POLICIES:
        raise InputError(f"{field}.name", name, f"one of {', '.join(POLICIES)}")
    params = dict(params or {})
    allowed = policy_parameters(name)
    for key, value in params.items():
        if key not in allowed:
            raise InputError(f"{field}.{key}", value, f"a parameter of {name}: {', '.join(allowed)}")
    try:
        return POLICIES[name](**params)
    except InputError as exc:
        raise InputError(f"{field}.{exc.field}", exc.value, exc.expected) from None
    except TypeError as exc:  # a value of the wrong type deep inside, e.g. prior = 3
        raise InputError(field, params, f"valid parameters for {name} ({exc})") from None
