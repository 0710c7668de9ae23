"""Promotion economics: incremental revenue, promotion cost and incremental margin per
1,000 users, with confidence intervals, and the break-even lift.

Per user i of a variant with cost {discount_pct d %, shipping_cost s, coupon_value c,
per_user e} and the shop's gross margin rate g (``[economics] margin_rate``, 1 if unstated):

    paid_i   = revenue metric (what the customer paid, after discount; winsorised at its cap)
    gross_i  = paid_i / (1 − d)                    list value of the goods
    cost_i   = gross_i − paid_i + s·orders_i + c·buyer_i + e   discount, shipping, coupon, send cost
    margin_i = g·gross_i − cost_i                  contribution after promotion costs

buyer_i is the buyers metric, else orders_i > 0, else paid_i > 0; a coupon is redeemed
once per buying user, shipping is paid per order. SQL computes n, Σ and Σ² of these
per-user columns per variant; each incremental quantity is a difference of two means, so
its standard error is sqrt(s²_t/n_t + s²_c/n_c) (the delta method for a linear contrast,
exact here) and the CI is normal. Everything is scaled to 1,000 users.

Break-even lift: the rise in volume (gross value, orders and buyers alike) a variant
needs for its margin per user to equal the control's: with the control's per-user
volumes G, O, B, M_c = G(g − d_c) − s_c·O − c_c·B − e_c and M_t(L) = (1 + L)(G(g − d_t)
− s_t·O − c_t·B) − e_t, L* = (M_c + e_t) / (G(g − d_t) − s_t·O − c_t·B) − 1 (none if the
bracket is ≤ 0: every extra sale loses money). Compare it with the observed gross-value lift.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.sql import literal, quote, sufficient_stats_sql
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.model import COST_KEYS
from promolab.stats import MeanStats, welch_test
from promolab.stats.frequentist import two_sided_z

PER_USERS = 1000
COLUMNS = ("__paid", "__gross", "__cost", "__margin", "__orders", "__buyer")


@dataclass(frozen=True)
class EconomicsConfig:
    """Which per-user columns carry money, and each variant's cost."""

    revenue: str
    orders: str | None = None
    buyers: str | None = None
    margin_rate: float = 1.0
    revenue_cap: float | None = None
    costs: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    windowed: bool = False  # an empty money column marks an open conversion window: the user is left out

    def __post_init__(self) -> None:
        rate = self.margin_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and 0 < rate <= 1):
            raise InputError("economics.margin_rate", rate, "a number in (0, 1]")
        for variant, cost in self.costs.items():
            for key, value in cost.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                        math.isfinite(value) and value >= 0) or (key == "discount_pct" and value >= 100):
                    raise InputError(f"variant {variant}: cost.{key}", value,
                                     "a finite amount >= 0 (discount_pct below 100)")
            if cost.get("shipping_cost") and self.orders is None:
                raise InputError(f"variant {variant}: cost.shipping_cost", cost["shipping_cost"],
                                 "an orders metric ([economics] orders = ...) to count shipped orders")


def experiment_config(experiment: Experiment) -> EconomicsConfig | None:
    """From the spec: [economics] or, when a variant has a cost, the first summed mean metric."""
    econ = experiment.economics
    if econ is None and not any(v.cost for v in experiment.variants):
        return None
    metrics = experiment.metrics + experiment.guardrails
    revenue = econ.revenue if econ and econ.revenue else next(
        (m.key for m in metrics if m.kind == "mean" and m.aggregate == "sum"), None)
    if revenue is None:
        return None
    event = experiment.metric(revenue).event
    orders = econ.orders if econ and econ.orders else next(
        (m.key for m in metrics if m.kind == "mean" and m.aggregate == "count" and m.event == event), None)
    buyers = econ.buyers if econ and econ.buyers else next(
        (m.key for m in metrics if m.kind == "binomial" and m.event == event), None)
    windowed = any(experiment.metric(k).window_hours is not None for k in (revenue, orders, buyers) if k)
    return EconomicsConfig(revenue, orders, buyers, econ.margin_rate if econ else 1.0,
                           experiment.metric(revenue).cap, {v.key: dict(v.cost) for v in experiment.variants},
                           windowed)


def _num(column: str | None) -> str:
    return "0" if column is None else f"COALESCE(CAST(u.{quote(column)} AS DOUBLE), 0)"


def economics_sql(ctes: str, variant: str, config: EconomicsConfig) -> str:
    """Per-variant n, Σ, Σ² of paid, gross, cost and margin per user over ``analysis_users``
    (with ``config.windowed``, over the users whose conversion windows have all closed)."""
    paid = _num(config.revenue)
    if config.revenue_cap is not None:
        paid = f"LEAST({paid}, {float(config.revenue_cap)!r})"
    orders = _num(config.orders)
    buyer = (_num(config.buyers) if config.buyers else
             f"CASE WHEN {orders} > 0 THEN 1 ELSE 0 END" if config.orders else f"CASE WHEN {paid} > 0 THEN 1 ELSE 0 END")
    v = f"CAST(u.{quote(variant)} AS VARCHAR)"

    def by_variant(expr) -> str:
        cases = [f"WHEN {v} = {literal(k)} THEN {expr(c)}" for k, c in config.costs.items() if c]
        return f"CASE {' '.join(cases)} ELSE {expr({})} END" if cases else expr({})

    keep = lambda c: 1.0 - c.get("discount_pct", 0.0) / 100.0  # noqa: E731
    gross = by_variant(lambda c: f"{paid} / {keep(c)!r}")
    cost = by_variant(lambda c: (f"{paid} * {(1 / keep(c) - 1)!r} + {c.get('shipping_cost', 0.0)!r} * {orders} + "
                                 f"{c.get('coupon_value', 0.0)!r} * ({buyer}) + {c.get('per_user', 0.0)!r}"))
    g = float(config.margin_rate)
    select = (f"{v} AS {quote(variant)}, {paid} AS {quote('__paid')}, {gross} AS {quote('__gross')}, "
              f"{cost} AS {quote('__cost')}, {g!r} * ({gross}) - ({cost}) AS {quote('__margin')}, "
              f"{orders} AS {quote('__orders')}, {buyer} AS {quote('__buyer')}")
    closed = "".join(f" AND u.{quote(c)} IS NOT NULL" for c in (config.revenue, config.orders, config.buyers)
                     if c and config.windowed)
    relation = (f",\necon_users AS (\n  SELECT {select}\n  FROM analysis_users u WHERE u.{quote(variant)} IS NOT NULL"
                f"{closed}\n)\n")
    metrics = [ColumnMetric(c, "mean", column=c) for c in COLUMNS]
    return ctes.rstrip() + relation + sufficient_stats_sql("econ_users", variant, metrics)


@dataclass(frozen=True)
class Interval:
    """A per-1,000-users amount with its (1 − α) CI."""

    value: float
    ci_low: float
    ci_high: float
    se: float


@dataclass(frozen=True)
class VariantEconomics:
    variant: str
    n: int
    cost: Mapping[str, float]
    revenue: Interval  # per 1,000 users in this variant
    promotion_cost: Interval
    margin: Interval
    incremental_revenue: Interval | None = None  # vs the control, per 1,000 users
    incremental_cost: Interval | None = None
    incremental_margin: Interval | None = None
    break_even_lift: float | None = None
    volume_lift: Interval | None = None  # observed relative lift of gross value (not per 1,000)


@dataclass(frozen=True)
class EconomicsResult:
    control: str
    margin_rate: float
    alpha: float
    revenue_metric: str
    variants: tuple[VariantEconomics, ...]
    notes: tuple[str, ...] = ()
    per_users: int = PER_USERS
    method: str = "difference of per-user means, normal CI (delta method for a linear contrast)"

    def variant(self, key: str) -> VariantEconomics:
        return next(v for v in self.variants if v.variant == key)

    def to_dict(self) -> dict[str, Any]:
        return {"control": self.control, "per_users": self.per_users, "margin_rate": self.margin_rate,
                "alpha": self.alpha, "revenue_metric": self.revenue_metric, "method": self.method,
                "variants": [asdict(v) for v in self.variants], "notes": list(self.notes)}


def _interval(stats: MeanStats, z: float) -> Interval:
    se = math.sqrt(stats.variance / stats.n)
    m = stats.mean
    return Interval(PER_USERS * m, PER_USERS * (m - z * se), PER_USERS * (m + z * se), PER_USERS * se)


def _difference(c: MeanStats, t: MeanStats, z: float) -> Interval:
    d = t.mean - c.mean
    se = math.sqrt(c.variance / c.n + t.variance / t.n)
    return Interval(PER_USERS * d, PER_USERS * (d - z * se), PER_USERS * (d + z * se), PER_USERS * se)


def _break_even(config: EconomicsConfig, control: str, variant: str, gross: float, orders: float,
                buyers: float) -> float | None:
    g = config.margin_rate

    def bracket(key: str) -> float:
        c = config.costs.get(key, {})
        return (gross * (g - c.get("discount_pct", 0.0) / 100.0) - c.get("shipping_cost", 0.0) * orders
                - c.get("coupon_value", 0.0) * buyers)

    m_c = bracket(control) - config.costs.get(control, {}).get("per_user", 0.0)
    m_t0 = bracket(variant)
    if m_t0 <= 0:
        return None
    return (m_c + config.costs.get(variant, {}).get("per_user", 0.0)) / m_t0 - 1.0


def economics_from_frame(frame: pd.DataFrame, config: EconomicsConfig, control: str,
                         alpha: float = 0.05) -> EconomicsResult:
    """Rows of ``economics_sql`` → incremental amounts per 1,000 users."""
    z = two_sided_z(alpha)
    stats = {str(r["variant"]): {
        c: MeanStats(int(r["n"]), float(r[f"{c}__sum"] or 0), float(r[f"{c}__sum_sq"] or 0)) for c in COLUMNS}
        for r in frame.to_dict("records")}
    if control not in stats:
        raise InputError("control", control, "a variant present in the data: " + ", ".join(sorted(stats)))
    base = stats[control]
    out = []
    for v in [control] + sorted(k for k in stats if k != control):
        s = stats[v]
        row = VariantEconomics(v, s["__paid"].n, dict(config.costs.get(v, {})), _interval(s["__paid"], z),
                               _interval(s["__cost"], z), _interval(s["__margin"], z))
        if v != control:
            vol = welch_test(base["__gross"], s["__gross"], alpha)
            row = VariantEconomics(
                **{**row.__dict__,
                   "incremental_revenue": _difference(base["__paid"], s["__paid"], z),
                   "incremental_cost": _difference(base["__cost"], s["__cost"], z),
                   "incremental_margin": _difference(base["__margin"], s["__margin"], z),
                   "break_even_lift": _break_even(config, control, v, base["__gross"].mean,
                                                  base["__orders"].mean, base["__buyer"].mean),
                   "volume_lift": Interval(vol.relative, vol.ci_low, vol.ci_high, vol.se_relative)})
        out.append(row)
    notes = []
    if config.margin_rate == 1.0:
        notes.append("margin_rate not stated: margin = revenue (list value) minus promotion costs")
    for row in out:
        im = row.incremental_margin
        if im is not None and im.ci_high < 0:
            notes.append(f"{row.variant} loses margin: {im.value:,.0f} per {PER_USERS:,} users "
                         f"(CI {im.ci_low:,.0f} to {im.ci_high:,.0f})")
    return EconomicsResult(control, config.margin_rate, alpha, config.revenue, tuple(out), tuple(notes))


def parse_costs(items: Sequence[str]) -> dict[str, dict[str, float]]:
    """``VARIANT:key=value[,key=value]`` (CLI ``--cost``) → {variant: {key: value}}."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        variant, sep, rest = item.partition(":")
        if not sep or not variant:
            raise InputError("cost", item, "VARIANT:key=value, e.g. pct10:discount_pct=10")
        for pair in rest.split(","):
            key, eq, value = pair.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = -1.0
            if not eq or key.strip() not in COST_KEYS or not (math.isfinite(number) and number >= 0):
                raise InputError("cost", item, f"key=value pairs with keys {', '.join(COST_KEYS)} and amounts >= 0")
            out.setdefault(variant, {})[key.strip()] = number
    return out
