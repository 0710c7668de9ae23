"""Data-quality checks a report states before any lift: users exposed more than once or to
more than one variant, and heavy-tailed metrics with the caps applied to them.

Multiple exposures: a user seen in two variants received both offers, so neither arm's
outcome is theirs alone. By default such users are excluded from every metric (with a
note and the counts per variant); ``cross_variant = "keep"`` analyses them in every
variant they appear in. The registry keeps the evidence in ``exposure_conflicts``; a
per-user table shows it when ``--user`` names the user column.

Tails: for each mean metric (and ratio numerator), the 99th percentile of its non-zero
per-user values and its maximum; a maximum more than ``HEAVY_TAIL_RATIO`` times that
percentile gets a note suggesting a cap. Percentile caps (``cap = p99``) use the same
non-zero percentile over all analysed users of every variant (GrowthBook's percentile
capping with zeros ignored, so a metric most users never trigger is not capped at 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.sql import quote
from promolab.spec.vocabulary import CrossVariantPolicy

HEAVY_TAIL_RATIO = 10.0
TAIL_QUANTILE = 0.99


@dataclass(frozen=True)
class MultipleExposures:
    """Users seen more than once, and users seen in more than one variant."""

    users: int  # distinct users
    repeated_users: int | None  # users on more than one row (per-user tables; None for the registry)
    cross_variant_users: int
    cross_variant_by_variant: dict[str, int]  # per variant: the cross-variant users it saw
    policy: CrossVariantPolicy
    excluded_users: int  # removed from the analysis (the cross-variant users under "exclude")


@dataclass(frozen=True)
class MetricTail:
    """One metric's tail over the analysed users: p99 of non-zero values, maximum, cap applied."""

    metric: str
    column: str
    p99: float | None  # None: no non-zero value
    maximum: float | None
    cap: float | None
    cap_rule: str | None  # "N" given, "pNN" percentile, None uncapped
    heavy_tail: bool


@dataclass(frozen=True)
class Health:
    exposures: MultipleExposures | None
    tails: tuple[MetricTail, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"multiple_exposures": None if self.exposures is None else asdict(self.exposures),
                "tails": [asdict(t) for t in self.tails], "notes": list(self.notes)}


def tail_columns(metrics: Sequence[ColumnMetric]) -> list[ColumnMetric]:
    """Metrics whose per-user values can have a tail: mean metrics and ratio numerators."""
    return [m for m in metrics if m.kind != "binomial"]


def tail_sql(ctes: str, relation: str, metrics: Sequence[ColumnMetric]) -> str | None:
    """One row: per metric its non-zero p99, its maximum and, for a ``cap_quantile``, that percentile."""
    parts = []
    for i, m in enumerate(tail_columns(metrics)):
        col = f"CAST({quote(m.value_column)} AS DOUBLE)"
        nonzero = f"CASE WHEN {col} <> 0 THEN {col} END"
        parts += [f"PERCENTILE_CONT({TAIL_QUANTILE!r}) WITHIN GROUP (ORDER BY {nonzero}) AS {quote(f'p99_{i}')}",
                  f"MAX({col}) AS {quote(f'max_{i}')}"]
        if m.cap_quantile is not None:
            parts.append(f"PERCENTILE_CONT({m.cap_quantile!r}) WITHIN GROUP (ORDER BY {nonzero}) "
                         f"AS {quote(f'cap_{i}')}")
    if not parts:
        return None
    return f"{ctes}SELECT {', '.join(parts)} FROM {relation}"


def _number(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    return None if value is None or value != value else float(value)


def resolve_tails(row: Mapping[str, Any] | None, metrics: Sequence[ColumnMetric]
                  ) -> tuple[list[ColumnMetric], tuple[MetricTail, ...], tuple[str, ...]]:
    """Metrics with percentile caps resolved to numbers, the tails, and notes."""
    row = row or {}
    index = {m.name: i for i, m in enumerate(tail_columns(metrics))}
    resolved, tails, notes = [], [], []
    for m in metrics:
        i = index.get(m.name)
        if i is None:
            resolved.append(m)
            continue
        p99, maximum = _number(row, f"p99_{i}"), _number(row, f"max_{i}")
        cap, rule = m.cap, None if m.cap is None else f"{m.cap:g}"
        if m.cap_quantile is not None:
            cap = _number(row, f"cap_{i}")
            rule = f"p{m.cap_quantile * 100:g}"
            if cap is None:
                notes.append(f"{m.title}: no non-zero value, so the {rule} cap is not applied")
        m = replace(m, cap=cap, cap_quantile=None)
        resolved.append(m)
        heavy = p99 is not None and maximum is not None and p99 > 0 and maximum > HEAVY_TAIL_RATIO * p99
        tails.append(MetricTail(m.name, m.value_column, p99, maximum, cap, rule, heavy))
        if heavy and cap is None:
            notes.append(f"{m.title}: heavy tail (maximum {maximum:,.4g} is {maximum / p99:,.0f}x the 99th "
                         f"percentile of non-zero values, {p99:,.4g}); consider a cap (e.g. cap=p99) so that a "
                         "few users do not decide the test")
        elif cap is not None and rule is not None and rule.startswith("p"):
            notes.append(f"{m.title}: per-user values capped at {cap:,.4g} ({rule} of non-zero values)")
    return resolved, tuple(tails), tuple(notes)


def exposures_note(exposures: MultipleExposures) -> str | None:
    """One line on repeated and cross-variant users, or None when there are none."""
    if not exposures.cross_variant_users and not exposures.repeated_users:
        return None
    parts = []
    if exposures.repeated_users:
        parts.append(f"{exposures.repeated_users:,} users appear on more than one row")
    if exposures.cross_variant_users:
        per = ", ".join(f"{v} {n:,}" for v, n in exposures.cross_variant_by_variant.items() if n)
        what = ("excluded from every metric" if exposures.policy == "exclude"
                else "kept in every variant they saw")
        parts.append(f"{exposures.cross_variant_users:,} of {exposures.users:,} users were exposed to more than one "
                     f"variant ({per}); {what}")
    return "multiple exposures: " + "; ".join(parts)
