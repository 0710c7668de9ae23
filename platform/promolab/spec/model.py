"""Frozen dataclasses describing an experiment: variants, metrics, targeting, layer, plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promolab.spec.features import FeatureSet
from promolab.spec.vocabulary import (  # noqa: F401  (re-exported: the spec's vocabulary)
    AGGREGATES,
    ASSIGNMENT_KINDS,
    CORRECTIONS,
    DEFAULT_SRM_THRESHOLD,
    DIRECTIONS,
    MARGIN_TYPES,
    MAX_LOOKS,
    METRIC_KINDS,
    SEQUENTIAL_METHODS,
    SPENDING_FUNCTIONS,
    TARGET_OPS,
    Aggregate,
    AssignmentKind,
    Correction,
    Direction,
    MarginType,
    MetricKind,
    SequentialMethod,
    Spending,
    TargetOp,
)

# Variant cost keys: discount_pct (share of the paid order value given away, in %),
# shipping_cost (paid by the shop per order), coupon_value (face value, one per buying
# user), per_user (cost per exposed user, e.g. sending an e-mail).
COST_KEYS: tuple[str, ...] = ("discount_pct", "shipping_cost", "coupon_value", "per_user")


@dataclass(frozen=True)
class Variant:
    """A promotion offer. ``payload`` is free-form (``{"discount_pct": 10}``)."""

    key: str
    name: str
    weight: float
    payload: dict[str, Any] = field(default_factory=dict, hash=False)
    # promotion cost (see COST_KEYS): {"discount_pct": 10}, {"shipping_cost": 6.5}, {"coupon_value": 5}
    cost: dict[str, float] = field(default_factory=dict, hash=False)


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
    # guardrails only: the non-inferiority margin, in the metric's units ("absolute", e.g.
    # 0.005 = half a point of refund rate) or as a share of the control mean ("relative")
    margin: float | None = None
    margin_type: MarginType = "absolute"
    # conversion window (binomial and mean metrics): only events in [first exposure +
    # delay_hours, first exposure + delay_hours + window_hours) count, and users whose window
    # has not closed yet are left out of the metric; a ratio uses its components' windows
    window_hours: int | None = None
    delay_hours: int = 0

    @property
    def label(self) -> str:
        return self.name or self.key

    @property
    def window_end_hours(self) -> int | None:
        """Hours after first exposure at which the conversion window closes (None: no window)."""
        return None if self.window_hours is None else self.delay_hours + self.window_hours


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
    correction: Correction = "holm"
    sequential: SequentialMethod | None = None
    looks: int | None = None
    spending: Spending = "obf"
    target_users: int | None = None  # planned users: the information fraction is exposures / target
    segments: tuple[str, ...] = ()  # attribute columns every report drills down by
    srm_threshold: float = DEFAULT_SRM_THRESHOLD  # SRM when the chi-square p-value is below this


@dataclass(frozen=True)
class BanditConfig:
    """How a bandit experiment moves traffic: policy, reward metric, update cadence.

    Weights are recomputed every ``update_period_seconds`` (or on ``promolab bandit
    update``); until every arm has ``burn_in`` users the configured split is kept; every
    arm keeps at least ``floor`` of the traffic.
    """

    policy: str
    reward: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    update_period_seconds: float = 3600.0
    floor: float = 0.0
    burn_in: int = 100


@dataclass(frozen=True)
class ContextualConfig:
    """How a contextual experiment picks an offer per user from the user's attributes.

    ``policy`` is a contextual bandit (``linucb``, ``lin-ts``, ``logistic-ts``) learning a
    per-offer model of ``reward`` over ``features``, refitted every
    ``update_period_seconds`` (or on ``promolab bandit update``) once ``burn_in`` users
    have rewards; or ``targeting``: a fixed policy from ``promolab uplift`` (per-offer
    linear scores of incremental margin in ``params["scores"]``; the control when no score
    is positive). A ``holdout`` share of users, drawn by hash, is assigned uniformly at
    random for unbiased measurement; every offer keeps at least ``floor`` of the rest.
    """

    policy: str
    reward: str
    features: FeatureSet
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    update_period_seconds: float = 3600.0
    floor: float = 0.0
    holdout: float = 0.1
    burn_in: int = 100


@dataclass(frozen=True)
class FilterRules:
    """Abuse and bot filtering (``[filtering]``): a rule is on when its threshold is set.

    max_events_per_day: more than this many events (``rate_events``, default all) on any
        calendar day; burst_orders: this many ``order_event`` events within
        ``burst_seconds``; refunds_after_coupon: at least this many ``refund_event`` after
        the user's first ``coupon_event``; shared_attributes: user attributes such as a
        device or payment fingerprint, flagging users whose value is shared by more than
        ``max_accounts`` accounts; outlier_z: robust z-score (median / MAD) of
        log(1 + events) above this. See ``promolab.analysis.filtering``.
    """

    max_events_per_day: int | None = None
    rate_events: tuple[str, ...] = ()
    burst_orders: int | None = None
    burst_seconds: int = 60
    order_event: str = "order"
    refunds_after_coupon: int | None = None
    coupon_event: str = "coupon"
    refund_event: str = "refund"
    shared_attributes: tuple[str, ...] = ()
    max_accounts: int = 3
    outlier_z: float | None = None


@dataclass(frozen=True)
class Economics:
    """Which metrics carry money (``[economics]``), for incremental revenue, cost and margin.

    revenue: a mean metric summing the amounts paid (after discount); orders: a count
    metric of orders (for shipping cost); buyers: a binomial metric (for coupons);
    margin_rate: gross margin on revenue before promotion costs (1 = not stated).
    """

    revenue: str | None = None
    orders: str | None = None
    buyers: str | None = None
    margin_rate: float = 1.0


@dataclass(frozen=True)
class Safety:
    """What the scheduled health check may do on its own (``[safety]``).

    auto_pause: pause the running experiment - status history ``by = "promolab"`` with the
    reason - when its split fails the SRM test or a guardrail is harmed with always-valid
    confidence (``promolab.analysis.health_checks``); a paused experiment serves its control
    to everyone and records no exposure. guardrails: the guardrail keys whose harm may pause
    it (empty: every guardrail).
    """

    auto_pause: bool = False
    guardrails: tuple[str, ...] = ()


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
    bandit: BanditConfig | None = None
    contextual: ContextualConfig | None = None
    filtering: FilterRules | None = None
    economics: Economics | None = None
    safety: Safety = Safety()

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
