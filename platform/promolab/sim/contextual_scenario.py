"""Contextual scenarios: offers whose effect depends on who the customer is.

Users are rows of a real customer table drawn with replacement (``data``; the bundled
Hillstrom table), each seen through the scenario's ``features`` (``promolab.spec.features``,
encoded as x = φ(user) with an intercept). Offer k converts user x with probability
pₖ(x) = σ(βₖᵀx) (``link = "logistic"``) or clip(βₖᵀx, 0, 1) (``"linear"``), βₖ given per offer
over the encoded columns (``coef``; a column not named is 0). A user shown offer k yields
reward r = valueₖ·y − costₖ, y ~ Bernoulli(pₖ(x)): ``value`` is what a conversion earns under
that offer (the margin left after its discount), ``cost`` what showing it costs. So the best
offer differs by customer::

    name = "hillstrom-contextual"
    data = "hillstrom"
    horizon = 20000
    runs = 50
    batch_size = 100
    link = "logistic"
    segment = "zip_code"          # also report allocation by this column (optional)

    [[features]]
    name = "newbie"
    kind = "numeric"

    [[arms]]
    name = "10% off"
    value = 0.75
    coef = { intercept = -2.0, newbie = 0.6 }

    [[policies]]
    name = "linucb"               # contextual (linucb, lin-ts, logistic-ts) or context-free (thompson, ...)
    alpha = 0.3

Context-free policies see the same users and ignore who they are. ``logistic-ts`` learns the
conversions and is given the offers' value and cost (unless its table sets them).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from promolab.bandits import (CONTEXTUAL_POLICIES, POLICIES, ContextualPolicy, Policy, make_contextual_policy,
                              make_policy)
from promolab.bandits.base import check_int, check_range
from promolab.bandits.logistic import LogisticThompson
from promolab.bandits.segmented import MAX_SEGMENTS
from promolab.data import hillstrom_frame
from promolab.errors import InputError
from promolab.spec.encoding import encode
from promolab.spec.features import FeatureSet
from promolab.sim.scenario import (MAX_ARMS, MAX_ARRAY_CELLS, MAX_BATCH_SIZE, MAX_CHECKPOINTS, MAX_HORIZON,
                                   MAX_POLICIES, MAX_RUNS, MAX_SEED, check_budgets, parse_with_source,
                                   read_scenario_toml)

DATASETS: dict[str, Callable[[], pd.DataFrame]] = {"hillstrom": hillstrom_frame}
LINKS = ("logistic", "linear")
MAX_COEF = 1e6     # |β| per encoded column: σ saturates long before, and βᵀx stays finite
MAX_VALUE = 1e12   # value and cost of an offer (as order values in scenarios)
# Multiply-adds: a contextual policy costs ≈ arms × dim² per user (its update's Σxxᵀ and its
# scores' xᵀΣx). Measured on one core: ≈ 2.5 ns each for LinUCB, 7 ns for logistic TS (its Newton
# steps), so 1e10 is half a minute to a minute.
MAX_CONTEXTUAL_WORK = 10_000_000_000
# Python steps: a contextual step costs ≈ 150–300 µs whatever its size, so this is about a minute.
MAX_CONTEXTUAL_STEPS = 200_000
_INTS = {"horizon": (1, MAX_HORIZON), "runs": (1, MAX_RUNS), "batch_size": (1, MAX_BATCH_SIZE),
         "checkpoints": (2, MAX_CHECKPOINTS), "seed": (0, MAX_SEED)}
_TOP = set(_INTS) | {"name", "description", "data", "link", "segment", "features", "arms", "policies"}
_ARM_KEYS = {"name", "value", "cost", "coef"}


@dataclass(frozen=True)
class ContextualEntry:
    """A policy with the label it is reported under; context-free policies ignore contexts."""

    label: str
    policy: ContextualPolicy | Policy

    @property
    def contextual(self) -> bool:
        return isinstance(self.policy, ContextualPolicy)

    def seed(self, root: int) -> np.random.SeedSequence:
        """The policy's own random stream: keyed by (root seed, label), not by its neighbours."""
        return np.random.SeedSequence(entropy=(root, zlib.crc32(self.label.encode())), spawn_key=(1,))


@dataclass(frozen=True, eq=False)
class ContextualScenario:
    """A validated contextual scenario (``parse_contextual_scenario``); its true model applied to
    the customer table is ``population``."""

    name: str
    features: FeatureSet
    arms: tuple[str, ...]
    coef: np.ndarray   # (K, d) true weights over features.columns
    value: np.ndarray  # (K,) reward of a conversion
    cost: np.ndarray   # (K,) cost per user shown
    policies: tuple[ContextualEntry, ...]
    link: str = "logistic"
    data: str = "hillstrom"
    segment: str | None = None
    horizon: int = 10_000
    runs: int = 100
    batch_size: int = 100
    checkpoints: int = 20
    seed: int = 0
    description: str = ""
    source: str = "<scenario>"

    @property
    def k(self) -> int:
        return len(self.arms)

    @property
    def steps(self) -> int:
        return -(-self.horizon // self.batch_size)

    @property
    def best_fixed_regret(self) -> float:
        """horizon × (oracle value − best single offer's value): the regret of showing everyone
        the best single offer, which no context-free policy beats in expectation."""
        pop = self.population
        return self.horizon * (pop.oracle_value - float(pop.offer_values.max()))

    @cached_property
    def population(self) -> Population:
        """The customer table under this scenario's true model (built once)."""
        return Population.build(self)

    def with_policies(self, names: list[str]) -> ContextualScenario:
        """Keep the named policies; a name not configured here gets default parameters."""
        if not isinstance(names, (list, tuple)) or not 1 <= len(names) <= MAX_POLICIES:
            raise InputError("--policy", len(names) if isinstance(names, (list, tuple)) else names,
                             f"between 1 and {MAX_POLICIES} policies", source=self.source)
        by_label = {entry.label: entry for entry in self.policies}
        try:
            entries = tuple(by_label.get(name) or _entry({"name": name}, "--policy", self) for name in names)
        except InputError as exc:
            raise InputError(exc.field, exc.value, exc.expected, source=self.source) from None
        return replace(self, policies=entries)


@dataclass(frozen=True, eq=False)
class Population:
    """The customer table under the scenario's true model, one row per customer:
    x (N, d), pₖ(x) and μₖ(x) = valueₖ·pₖ(x) − costₖ (N, K), and segment codes (N,)."""

    X: np.ndarray
    rate: np.ndarray
    mean: np.ndarray
    segment: np.ndarray | None
    segments: tuple[str, ...]

    @classmethod
    def build(cls, scenario: ContextualScenario) -> Population:
        table = load_dataset(scenario.data)
        try:
            X = encode(scenario.features, table)
        except InputError as exc:
            raise InputError(f"features ({exc.field})", exc.value, exc.expected, source=scenario.source) from None
        z = X @ scenario.coef.T
        rate = expit(z) if scenario.link == "logistic" else np.clip(z, 0.0, 1.0)
        segment, segments = None, ()
        if scenario.segment is not None:
            segments, segment = np.unique(table[scenario.segment].astype(str).to_numpy(), return_inverse=True)
        return cls(X, rate, scenario.value * rate - scenario.cost, segment, tuple(segments))

    @property
    def gaps(self) -> np.ndarray:
        """Expected regret of each offer for each customer versus the customer's best offer, (N, K)."""
        return self.mean.max(axis=1, keepdims=True) - self.mean

    @property
    def oracle_value(self) -> float:
        """Expected reward per user of the oracle: each customer's best offer."""
        return float(self.mean.max(axis=1).mean())

    @property
    def offer_values(self) -> np.ndarray:
        """Expected reward per user of showing everyone offer k, (K,)."""
        return self.mean.mean(axis=0)

    @property
    def oracle_share(self) -> np.ndarray:
        """Share of customers whose best offer each offer is, (K,)."""
        return np.bincount(np.argmax(self.mean, axis=1), minlength=self.mean.shape[1]) / len(self.mean)


@lru_cache(maxsize=len(DATASETS))
def load_dataset(name: str) -> pd.DataFrame:
    """A bundled customer table by name (read once per process)."""
    return DATASETS[name]()


def load_contextual_scenario(path: str | Path) -> ContextualScenario:
    """Read and validate a contextual scenario file; errors name the file, field and value."""
    return parse_contextual_scenario(read_scenario_toml(path), source=str(path))


def is_contextual_file(path: str | Path) -> bool:
    """A scenario file that declares context ``features`` is contextual."""
    return "features" in read_scenario_toml(path)


def parse_contextual_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> ContextualScenario:
    """Validate a contextual scenario given as a mapping (the parsed TOML)."""
    return parse_with_source(_parse, data, source)


def _parse(data: Mapping[str, Any], source: str) -> ContextualScenario:
    for key in data:
        if key not in _TOP:
            raise InputError(key, data[key], f"a contextual scenario field: {', '.join(sorted(_TOP))}")
    ints = {key: check_int(key, data[key], low, high) for key, (low, high) in _INTS.items() if key in data}
    dataset = data.get("data", "hillstrom")
    if dataset not in DATASETS:
        raise InputError("data", dataset, "one of " + ", ".join(DATASETS))
    link = data.get("link", "logistic")
    if link not in LINKS:
        raise InputError("link", link, "one of " + ", ".join(LINKS))
    features = _features(data.get("features"))
    segment = data.get("segment")
    table = load_dataset(dataset)
    if segment is not None and (not isinstance(segment, str) or segment not in table.columns):
        raise InputError("segment", segment, f"a column of the {dataset} table: " + ", ".join(table.columns))
    if segment is not None and table[segment].nunique() > MAX_SEGMENTS:
        raise InputError("segment", segment, f"a column with at most {MAX_SEGMENTS:,} distinct values "
                         f"(it has {table[segment].nunique():,})")
    names, coef, value, cost = _arms(data.get("arms"), features)
    scenario = ContextualScenario(
        name=str(data.get("name", Path(source).stem)), features=features, arms=names, coef=coef, value=value,
        cost=cost, policies=(), link=link, data=dataset, segment=segment,
        description=str(data.get("description", "")), source=source, **ints)
    entries = data.get("policies")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_POLICIES:
        raise InputError("policies", len(entries) if isinstance(entries, list) else entries,
                         f"1 to {MAX_POLICIES} [[policies]] tables with a name")
    policies = tuple(_entry(entry, f"policies[{i}]", scenario) for i, entry in enumerate(entries))
    labels = [p.label for p in policies]
    if len(set(labels)) != len(labels):
        raise InputError("policies.label", labels, "distinct labels (set label = ... to tell policies apart)")
    scenario = replace(scenario, policies=policies)
    check_contextual_work(scenario)
    scenario.population  # encodes the table: a feature it cannot encode is refused here, before any run
    return scenario


def _features(items: Any) -> FeatureSet:
    try:
        return FeatureSet.from_dicts(items)
    except InputError as exc:
        field = exc.field if exc.field.startswith("features") else f"features.{exc.field}"
        raise InputError(field, exc.value, exc.expected) from None


def _arms(tables: Any, features: FeatureSet) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(tables, list) or not 2 <= len(tables) <= MAX_ARMS:
        raise InputError("arms", len(tables) if isinstance(tables, list) else tables,
                         f"2 to {MAX_ARMS} [[arms]] tables with name, value, cost and coef")
    columns = {c: i for i, c in enumerate(features.columns)}
    names, coef = [], np.zeros((len(tables), features.dim))
    value, cost = np.ones(len(tables)), np.zeros(len(tables))
    for i, arm in enumerate(tables):
        field = f"arms[{i}]"
        if not isinstance(arm, Mapping) or not isinstance(arm.get("name"), str) or set(arm) - _ARM_KEYS:
            raise InputError(field, arm, "a table with name and any of value, cost, coef")
        names.append(arm["name"])
        value[i] = _number(f"{field}.value", arm.get("value", 1.0), 0.0, MAX_VALUE)
        cost[i] = _number(f"{field}.cost", arm.get("cost", 0.0), 0.0, MAX_VALUE)
        weights = arm.get("coef", {})
        if not isinstance(weights, Mapping):
            raise InputError(f"{field}.coef", weights, "a table of encoded column = weight")
        for column, w in weights.items():
            if column not in columns:
                raise InputError(f"{field}.coef.{column}", w, "a weight on an encoded column: "
                                 + ", ".join(features.columns))
            coef[i, columns[column]] = _number(f"{field}.coef.{column}", w, -MAX_COEF, MAX_COEF)
    if len(set(names)) != len(names):
        raise InputError("arms.name", names, "distinct offer names")
    return tuple(names), coef, value, cost


def _number(field: str, value: Any, low: float, high: float) -> float:
    check_range(field, value, low, high)
    return float(value)


def _entry(table: Any, field: str, scenario: ContextualScenario) -> ContextualEntry:
    """A ``[[policies]]`` table: a contextual or context-free policy that fits the rewards."""
    if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
        raise InputError(field, table, "a table with name = a registered policy")
    name, k = table["name"], scenario.k
    params = {key: v for key, v in table.items() if key not in ("name", "label")}
    if name in CONTEXTUAL_POLICIES:
        policy: ContextualPolicy | Policy = make_contextual_policy(name, params, field=field)
    elif name in POLICIES:
        policy = make_policy(name, params, field=field)
    else:
        raise InputError(f"{field}.name", name, "one of " + ", ".join([*CONTEXTUAL_POLICIES, *POLICIES]))
    if isinstance(policy, LogisticThompson):
        economics = {key: tuple(getattr(scenario, key)) for key in ("value", "cost") if not getattr(policy, key)}
        policy = replace(policy, **economics)
        for key in ("value", "cost"):
            if len(getattr(policy, key)) != k:
                raise InputError(f"{field}.{key}", list(getattr(policy, key)), f"one number per offer ({k})")
    rewards = np.concatenate([-scenario.cost, scenario.value - scenario.cost])
    if isinstance(policy, Policy) and policy.bernoulli_only and (rewards.min() < 0 or rewards.max() > 1):
        raise InputError(f"{field}.name", name, "a policy for rewards outside [0, 1] (value − cost per offer): "
                         "e.g. thompson with prior.model = \"normal\"")
    if policy.floor * k > 1:
        raise InputError(f"{field}.floor", policy.floor, f"at most 1/{k} with {k} offers")
    return ContextualEntry(str(table.get("label", name)), policy)


def check_contextual_work(scenario: ContextualScenario, runs: int | None = None, *,
                          policies: int | None = None) -> None:
    """Refuse a simulation whose totals exceed the bounds, before any of it runs (``runs`` and
    ``policies`` override the scenario's: a ``--runs`` flag, one policy)."""
    runs = scenario.runs if runs is None else runs
    k, d, steps = scenario.k, scenario.features.dim, scenario.steps
    pol = [("policies", len(scenario.policies) if policies is None else policies)]
    check_budgets([
        ([("runs", runs), ("horizon", scenario.horizon), ("arms", k), ("dim²", d * d), *pol], MAX_CONTEXTUAL_WORK,
         "multiply-adds, ≈ a minute on one core; lower runs or horizon"),
        ([("⌈horizon / batch_size⌉", steps), *pol], MAX_CONTEXTUAL_STEPS,
         "simulation steps, ≈ a minute on one core; raise batch_size or lower horizon"),
        ([("runs", runs), ("batch_size", scenario.batch_size), ("arms", k), ("dim", d)], MAX_ARRAY_CELLS,
         "floats a step holds, 400 MB; lower batch_size or runs"),
        ([("runs", runs), ("arms", k), ("dim²", d * d)], MAX_ARRAY_CELLS,
         "floats of the policies' state, 400 MB; lower runs"),
        ([("runs", runs), ("checkpoints", min(scenario.checkpoints, steps)), ("arms", k)], MAX_ARRAY_CELLS,
         "floats of recorded trajectories, 400 MB; lower runs or checkpoints"),
    ], scenario.source)
