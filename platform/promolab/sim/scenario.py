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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from numbers import Integral
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from promolab.bandits import Policy, make_policy
from promolab.errors import InputError

T = TypeVar("T")

REWARDS = ("conversion", "revenue", "margin")

# --------------------------------------------------------------------------- bounds
# Every number that drives work is bounded where it enters: each field on its own (below), and
# the totals they multiply into (``check_work``). The shipped scenarios use at most 500 runs ×
# 56,000 users × 5 arms × 5 policies, so every bound leaves room for 10× that and more.
MAX_RUNS = 100_000           # runs per policy: the regret band's standard error is already 0.3 % of its spread
MAX_HORIZON = 100_000_000    # users per run: more than a large shop's promotion traffic in a year
MAX_BATCH_SIZE = 1_000_000   # users between policy updates
MAX_DELAY = 1_000            # batches before feedback arrives; each pending batch holds runs × arms arrays
MAX_CHECKPOINTS = 1_000      # points on the regret curve; a plot shows no more
MAX_USERS_PER_DAY = 10**9    # only divides user indices into days: does not drive work
MAX_SEED = 2**63 - 1         # numpy SeedSequence entropy
MAX_ARMS = 100               # promotions compare a handful of offers; every step's arrays grow with arms
MAX_POLICIES = 20            # policies per scenario (or --policy flags): each is a full simulation
CHUNK_RUNS = 200             # runs per grid task: small enough to spread over workers, large enough to vectorise

# Totals. Measured on 2 cores: a step of a chunk of 200 runs costs ≈ 50 ns per (run, user, arm)
# posterior draw or comparison, plus ≈ 100 µs of Python (≈ 2,000 draws' worth) whatever its size.
MAX_WORK = 2_000_000_000     # draws: ≈ 100 s of one core, about a minute on 2 workers (replay: one core)
MAX_STEPS = 1_000_000        # Python steps (chunks × ⌈horizon / batch_size⌉ × policies): ≈ 100 s of one core
MAX_ARRAY_CELLS = 50_000_000  # floats in one array a step or a result allocates: 400 MB
MAX_TABLE_CELLS = 10_000_000  # per-step × per-arm tables (the reward model holds ~5 of them): 80 MB each
STEP_DRAWS = 2_000           # a step's fixed Python cost (≈ 100 µs) counted in draws, for replay's total


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

    def __post_init__(self) -> None:
        for key, (low, high) in _INTS.items():  # also for a Scenario built without parse_scenario
            object.__setattr__(self, key, _int(key, getattr(self, key), low, high))
        if not 2 <= self.arms.k <= MAX_ARMS:
            raise InputError("arms.names", self.arms.k, f"between 2 and {MAX_ARMS} arms")
        if not 1 <= len(self.policies) <= MAX_POLICIES:
            raise InputError("policies", len(self.policies), f"between 1 and {MAX_POLICIES} policies")
        check_work(self)

    def with_policies(self, names: list[str]) -> Scenario:
        """Keep the named policies; a name not configured here gets default parameters."""
        if not isinstance(names, (list, tuple)) or not 1 <= len(names) <= MAX_POLICIES:
            raise InputError("--policy", names if not isinstance(names, (list, tuple)) else len(names),
                             f"between 1 and {MAX_POLICIES} policies", source=self.source)
        by_label = {entry.label: entry for entry in self.policies}
        entries = tuple(
            by_label.get(name) or PolicyEntry(name, make_policy(name, field=f"{self.source}: --policy"))
            for name in names
        )
        return replace(self, policies=entries)


_INTS = {"horizon": (1, MAX_HORIZON), "runs": (1, MAX_RUNS), "batch_size": (1, MAX_BATCH_SIZE),
         "delay": (0, MAX_DELAY), "users_per_day": (1, MAX_USERS_PER_DAY), "checkpoints": (2, MAX_CHECKPOINTS),
         "seed": (0, MAX_SEED)}
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


def parse_with_source(parse: Callable[[Mapping[str, Any], str], T], data: Mapping[str, Any], source: str) -> T:
    """``parse(data, source)``, its InputError naming ``source`` when it names no file itself."""
    try:
        return parse(data, source)
    except InputError as exc:
        if exc.source:
            raise
        raise InputError(exc.field, exc.value, exc.expected, source=source) from None


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a mapping (the parsed TOML)."""
    return parse_with_source(_parse, data, source)


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
    if isinstance(names, list) and len(names) > MAX_ARMS:
        raise InputError("arms.names", len(names), f"at most {MAX_ARMS} arms")
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
    if len(entries) > MAX_POLICIES:
        raise InputError("policies", len(entries), f"at most {MAX_POLICIES} [[policies]] tables")
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


def check_work(scenario: Scenario, runs: int | None = None, *, segments: int | None = None,
               chunk_runs: int = CHUNK_RUNS, policies: int | None = None) -> None:
    """Refuse a simulation whose totals exceed the bounds above, before any of it runs.

    ``runs`` and ``policies`` override the scenario's (a ``--runs`` flag, one policy);
    ``segments`` is the number of user segments of a segmented scenario (each multiplies the
    per-user work); ``chunk_runs`` is how many runs one task steps together (all of them when the
    simulator does not split runs into tasks). The error names the product, its value and bound.
    """
    runs = scenario.runs if runs is None else runs
    k, steps, horizon = scenario.arms.k, scenario.steps, scenario.horizon
    n_pol = len(scenario.policies) if policies is None else policies
    chunk = min(runs, chunk_runs)
    chunks = math.ceil(runs / chunk)
    seg = [] if segments is None else [("segments", segments)]
    pol = [("policies", n_pol)]
    runs_per_task = [("runs", runs)] if chunk == runs else [(f"min(runs, {chunk_runs})", chunk)]
    tasks = [] if chunks == 1 else [(f"⌈runs / {chunk_runs}⌉", chunks)]
    steps_factor = [("⌈horizon / batch_size⌉", steps)]
    budgets = [
        ([("runs", runs), ("horizon", horizon), ("arms", k), *seg, *pol], MAX_WORK,
         "user × arm draws, ≈ a minute on 2 cores; lower runs or horizon"),
        ([*tasks, *steps_factor, *pol, *seg], MAX_STEPS,
         "simulation steps of ≈ 100 µs each, ≈ a minute on 2 cores; raise batch_size or lower horizon"),
        ([("batch_size", scenario.batch_size), *runs_per_task, ("arms", k), *seg], MAX_ARRAY_CELLS,
         "floats drawn per step, 400 MB; lower batch_size"),
        ([*steps_factor, ("arms", k), *seg], MAX_TABLE_CELLS,
         "per-step reward tables of 80 MB each; raise batch_size or lower horizon"),
        ([("runs", runs), ("checkpoints", min(scenario.checkpoints, steps)), ("arms", k)], MAX_ARRAY_CELLS,
         "floats of recorded trajectories, 400 MB; lower runs or checkpoints"),
        ([("delay", min(scenario.delay, steps)), *runs_per_task, ("arms", k), *seg], MAX_TABLE_CELLS,
         "pending feedback held in memory; lower delay"),
    ]
    check_budgets(budgets, scenario.source)


Budget = tuple[list[tuple[str, int]], int, str]  # (named factors, bound on their product, why)


def check_budgets(budgets: list[Budget], source: str) -> None:
    """Raise ``InputError`` for the first product of factors over its bound, naming the product
    (``runs × horizon × arms``), its value, the bound, why, and each factor's value."""
    for factors, bound, why in budgets:
        total = math.prod(v for _, v in factors)
        if total > bound:
            names = " × ".join(name for name, _ in factors)
            shown = " × ".join(f"{v:,}" for _, v in factors)
            raise InputError(names, total, f"at most {bound:,} ({why}; here {shown})", source=source)


def _int(field: str, value: Any, low: int, high: int) -> int:
    """An integer in [low, high]: bool, float (1e9 in TOML is a float), NaN and inf are refused."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise InputError(field, value, f"an integer in [{low}, {high}]")
    return int(value)


def _float(field: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InputError(field, value, f"a number in [{low}, {high}]")
    return float(value)
