"""Frozen dataclasses describing an experiment: variants, metrics, targeting, layer, plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MetricKind = Literal["binomial", "mean", "ratio"]
Direction = Literal["increase", "decrease"]
Aggregate = Literal["sum", "count"]
TargetOp = Literal["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"]
AssignmentKind = Literal["ab", "bandit"]

METRIC_KINDS: tuple[str, ...] = ("binomial", "mean", "ratio")
DIRECTIONS: tuple[str, ...] = ("increase", "decrease")
AGGREGATES: tuple[str, ...] = ("sum", "count")
TARGET_OPS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte")
ASSIGNMENT_KINDS: tuple[str, ...] = ("ab", "bandit")
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")


@dataclass(frozen=True)
class Variant:
    """A promotion offer. ``payload`` is free-form (``{"discount_pct": 10}``)."""

    key: str
    name: str
    weight: float
    payload: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Metric:
    """A per-user metric computed from events after a user's first exposure.

    binomial: 1 if the user has at least one ``event``; mean: the per-user sum of event
    values (``aggregate="sum"``) or number of events (``"count"``); ratio: Σ numerator /
    Σ denominator over users, where both name other metrics of the experiment.
    ``cap`` winsorises the per-user value at that level; ``covariate`` names a numeric
    user attribute used as the CUPED pre-period covariate.
    """

    key: str
    kind: MetricKind
    name: str = ""
    event: str | None = None
    aggregate: Aggregate = "sum"
    numerator: str | None = None
    denominator: str | None = None
    direction: Direction = "increase"
    cap: float | None = None
    covariate: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.key


@dataclass(frozen=True)
class TargetRule:
    """Users are eligible when ``attribute <op> value`` holds (all rules must hold)."""

    attribute: str
    op: TargetOp
    value: Any = field(hash=False)


@dataclass(frozen=True)
class Layer:
    """Experiments in one layer are mutually exclusive: each owns [start, end) of it."""

    key: str
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True)
class AnalysisPlan:
    """Declared before launch: significance level, multiple-testing correction, peeking plan."""

    alpha: float = 0.05
    correction: str = "holm"
    sequential: str | None = None  # None | "gst" | "msprt"
    looks: int | None = None
    spending: str = "obf"
    target_users: int | None = None  # planned users: the information fraction is exposures / target


@dataclass(frozen=True)
class Experiment:
    """A validated experiment spec; ``metrics[0]`` is the primary metric."""

    key: str
    name: str
    hypothesis: str
    owner: str
    variants: tuple[Variant, ...]
    control: str
    metrics: tuple[Metric, ...]
    guardrails: tuple[Metric, ...] = ()
    coverage: float = 1.0
    layer: Layer | None = None
    targeting: tuple[TargetRule, ...] = ()
    kind: AssignmentKind = "ab"
    salt: str = ""
    plan: AnalysisPlan = AnalysisPlan()
    bandit: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def hash_salt(self) -> str:
        return self.salt or self.key

    @property
    def variant_keys(self) -> tuple[str, ...]:
        return tuple(v.key for v in self.variants)

    @property
    def weights(self) -> tuple[float, ...]:
        total = sum(v.weight for v in self.variants)
        return tuple(v.weight / total for v in self.variants)

    @property
    def primary_metric(self) -> Metric:
        return self.metrics[0]

    def variant(self, key: str) -> Variant:
        for v in self.variants:
            if v.key == key:
                return v
        raise KeyError(key)

    def metric(self, key: str) -> Metric:
        for m in self.metrics + self.guardrails:
            if m.key == key:
                return m
        raise KeyError(key)
