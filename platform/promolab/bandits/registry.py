"""Policies by name, so TOML scenarios and experiment specs can name them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from promolab.bandits.base import ExplorationFloor, Policy
from promolab.bandits.contextual import ContextualPolicy
from promolab.bandits.greedy import EpsilonGreedy
from promolab.bandits.linear import LinearThompson, LinUCB
from promolab.bandits.logistic import LogisticThompson
from promolab.bandits.thompson import Thompson, TopTwoThompson
from promolab.bandits.ucb import KLUCB, UCB1
from promolab.errors import InputError

P = TypeVar("P", bound=ExplorationFloor)

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (Thompson, TopTwoThompson, UCB1, KLUCB, EpsilonGreedy)
}
CONTEXTUAL_POLICIES: dict[str, type[ContextualPolicy]] = {
    cls.name: cls for cls in (LinUCB, LinearThompson, LogisticThompson)
}


def policy_parameters(name: str) -> tuple[str, ...]:
    """The parameter names a registered policy (context-free or contextual) accepts."""
    return tuple(f.name for f in fields({**POLICIES, **CONTEXTUAL_POLICIES}[name]))


def make_policy(name: str, params: Mapping[str, Any] | None = None, *, field: str = "policy") -> Policy:
    """Build a registered context-free policy, e.g. ``make_policy("thompson", {"floor": 0.05})``.

    Errors name the field as ``{field}.name`` or ``{field}.{parameter}``.
    """
    return _build(POLICIES, name, params, field)


def make_contextual_policy(name: str, params: Mapping[str, Any] | None = None, *,
                           field: str = "policy") -> ContextualPolicy:
    """Build a registered contextual policy, e.g. ``make_contextual_policy("linucb", {"alpha": 0.5})``;
    errors as ``make_policy``'s."""
    return _build(CONTEXTUAL_POLICIES, name, params, field)


def _build(registry: Mapping[str, type[P]], name: str, params: Mapping[str, Any] | None, field: str) -> P:
    if not isinstance(name, str) or name not in registry:
        raise InputError(f"{field}.name", name, f"one of {', '.join(registry)}")
    params = dict(params or {})
    allowed = tuple(f.name for f in fields(registry[name]))
    for key, value in params.items():
        if key not in allowed:
            raise InputError(f"{field}.{key}", value, f"a parameter of {name}: {', '.join(allowed)}")
    try:
        return registry[name](**params)
    except InputError as exc:
        raise InputError(f"{field}.{exc.field}", exc.value, exc.expected) from None
    except TypeError as exc:  # a value of the wrong type deep inside, e.g. prior = 3
        raise InputError(field, params, f"valid parameters for {name} ({exc})") from None
