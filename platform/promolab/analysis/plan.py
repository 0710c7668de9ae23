"""The analysis plan: everything a report needs, resolved and validated once.

A ``ReportPlan`` is built from a registry experiment's spec (``plan_for_experiment``),
from the options of an analysis of a per-user table (``plan_for_table``) or of a file of
per-variant sufficient statistics (``promolab.analysis.warehouse.plan_for_stats``). The
pipeline (``promolab.analysis.pipeline.run``) takes it with a source and returns the
report; no entry point rebuilds labels, weights, margins or the sequential plan itself.

Errors name plan fields (``plan.alpha``, ``metric revenue.cap``); the CLI alone maps
them to its flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from promolab.analysis.economics import EconomicsConfig, experiment_config
from promolab.analysis.filtering import TableFilters
from promolab.analysis.metrics import ColumnMetric, parse_metric
from promolab.analysis.segments import MIN_USERS
from promolab.analysis.sequential import SequentialPlan
from promolab.analysis.sql import experiment_metrics
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.model import FilterRules
from promolab.spec.vocabulary import (
    CORRECTIONS,
    CROSS_VARIANT_POLICIES,
    DEFAULT_SRM_THRESHOLD,
    AssignmentKind,
    Correction,
    CrossVariantPolicy,
)

MAX_METRICS = 50
MAX_SEGMENT_COLUMNS = 10
# Report sections beyond the core statistics, by the name an engine declares it can compute.
SECTIONS = ("filtering", "segments", "economics", "bandit periods", "health", "tails")


def _unit_interval(value: object, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(field_name, value, "a number in (0, 1)")
    return float(value)


@dataclass(frozen=True)
class ReportPlan:
    """A resolved analysis: metrics (kinds, directions, caps, guardrail margins), control,
    configured weights, alpha, correction, SRM threshold, sequential plan, filters,
    segments, economics, and the policy for users exposed to several variants."""

    control: str
    metrics: tuple[ColumnMetric, ...]
    alpha: float = 0.05
    correction: Correction = "holm"
    srm_threshold: float = DEFAULT_SRM_THRESHOLD
    weights: Mapping[str, float] | None = None  # configured split; None: equal over the variants seen
    variants: tuple[str, ...] = ()  # declared variants (a registry experiment): each must have users
    variant_names: Mapping[str, str] | None = None  # key → the spec's name, for the verdict's words
    sequential: SequentialPlan | None = None
    experiment: str | None = None
    kind: AssignmentKind = "ab"
    filters: FilterRules | TableFilters | None = None
    compare_unfiltered: bool = False
    segments: tuple[str, ...] = ()
    min_segment_users: int = MIN_USERS
    economics: EconomicsConfig | None = None
    cross_variant: CrossVariantPolicy = "exclude"

    def __post_init__(self) -> None:
        _unit_interval(self.alpha, "plan.alpha")
        _unit_interval(self.srm_threshold, "plan.srm_threshold")
        if self.correction not in CORRECTIONS:
            raise InputError("plan.correction", self.correction, " | ".join(CORRECTIONS))
        if self.cross_variant not in CROSS_VARIANT_POLICIES:
            raise InputError("plan.cross_variant", self.cross_variant, " | ".join(CROSS_VARIANT_POLICIES))
        if not isinstance(self.control, str) or not self.control:
            raise InputError("plan.control", self.control, "the control variant")
        if not self.metrics:
            raise InputError("plan.metrics", (), "at least one metric")
        if len(self.metrics) > MAX_METRICS:
            raise InputError("plan.metrics", len(self.metrics), f"at most {MAX_METRICS} metrics")
        names = [m.name for m in self.metrics]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise InputError(f"metric {duplicate}", duplicate, "each metric analysed once")
        for m in self.metrics:
            if m.cap is not None and not math.isfinite(m.cap):
                raise InputError(f"metric {m.name}.cap", m.cap, "a finite number")
            if m.cap_quantile is not None and not 0.5 <= m.cap_quantile < 1:
                raise InputError(f"metric {m.name}.cap", m.cap_quantile, "a percentile in [p50, p100)")
        if len(self.segments) > MAX_SEGMENT_COLUMNS:
            raise InputError("plan.segments", len(self.segments), f"at most {MAX_SEGMENT_COLUMNS} columns")
        if self.weights is not None:
            for v, w in self.weights.items():
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise InputError(f"plan.weights.{v}", w, "a finite number >= 0")
            if not 0 < sum(self.weights.values()) < math.inf:
                raise InputError("plan.weights", dict(self.weights), "finite weights with a positive sum")

    @property
    def labels(self) -> dict[str, str]:
        return {m.name: m.title for m in self.metrics}

    @property
    def filtering_requested(self) -> bool:
        if isinstance(self.filters, TableFilters):
            return self.filters.active
        return self.filters is not None

    def sections(self) -> list[str]:
        """The sections this plan asks for beyond the core report (engines must support them)."""
        out = []
        if self.filtering_requested:
            out.append("filtering")
        if self.segments:
            out.append("segments")
        if self.economics is not None:
            out.append("economics")
        if self.kind == "bandit":
            out.append("bandit periods")
        if any(m.cap_quantile is not None for m in self.metrics):
            out.append("tails")
        return out

    def without_filtering(self) -> "ReportPlan":
        """The same analysis of every user (the ``unfiltered`` comparison)."""
        return replace(self, filters=None, compare_unfiltered=False, segments=())


def plan_for_experiment(experiment: Experiment, *, cuped: bool = True, filter_users: bool = True,
                        compare_unfiltered: bool = False, segments: Sequence[str] = (),
                        srm_threshold: float | None = None, cross_variant: CrossVariantPolicy = "exclude"
                        ) -> ReportPlan:
    """The plan a registry experiment declares; the keyword options are the report's switches."""
    spec = experiment.plan
    sequential = None
    if spec.sequential is not None:
        sequential = SequentialPlan(spec.sequential, spec.looks, None, spec.spending, spec.target_users)
    return ReportPlan(
        control=experiment.control,
        metrics=tuple(experiment_metrics(experiment, cuped)),
        alpha=spec.alpha,
        correction=spec.correction,
        srm_threshold=spec.srm_threshold if srm_threshold is None else srm_threshold,
        weights=dict(zip(experiment.variant_keys, experiment.weights)),
        variants=experiment.variant_keys,
        variant_names={v.key: v.name for v in experiment.variants if v.name},
        sequential=sequential,
        experiment=experiment.key,
        kind=experiment.kind,
        filters=experiment.filtering if filter_users else None,
        compare_unfiltered=compare_unfiltered and filter_users and experiment.filtering is not None,
        segments=tuple(segments) or spec.segments,
        economics=experiment_config(experiment),
        cross_variant=cross_variant,
    )


def plan_for_table(control: str, metrics: Sequence[str | ColumnMetric], *, guardrails: Sequence[str] = (),
                   covariate: str | None = None, alpha: float = 0.05, correction: Correction = "holm",
                   weights: Mapping[str, float] | None = None, sequential: SequentialPlan | None = None,
                   filters: TableFilters | None = None, compare_unfiltered: bool = False,
                   segments: Sequence[str] = (), economics: EconomicsConfig | None = None,
                   srm_threshold: float = DEFAULT_SRM_THRESHOLD, cross_variant: CrossVariantPolicy = "exclude",
                   min_segment_users: int = MIN_USERS) -> ReportPlan:
    """The plan of an analysis of a per-user table; metric and guardrail texts use
    ``promolab.analysis.metrics.parse_metric``'s syntax."""
    if not metrics:
        raise InputError("plan.metrics", None, "at least one metric (COL:binomial | COL:mean | NUM/DEN:ratio)")
    parsed = [parse_metric(m, covariate=covariate) if isinstance(m, str) else m for m in metrics]
    parsed += [parse_metric(g, guardrail=True) for g in guardrails]
    return ReportPlan(control=control, metrics=tuple(parsed), alpha=alpha, correction=correction,
                      srm_threshold=srm_threshold, weights=None if weights is None else dict(weights),
                      sequential=sequential, filters=filters if filters is not None and filters.active else None,
                      compare_unfiltered=compare_unfiltered and filters is not None and filters.active,
                      segments=tuple(segments), economics=economics, cross_variant=cross_variant,
                      min_segment_users=min_segment_users)
