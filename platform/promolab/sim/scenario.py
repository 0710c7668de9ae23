"""Simulation scenarios: TOML files in ``simulations/``, validated into frozen dataclasses.

Arms are parallel lists under ``[arms]``; policies are ``[[policies]]`` tables naming a
registered policy and its parameters (``label`` tells two configurations apart)::

    name = "coupons"
    horizon = 10000          # users per run
    runs = 500
    batch_size = 100         # users between policy updates
    delay = 1                # batches before a batch's feedback arrives
    reward = "margin"        # conversion | revenue | margin
    margin_rate = 0.4        # gross margin on an order before discount

    [arms]
    names = ["none", "10% off", "free shipping"]
    rate = [0.030, 0.036, 0.034]
    order_value = [60.0, 58.0, 62.0]   # mean order value of a converting user
    discount = [0.0, 0.10, 0.05]       # discount cost as a share of order value
    fatigue = [0.0, 0.3, 0.1]          # share of the rate lost, linearly, by the horizon
    weekend = [1.0, 1.2, 1.0]          # rate multiplier on weekend days

    [[policies]]
    name = "thompson"
    prior = { model = "normal", beta = 100.0 }
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from promolab.bandits import Policy, make_policy
from promolab.errors import InputError

REWARDS = ("conversion", "revenue", "margin")


@dataclass(frozen=True, eq=False)
class Arms:
    """Per-arm parameters, each an array of length K."""

    names: tuple[str, ...]
    rate: np.ndarray
    order_value: np.ndarray | None
    discount: np.ndarray
    fatigue: np.ndarray
    weekend: np.ndarray

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def stationary(self) -> bool:
        return not (np.any(self.fatigue) or np.any(self.weekend != 1.0))


@dataclass(frozen=True)
class PolicyEntry:
    """A policy with the label it is reported under."""

    label: str
    policy: Policy


@dataclass(frozen=True, eq=False)
class Scenario:
    name: str
    arms: Arms
    policies: tuple[PolicyEntry, ...]
    horizon: int = 10_000
    runs: int = 200
    batch_size: int = 1
    delay: int = 0
    reward: str = "conversion"
    margin_rate: float = 0.3
    order_value_shape: float = 2.0
    users_per_day: int = 1_000
    checkpoints: int = 50
    seed: int = 0
    description: str = ""
    source: str = "<scenario>"

    @property
    def steps(self) -> int:
        """Number of policy updates per run: ⌈horizon / batch_size⌉."""
        return math.ceil(self.horizon / self.batch_size)

    def with_policies(self, names: list[str]) -> Scenario:
        """Keep the named policies; a name not configured here gets default parameters."""
        by_label = {entry.label: entry for entry in self.policies}
        entries = tuple(
            by_label.get(name) or PolicyEntry(name, make_policy(name, field=f"{self.source}: --policy"))
            for name in names
        )
        return replace(self, policies=entries)


_INTS = {"horizon": (1, 10**9), "runs": (1, 10**7), "batch_size": (1, 10**7), "delay": (0, 10**6),
         "users_per_day": (1, 10**9), "checkpoints": (2, 10_000), "seed": (0, 2**63 - 1)}
_FLOATS = {"margin_rate": (0.0, 1.0), "order_value_shape": (1e-9, 1e9)}
_ARM_FIELDS = {"rate": (0.0, 1.0), "order_value": (0.0, 1e12), "discount": (0.0, 1.0),
               "fatigue": (0.0, 1.0), "weekend": (0.0, 1e6)}
_ARM_DEFAULTS = {"discount": 0.0, "fatigue": 0.0, "weekend": 1.0}
_TOP = set(_INTS) | set(_FLOATS) | {"name", "description", "reward", "arms", "policies"}


def read_scenario_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML of a scenario file; a missing or malformed file is named."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("file", str(path), "an existing scenario TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError("toml", str(exc), "valid TOML", source=str(path)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; errors name the file, field and value."""
    return parse_scenario(read_scenario_toml(path), source=str(path))


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a mapping (the parsed TOML)."""
    try:
        return _parse(data, source)
    except InputError as exc:
        if exc.source:
            raise
        raise InputError(exc.field, exc.value, exc.expected, source=source) from None


def _parse(data: Mapping[str, Any], source: str) -> Scenario:
    for key in data:
        if key not in _TOP:
            raise InputError(key, data[key], f"a scenario field: {', '.join(sorted(_TOP))}")
    values: dict[str, Any] = {}
    for key, (low, high) in _INTS.items():
        if key in data:
            values[key] = _int(key, data[key], low, high)
    for key, (low, high) in _FLOATS.items():
        if key in data:
            values[key] = _float(key, data[key], low, high)
    reward = data.get("reward", "conversion")
    if reward not in REWARDS:
        raise InputError("reward", reward, f"one of {', '.join(REWARDS)}")
    arms = _arms(data.get("arms"))
    if reward != "conversion" and arms.order_value is None:
        raise InputError("arms.order_value", None, f"order values per arm for reward = {reward!r}")
    policies = _policies(data.get("policies"), reward, arms.k)
    return Scenario(
        name=str(data.get("name", Path(source).stem)), arms=arms, policies=policies, reward=reward,
        description=str(data.get("description", "")), source=source, **values,
    )


def _arms(table: Any) -> Arms:
    if not isinstance(table, Mapping) or "names" not in table or "rate" not in table:
        raise InputError("arms", table, "a table with names = [...] and rate = [...]")
    for key in table:
        if key != "names" and key not in _ARM_FIELDS:
            raise InputError(f"arms.{key}", table[key], f"one of names, {', '.join(_ARM_FIELDS)}")
    names = table["names"]
    if not isinstance(names, list) or len(names) < 2 or len(set(map(str, names))) != len(names):
        raise InputError("arms.names", names, "a list of at least 2 distinct arm names")
    k = len(names)
    columns: dict[str, np.ndarray | None] = {}
    for key, (low, high) in _ARM_FIELDS.items():
        raw = table.get(key, [_ARM_DEFAULTS[key]] * k if key in _ARM_DEFAULTS else None)
        if raw is None:
            columns[key] = None
            continue
        if not isinstance(raw, list) or len(raw) != k:
            raise InputError(f"arms.{key}", raw, f"a list of {k} numbers, one per arm in arms.names")
        columns[key] = np.array([_float(f"arms.{key}[{i}]", v, low, high) for i, v in enumerate(raw)])
    return Arms(names=tuple(map(str, names)), **columns)  # type: ignore[arg-type]


def _policies(entries: Any, reward: str, k: int) -> tuple[PolicyEntry, ...]:
    if not isinstance(entries, list) or not entries:
        raise InputError("policies", entries, "at least one [[policies]] table with a name")
    parsed: list[PolicyEntry] = []
    for i, entry in enumerate(entries):
        field = f"policies[{i}]"
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise InputError(field, entry, "a table with name = one of the registered policies")
        params = {k: v for k, v in entry.items() if k not in ("name", "label")}
        policy = make_policy(entry["name"], params, field=field)
        if reward != "conversion" and policy.bernoulli_only:
            raise InputError(f"{field}.name", entry["name"],
                             f"a policy for a real-valued {reward} reward (e.g. thompson with prior.model = \"normal\")")
        if policy.floor * k > 1:
            raise InputError(f"{field}.floor", policy.floor, f"at most 1/{k} with {k} arms")
        parsed.append(PolicyEntry(str(entry.get("label", entry["name"])), policy))
    labels = [p.label for p in parsed]
    if len(set(labels)) != len(labels):
        raise InputError("policies.label", labels, "distinct labels (set label = ... to tell policies apart)")
    return tuple(parsed)


def _int(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(field, value, f"an integer in [{low}, {high}]")
    return value


def _float(field: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InputError(field, value, f"a number in [{low}, {high}]")
    return float(value)
