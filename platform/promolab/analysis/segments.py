"""Segment drill-down: the report's tests within each value of an attribute column.

One SQL query per column computes sufficient statistics per (segment, variant): the
grouping key is ``segment || ' | ' || variant`` so the standard per-variant query serves.
Each segment is tested like the whole experiment; then the p-values of all segments ×
treatments × (non-guardrail) metrics of that column form one family and are adjusted
together with the experiment's correction (Holm or BH) — slicing multiplies the chances
of a false "winner segment". Segments where some variant has fewer than ``min_users``
users get a warning; segments missing the control or with < 2 users in a variant are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import pandas as pd

from promolab.analysis.inference import infer
from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.results import MetricResult
from promolab.analysis.sql import literal, quote, sufficient_stats_sql
from promolab.analysis.sufficient import VariantStats, stats_from_frame
from promolab.errors import InputError
from promolab.spec.vocabulary import DEFAULT_SRM_THRESHOLD, Correction
from promolab.stats import SrmResult, adjust_pvalues

SEPARATOR = " | "
MISSING = "(missing)"
MIN_USERS = 500
MAX_VALUES = 200  # segments per column: each is a full set of tests, and a family this large has no power
SEGMENT_KEY = "__segment_variant"


def registry_segment_sql(ctes: str, attribute: str, metrics: Sequence[ColumnMetric]) -> str:
    """Per (segment, variant) statistics; the segment is a user attribute of the registry."""
    value = ("COALESCE(a.value_text, CASE WHEN a.value_num = FLOOR(a.value_num) THEN "
             "CAST(CAST(a.value_num AS BIGINT) AS VARCHAR) ELSE CAST(a.value_num AS VARCHAR) END)")
    return (ctes.rstrip() + f",\nseg_values AS (\n  SELECT a.user_id, MAX({value}) AS seg FROM user_attributes a\n"
            f"  WHERE a.attribute = {literal(attribute)} GROUP BY a.user_id\n),\n"
            f"seg_users AS (\n  SELECT u.*, COALESCE(s.seg, {literal(MISSING)}) || {literal(SEPARATOR)} || "
            f"CAST(u.{quote('variant')} AS VARCHAR) AS {quote(SEGMENT_KEY)}\n"
            "  FROM analysis_users u LEFT JOIN seg_values s ON s.user_id = u.user_id\n)\n"
            + sufficient_stats_sql("seg_users", SEGMENT_KEY, list(metrics)))


def table_segment_sql(ctes: str, column: str, variant: str, metrics: Sequence[ColumnMetric]) -> str:
    """Per (segment, variant) statistics; the segment is a column of the per-user table."""
    return (ctes.rstrip() + f",\nseg_users AS (\n  SELECT u.*, COALESCE(CAST(u.{quote(column)} AS VARCHAR), "
            f"{literal(MISSING)}) || {literal(SEPARATOR)} || CAST(u.{quote(variant)} AS VARCHAR) AS "
            f"{quote(SEGMENT_KEY)}\n  FROM analysis_users u WHERE u.{quote(variant)} IS NOT NULL\n)\n"
            + sufficient_stats_sql("seg_users", SEGMENT_KEY, list(metrics)))


@dataclass(frozen=True)
class Segment:
    value: str
    n: dict[str, int]
    small: bool
    srm: SrmResult
    metrics: tuple[MetricResult, ...]  # p-values adjusted across the column's family

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n, "small": self.small, "srm_p_value": self.srm.p_value,
                "metrics": [m.to_dict() for m in self.metrics]}


@dataclass(frozen=True)
class SegmentDrilldown:
    column: str
    correction: Correction
    family_size: int
    min_users: int
    segments: tuple[Segment, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "correction": self.correction, "family_size": self.family_size,
                "min_users": self.min_users, "segments": [s.to_dict() for s in self.segments],
                "warnings": list(self.warnings)}


def _split(stats: Mapping[str, VariantStats]) -> dict[str, dict[str, VariantStats]]:
    out: dict[str, dict[str, VariantStats]] = {}
    for key, s in stats.items():
        segment, _, variant = key.rpartition(SEPARATOR)
        out.setdefault(segment, {})[variant] = s
    return out


def drilldown(
    frame: pd.DataFrame,
    column: str,
    metrics: Sequence[ColumnMetric],
    control: str,
    weights: Mapping[str, float],
    alpha: float = 0.05,
    correction: Correction = "holm",
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    min_users: int = MIN_USERS,
) -> SegmentDrilldown:
    """The statistics query's rows (``variant`` = segment | variant) → a drill-down."""
    by_segment = _split(stats_from_frame(frame, list(metrics)))
    if len(by_segment) > MAX_VALUES:
        raise InputError("plan.segments", column, f"a column with at most {MAX_VALUES} distinct values "
                                                  f"(it has {len(by_segment):,})")
    warnings: list[str] = []
    found = {}
    for value in sorted(by_segment):
        seg = by_segment[value]
        thin = [v for v, s in seg.items() if s.fewest < 2]
        if control not in seg or len(seg) < 2 or thin:
            warnings.append(f"{column} = {value}: skipped (no control or fewer than 2 users in a variant"
                            f"{' with a closed conversion window' if any(m.windowed for m in metrics) else ''})")
            continue
        found[value] = infer(seg, list(metrics), control, weights, alpha, "none", srm_threshold)
    keys = [(value, m.name, v.variant) for value, r in found.items() for m in r.metrics if not m.guardrail
            for v in m.variants if v.lift is not None]
    raw = [next(m for m in found[s].metrics if m.name == name).variant(v).lift.p_value for s, name, v in keys]
    adjusted = dict(zip(keys, adjust_pvalues(raw, correction))) if keys else {}
    segments = []
    for value, result in found.items():
        metrics_out = []
        for m in result.metrics:
            rows = []
            for v in m.variants:
                if v.lift is not None and (value, m.name, v.variant) in adjusted:
                    p = float(adjusted[(value, m.name, v.variant)])
                    v = replace(v, lift=replace(v.lift, p_value_adjusted=p, significant=p < alpha))
                rows.append(v)
            metrics_out.append(replace(m, variants=tuple(rows)))
        n = {v: s.n for v, s in by_segment[value].items()}
        small = min(n.values()) < min_users
        if small:
            warnings.append(f"{column} = {value}: small segment ({min(n.values()):,} users in "
                            f"{min(n, key=n.get)} < {min_users:,}); wide intervals, read as exploratory")
        segments.append(Segment(value, n, small, result.srm, tuple(metrics_out)))
    return SegmentDrilldown(column, correction, len(keys), min_users, tuple(segments), tuple(warnings))
