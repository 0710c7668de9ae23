"""The one analysis pipeline: plan + source → SQL where the data lives → per-variant
sufficient statistics → inference → a typed ``Report``.

Every report any surface shows — ``promolab report``, ``analyze-table``, ``analyze-stats``,
bandit reports, the sequential path's looks, the service's report route and every
dashboard page — is ``run(plan, source)`` (or the two conveniences at the bottom, which
build the plan and call it). A source is a registry experiment (``RegistrySource``), a
per-user table (``TableSource``) or per-variant statistics already computed elsewhere
(``StatsSource``). A plan asking for a section the source's engine cannot compute is
refused, naming the engine and the section.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from promolab.analysis.contextual import PolicyReadout, contextual_readout, policy_verdict
from promolab.analysis.adaptive import (
    ESTIMATOR_NOTE,
    RATIO_NOTE,
    StratifiedEstimator,
    expected_shares,
    period_stats,
    pooled,
)
from promolab.analysis.economics import EconomicsConfig, EconomicsResult, economics_from_frame, economics_sql
from promolab.analysis.engines import Engine, EngineLike, SqlSession, resolve_engine
from promolab.analysis.engines.duckdb_engine import DuckDBEngine
from promolab.analysis.filtering import (
    FilteringSummary,
    TableFilters,
    analysis_ctes,
    filter_experiment,
    summarise,
    table_counts_sql,
    table_ctes,
)
from promolab.analysis.health import Health, MultipleExposures, exposures_note, resolve_tails, tail_sql
from promolab.analysis.inference import Estimator, Inference, infer
from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.plan import ReportPlan, plan_for_experiment, plan_for_table
from promolab.analysis.report import Report
from promolab.analysis.segments import SegmentDrilldown, drilldown, registry_segment_sql, table_segment_sql
from promolab.analysis.sequential import SequentialPlan
from promolab.analysis.sql import AS_OF, literal, period_stats_sql, quote, sufficient_stats_sql
from promolab.analysis.sufficient import VariantStats, stats_from_frame
from promolab.analysis.table import check_table
from promolab.analysis.windows import (
    EVENT_USERS,
    EventColumns,
    check_times,
    event_columns,
    event_users_ctes,
    missing_exposure_sql,
    ready_metrics,
    window_notes,
)
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.vocabulary import DEFAULT_SRM_THRESHOLD, Correction, CrossVariantPolicy
from promolab.store import Registry


@dataclass(frozen=True)
class RegistrySource:
    """A registry experiment's exposures and events (or a Parquet copy of them in ``data``)."""

    registry: Registry
    engine: Engine = field(default_factory=DuckDBEngine)
    data: str | Path | None = None


@dataclass(frozen=True)
class TableSource:
    """A per-user table (CSV or Parquet): one row per user, ``variant`` column, metric columns;
    ``user`` names the user-id column for the multiple-exposure check. With ``events`` the
    table is event-level, summed per user (``promolab.analysis.windows``)."""

    path: str | Path
    variant: str
    user: str | None = None
    engine: Engine = field(default_factory=DuckDBEngine)
    events: EventColumns | None = None


@dataclass(frozen=True)
class StatsSource:
    """Per-variant sufficient statistics computed elsewhere (``promolab.analysis.stats_file``);
    ``final``: the experiment is stopped (a sequential plan is at its last look)."""

    frame: pd.DataFrame
    final: bool = False


Source = RegistrySource | TableSource | StatsSource


@dataclass(frozen=True)
class _Sections:
    """What the source computed besides the core statistics."""

    filtering: FilteringSummary | None = None
    segments: tuple[SegmentDrilldown, ...] = ()
    economics: EconomicsResult | None = None
    health: Health = Health(None, (), ())
    notes: tuple[str, ...] = ()
    contextual: PolicyReadout | None = None


def run(plan: ReportPlan, source: Source) -> Report:
    """The report of ``plan`` on ``source``."""
    if isinstance(source, StatsSource):
        if plan.sections():
            raise InputError("plan", ", ".join(plan.sections()),
                             "only the core report from per-variant statistics (no per-user rows)")
        stats = stats_from_frame(source.frame, plan.metrics)
        return _assemble(plan, stats, list(plan.metrics), _Sections(), final=source.final)
    unsupported = [s for s in plan.sections() if s not in source.engine.sections]
    if unsupported:
        raise InputError("engine", source.engine.name,
                         f"an engine that computes {', '.join(unsupported)} (duckdb does); "
                         f"{source.engine.name} computes " + ", ".join(sorted(source.engine.sections)))
    if isinstance(source, TableSource):
        report = _run_table(plan, source)
    else:
        report = _run_registry(plan, source)
    if plan.compare_unfiltered and report.filtering is not None:
        report = replace(report, unfiltered=run(plan.without_filtering(), source))
    return report


# -- assembly ----------------------------------------------------------------------------------


def _said(result: Inference, sections: _Sections) -> tuple[str, ...]:
    """Notes that say what was done: CUPED rows, and why economics differs from them."""
    notes = []
    for m in result.metrics:
        adjusted = [v for v in m.variants if v.lift is not None and v.lift.cuped is not None]
        if adjusted:
            c = adjusted[0].lift.cuped
            notes.append(f"{m.title}: CUPED-adjusted lifts (covariate {c.covariate}, theta = {c.theta:.4g}, "
                         f"variance reduced by {c.variance_reduction:.1%}); means shown are unadjusted")
    if sections.economics is not None and notes:
        notes.append("economics uses unadjusted per-user means (no CUPED), so its volume lift can differ from "
                     "the CUPED-adjusted rows above")
    return tuple(notes)


def _assemble(plan: ReportPlan, stats: Mapping[str, VariantStats], metrics: list[ColumnMetric], sections: _Sections,
              final: bool, weights: Mapping[str, float] | None = None, estimator: Estimator | None = None,
              srm_counts: Mapping[str, int] | None = None) -> Report:
    sequential, seq_notes = None, ()
    if plan.sequential is not None:
        sequential, note = plan.sequential.at(sum(s.n for s in stats.values()), final)
        seq_notes = (note,)
    result = infer(stats, metrics, plan.control, weights or plan.weights or {v: 1.0 for v in stats}, plan.alpha,
                   plan.correction, plan.srm_threshold, sequential, estimator, srm_counts, plan.variant_names)
    verdict = result.verdict
    if sections.contextual is not None:
        reward = next(m for m in result.metrics if m.name == sections.contextual.metric)
        verdict = policy_verdict(result.srm, sections.contextual, reward.direction, reward.title)
    alert = (sections.filtering.alert_text(),) if sections.filtering is not None and sections.filtering.alert else ()
    skipped = tuple(w for d in sections.segments for w in d.warnings if "skipped" in w)
    notes = (seq_notes + sections.health.notes + sections.notes + alert + skipped
             + _said(result, sections))
    return Report(plan.control, plan.alpha, plan.correction, result.srm, result.metrics, verdict,
                  plan.experiment, notes, sections.health, result.guardrails, sections.filtering, sections.segments,
                  sections.economics, sequential, contextual=sections.contextual)


def _tails(plan: ReportPlan, session: SqlSession, engine: Engine, ctes: str
           ) -> tuple[list[ColumnMetric], tuple, tuple[str, ...]]:
    if "tails" not in engine.sections:
        return list(plan.metrics), (), ()
    sql = tail_sql(ctes, "analysis_users", plan.metrics)
    row = session.query(sql).to_dict("records")[0] if sql else None
    return resolve_tails(row, plan.metrics)


# -- registry experiments ------------------------------------------------------------------------


def _registry_exposures(session: SqlSession, key: str, policy: CrossVariantPolicy
                        ) -> tuple[MultipleExposures | None, dict[str, int]]:
    """Cross-variant users recorded in ``exposure_conflicts`` and exposed users per variant."""
    k = literal(key)
    counts = session.query(f"SELECT CAST(variant_key AS VARCHAR) AS variant, COUNT(*) AS n FROM exposures "
                           f"WHERE experiment_key = {k} GROUP BY 1 ORDER BY 1")
    exposed = {str(v): int(n) for v, n in zip(counts["variant"], counts["n"])}
    if not session.has("exposure_conflicts"):
        return None, exposed
    seen = session.query(
        f"WITH cu AS (SELECT DISTINCT user_id FROM exposure_conflicts WHERE experiment_key = {k}),\n"
        f"seen AS (SELECT x.user_id, x.variant_key FROM exposures x JOIN cu ON cu.user_id = x.user_id "
        f"WHERE x.experiment_key = {k}\n  UNION SELECT user_id, variant_key FROM exposure_conflicts "
        f"WHERE experiment_key = {k})\n"
        "SELECT CAST(variant_key AS VARCHAR) AS variant, COUNT(DISTINCT user_id) AS n, "
        "(SELECT COUNT(*) FROM cu) AS total FROM seen GROUP BY 1 ORDER BY 1")
    cross = int(seen["total"].iloc[0]) if len(seen) else 0
    by_variant = {v: 0 for v in exposed} | {str(v): int(n) for v, n in zip(seen["variant"], seen["n"])}
    excluded = cross if policy == "exclude" else 0
    return MultipleExposures(sum(exposed.values()), None, cross, by_variant, policy, excluded), exposed


def with_every_variant(stats: dict[str, VariantStats], variants: Sequence[str], key: str,
                       exposed: Mapping[str, int]) -> dict[str, VariantStats]:
    """Check that every declared variant has analysed users. One exposed to nobody is refused
    by name (assignment is broken, which an SRM check on the others would miss); one whose
    exposed users were all removed says what removed them."""
    if not stats and not sum(exposed.values()):
        raise InputError("experiment", key, "an experiment with recorded exposures (none yet)")
    missing = [v for v in variants if v not in stats]
    if missing:
        v = missing[0]
        if exposed.get(v, 0):
            raise InputError(f"variant {v!r}", f"{exposed[v]:,} exposed, 0 analysed",
                             "users left after abuse filtering and the exclusion of users exposed to several "
                             "variants (see `promolab report --no-filter`, `--keep-cross-variant`)")
        raise InputError(f"variant {v!r}", "n=0", "users exposed to every variant "
                         "(none has been assigned: check the weights, targeting and traffic)")
    return stats


CONTEXTUAL_NOTE = ("variants of a contextual experiment are chosen from each user's attributes: the per-variant "
                   "lifts compare different customers; policy vs holdout and the IPS means are the unbiased read-outs; "
                   "the split (SRM) is checked on the holdout")


def _run_registry(plan: ReportPlan, source: RegistrySource) -> Report:
    registry = source.registry
    experiment: Experiment = registry.get_experiment(plan.experiment)
    if plan.kind == "bandit" and source.data is not None:
        raise InputError("data", str(source.data), "no --data for a bandit experiment (its weight periods live "
                                                   "in the registry)")
    with source.engine.open_experiment(registry, source.data) as session:
        exposures, exposed = _registry_exposures(session, experiment.key, plan.cross_variant)
        notes: tuple[str, ...] = ()
        if exposures is None:
            notes += ("multiple exposures not checked: the data has no exposure_conflicts table",)
        exclude = exposures is not None and exposures.excluded_users > 0
        filtering = None
        if plan.filters is not None:
            ctes, filtering = filter_experiment(experiment, plan.filters, session.query, exclude_conflicts=exclude)
        else:
            ctes, _ = analysis_ctes(experiment, None, exclude_conflicts=exclude)
        ctes = session.pin(ctes)
        metrics, tails, tail_notes = _tails(plan, session, source.engine, ctes)
        health = Health(exposures, tails, tuple(n for n in [exposures and exposures_note(exposures)] if n)
                        + tail_notes)
        estimator = weights = None
        if plan.kind == "bandit":
            periods = period_stats(session.query(period_stats_sql(ctes, experiment, metrics)), metrics)
            stats = pooled(periods, experiment.variant_keys)
            estimator, weights = StratifiedEstimator(periods), expected_shares(registry, experiment, periods)
            notes += (ESTIMATOR_NOTE + f" ({len(periods.periods)} weight periods)",)
            notes += (RATIO_NOTE,) if any(m.kind == "ratio" for m in metrics) else ()
        else:
            stats = stats_from_frame(session.query(ctes + sufficient_stats_sql("analysis_users", "variant", metrics)),
                                     metrics)
        stats = with_every_variant(stats, plan.variants, experiment.key, exposed)
        metrics, waiting = ready_metrics(metrics, stats)
        if waiting or any(m.windowed for m in metrics):
            as_of = session.query(ctes + f"SELECT MAX({quote(AS_OF)}) AS t FROM clock")["t"].iloc[0]
            notes += waiting + window_notes(metrics, stats, as_of)
        segments = tuple(
            drilldown(session.query(registry_segment_sql(ctes, column, metrics)), column, metrics, plan.control,
                      plan.weights or {}, plan.alpha, plan.correction, plan.srm_threshold, plan.min_segment_users)
            for column in plan.segments)
        economics = None
        if plan.economics is not None:
            economics = economics_from_frame(session.query(economics_sql(ctes, "variant", plan.economics)),
                                             plan.economics, plan.control, plan.alpha)
    srm_counts = filtering.exposed if filtering is not None else (exposed if exclude else None)
    if estimator is not None:
        srm_counts = None  # the expected shares come from the analysed users' periods
    contextual = None
    if experiment.kind == "contextual":
        contextual = contextual_readout(registry, experiment, plan.alpha)
        notes += (CONTEXTUAL_NOTE,)
        srm_counts = contextual.holdout_counts
    sections = _Sections(filtering, segments, economics, health, notes, contextual)
    return _assemble(plan, stats, metrics, sections, registry.status(experiment.key) == "stopped", weights,
                     estimator, srm_counts)


# -- per-user tables -----------------------------------------------------------------------------


def _table_exposures(session: SqlSession, variant: str, user: str, policy: CrossVariantPolicy, relation: str,
                     prefix: Sequence[str] = ()) -> tuple[MultipleExposures, str]:
    """Repeated and cross-variant users of a per-user ``relation`` (defined by the CTEs
    ``prefix`` when it is not the session's table), and the CTE of the rows analysed."""
    rel, u, v = quote(relation), quote(user), quote(variant)
    base = ("WITH " + "".join(f"{cte},\n" for cte in prefix)
            + f"hx_rows AS (SELECT CAST({u} AS VARCHAR) AS uid, CAST({v} AS VARCHAR) AS variant, COUNT(*) AS r "
            f"FROM {rel} WHERE {v} IS NOT NULL AND {u} IS NOT NULL GROUP BY 1, 2),\n"
            "hx_users AS (SELECT uid, COUNT(*) AS variants, SUM(r) AS r FROM hx_rows GROUP BY uid)\n")
    totals = session.query(base + "SELECT COUNT(*) AS users, SUM(CASE WHEN variants > 1 THEN 1 ELSE 0 END) AS x, "
                                  "SUM(CASE WHEN r > 1 THEN 1 ELSE 0 END) AS rep FROM hx_users").iloc[0]
    per = session.query(base + "SELECT h.variant, SUM(CASE WHEN u.variants > 1 THEN 1 ELSE 0 END) AS n FROM hx_rows h "
                               "JOIN hx_users u ON u.uid = h.uid GROUP BY 1 ORDER BY 1")
    cross = int(totals["x"] or 0)
    exposures = MultipleExposures(int(totals["users"] or 0), int(totals["rep"] or 0), cross,
                                  {str(a): int(b) for a, b in zip(per["variant"], per["n"])}, policy,
                                  cross if policy == "exclude" else 0)
    where = ""
    if exposures.excluded_users:
        where = (f" WHERE CAST({u} AS VARCHAR) NOT IN (SELECT CAST({u} AS VARCHAR) FROM {rel} WHERE {v} IS NOT NULL "
                 f"GROUP BY 1 HAVING COUNT(DISTINCT CAST({v} AS VARCHAR)) > 1)")
    return exposures, f"input_users AS (SELECT * FROM {rel}{where})"


def _run_table(plan: ReportPlan, source: TableSource) -> Report:
    economics_columns = []
    if plan.economics is not None:
        economics_columns = [c for c in (plan.economics.revenue, plan.economics.orders, plan.economics.buyers) if c]
    filters = plan.filters if isinstance(plan.filters, TableFilters) else None
    events = source.events
    if events is not None:
        if plan.economics is not None:
            raise InputError("economics column", plan.economics.revenue,
                             "a per-user table (economics is not computed from event-level input)")
        plan = replace(plan, metrics=events.metrics(plan.metrics))
    with source.engine.open_table(source.path) as session:
        check_table(session, str(source.path), source.variant, plan.control, plan.metrics, {
            "table.user": [source.user] if source.user else [],
            "filter column": list(filters.columns()) if filters else [],
            "plan.segments": list(plan.segments),
            "economics column": economics_columns})
        relation, prefix = session.relation, []
        if events is not None:
            check_times(session.types, events, str(source.path))
            missing = session.query(missing_exposure_sql(relation, source.user, source.variant, events))
            if len(missing):
                raise InputError(f"column {events.exposure_ts}", None, "an exposure time on a row of every user "
                                 f"(user {missing['u'].iloc[0]} has none)")
            carried = [m.covariate for m in plan.metrics if m.covariate] + list(plan.segments) + list(
                filters.columns() if filters else ())
            prefix = event_users_ctes(relation, source.user, source.variant, events, plan.metrics, carried)
            relation = EVENT_USERS
        exposures, base = None, f"input_users AS (SELECT * FROM {quote(relation)})"
        if source.user is not None:
            exposures, base = _table_exposures(session, source.variant, source.user, plan.cross_variant, relation,
                                               prefix)
        ctes, rules = table_ctes("input_users", filters, [*prefix, base])
        ctes = session.pin(ctes)
        metrics, tails, tail_notes = _tails(plan, session, source.engine, ctes)
        health = Health(exposures, tails, tuple(n for n in [exposures and exposures_note(exposures)] if n)
                        + tail_notes)
        stats = stats_from_frame(session.query(ctes + sufficient_stats_sql("analysis_users", source.variant,
                                                                           metrics)), metrics)
        metrics, notes = ready_metrics(metrics, stats)
        if any(m.windowed for m in metrics):
            as_of = (session.query(ctes + f"SELECT MAX({quote(AS_OF)}) AS t FROM ev_clock")["t"].iloc[0]
                     if events is not None and events.window_hours is not None else None)
            notes += window_notes(metrics, stats, as_of)
        filtering = summarise(session.query(table_counts_sql(ctes, source.variant, rules)), rules) if rules else None
        if filtering is not None:
            with_every_variant(stats, list(filtering.exposed), str(source.path), filtering.exposed)
        weights = plan.weights or {v: 1.0 for v in stats}
        segments = tuple(
            drilldown(session.query(table_segment_sql(ctes, column, source.variant, metrics)), column, metrics,
                      plan.control, weights, plan.alpha, plan.correction, plan.srm_threshold, plan.min_segment_users)
            for column in plan.segments)
        economics = None
        if plan.economics is not None:
            economics = economics_from_frame(session.query(economics_sql(ctes, source.variant, plan.economics)),
                                             plan.economics, plan.control, plan.alpha)
    sections = _Sections(filtering, segments, economics, health, notes)
    return _assemble(plan, stats, metrics, sections, False, weights,
                     srm_counts=None if filtering is None else filtering.exposed)


# -- conveniences ----------------------------------------------------------------------------------


def analyze_experiment(registry: Registry, key: str, *, cuped: bool = True, engine: EngineLike = "duckdb",
                       data: str | Path | None = None, filter_users: bool = True, compare_unfiltered: bool = False,
                       segments: Sequence[str] = (), srm_threshold: float | None = None,
                       cross_variant: CrossVariantPolicy = "exclude") -> Report:
    """``run(plan_for_experiment(...), RegistrySource(...))``: the report of a registry experiment."""
    plan = plan_for_experiment(registry.get_experiment(key), cuped=cuped, filter_users=filter_users,
                               compare_unfiltered=compare_unfiltered, segments=segments,
                               srm_threshold=srm_threshold, cross_variant=cross_variant)
    return run(plan, RegistrySource(registry, resolve_engine(engine), data))


def analyze_table(path: str | Path, variant: str, control: str, metrics: Sequence[str | ColumnMetric], *,
                  user: str | None = None, engine: EngineLike = "duckdb", covariate: str | None = None,
                  alpha: float = 0.05, correction: Correction = "holm", weights: Mapping[str, float] | None = None,
                  sequential: SequentialPlan | None = None, guardrails: Sequence[str] = (),
                  filters: TableFilters | None = None, segments: Sequence[str] = (),
                  economics: EconomicsConfig | None = None, compare_unfiltered: bool = False,
                  srm_threshold: float = DEFAULT_SRM_THRESHOLD, cross_variant: CrossVariantPolicy = "exclude",
                  exposure_ts: str | None = None, event_ts: str | None = None, window_hours: int | None = None,
                  delay_hours: int = 0) -> Report:
    """``run(plan_for_table(...), TableSource(...))``: the report of a per-user table, or of an
    event-level one (``exposure_ts`` and ``event_ts`` columns, optionally a conversion window)."""
    plan = plan_for_table(control, metrics, guardrails=guardrails, covariate=covariate, alpha=alpha,
                          correction=correction, weights=weights, sequential=sequential, filters=filters,
                          compare_unfiltered=compare_unfiltered, segments=segments, economics=economics,
                          srm_threshold=srm_threshold, cross_variant=cross_variant)
    events = event_columns(exposure_ts, event_ts, user, window_hours, delay_hours)
    return run(plan, TableSource(path, variant, user, resolve_engine(engine), events))
