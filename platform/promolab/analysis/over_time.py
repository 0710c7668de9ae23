"""Effects over time: per-period and cumulative means and lifts of a registry experiment.

Users are grouped by the period (UTC day or hour) of their first exposure. One SQL pass over
the report's own per-user relation (``filtering.analysis_ctes``: metrics, caps, CUPED
covariates, abuse filtering, the exclusion of users exposed to several variants) returns
sufficient statistics per (period, variant) (``sql.sufficient_stats_sql`` with a period
stratum). They add, so the statistics of the users first exposed up to period k are running
sums (``numpy.cumsum``), and every cumulative point is tested with the report's own test
(``inference.metric_test``: Wald z, Welch t, delta method, CUPED). The last point holds every
analysed user: it is the report's fixed-horizon lift, CI and p-value.

A point covers the users first exposed up to the end of its period with all their events
so far (a cohort view, as GrowthBook's and Eppo's cumulative charts): not what a report run
at that time would have shown (``promolab sequential`` replays that). Recent cohorts have had
less time to convert, so their per-period means are lower in every variant — unless the
metric has a conversion window: then, as in the report, users whose window is still open
are left out of it (its per-metric n).

With a sequential plan, each point carries the report's read-out had it been run with that
point's users (``SequentialPlan.at``: information fraction = users / planned users):
``boundary`` is the Lan-DeMets efficacy boundary on |z| at that fraction (``gst``);
``boundary_lift`` is the absolute lift the point must exceed to cross — boundary × se for
``gst``, the always-valid half-width for ``msprt`` (Johari et al. 2017, the report's mixing
variance); ``always_valid_p`` is the mSPRT p-value. ``beyond_boundary`` is the crossing at
the nominal α, before the multiple-testing correction the report applies to its decision.

Trend (novelty / primacy): per treatment × metric, the per-period absolute lifts (each
period's users alone) regressed on the period index by weighted least squares, weights
1/se² (``promolab.stats.trend.weighted_trend``). Reported as a note, not a verdict.

Bandit experiments are pooled here; their report stratifies by weight period, so the last
point can differ from the report (noted).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from promolab.analysis.allocation import PERIODS, Period
from promolab.analysis.engines import EngineLike, resolve_engine
from promolab.analysis.filtering import analysis_ctes
from promolab.analysis.inference import metric_mean, metric_test
from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.plan import ReportPlan, plan_for_experiment
from promolab.analysis.sequential import SequentialPlan, always_valid
from promolab.analysis.sql import literal, quote, sufficient_stats_sql
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.vocabulary import CrossVariantPolicy
from promolab.stats import JointStats, LiftResult, MeanStats
from promolab.stats.sequential import gst_look
from promolab.stats.trend import MIN_PERIODS, TrendResult, weighted_trend
from promolab.store import Registry

MAX_PERIODS = 2000  # twelve weeks of hours; every period costs a test per treatment × metric
UNITS = {"day": pd.Timedelta(days=1), "hour": pd.Timedelta(hours=1)}

TREND_NOTE = ("trend check: each period's absolute lift (its own users only) regressed on the period index by "
              "weighted least squares, weights 1/se²; it assumes independent periods, a linear trend and "
              "approximately normal per-period lifts, and a slope can also come from who arrives when (weekday "
              "mix, campaigns) or from recent cohorts having had less time to convert — a check, not a verdict")
BANDIT_NOTE = ("bandit experiment: the series pools each variant's users; `promolab report` stratifies by weight "
               "period, so the last point can differ from the report")


@dataclass(frozen=True)
class LiftPoint:
    """One treatment against the control at one period: cumulative test and the period's own lift."""

    start: datetime  # the period's start (UTC)
    control_n: int  # cumulative users
    treatment_n: int
    absolute: float  # cumulative: the report's test on the users exposed so far
    abs_ci_low: float
    abs_ci_high: float
    relative: float
    ci_low: float  # relative lift CI (Fieller)
    ci_high: float
    p_value: float  # fixed-horizon
    z: float  # the test statistic (Wald z for proportions and ratios, Welch t for means)
    se_absolute: float
    period_absolute: float  # this period's users alone (NaN when not testable)
    period_se: float
    boundary: float | None = None  # gst: efficacy boundary on |z| at this point's information fraction
    boundary_lift: float | None = None  # |absolute| beyond which this point crosses (gst or msprt)
    always_valid_p: float | None = None  # mSPRT
    beyond_boundary: bool | None = None  # crossed at the nominal alpha (no multiple-testing correction)


@dataclass(frozen=True)
class LiftSeries:
    """One treatment × metric over the periods, and the trend of its per-period lift."""

    variant: str
    points: tuple[LiftPoint, ...]
    trend: TrendResult | None
    trend_note: str

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "trend": None if self.trend is None else asdict(self.trend),
                "trend_note": self.trend_note, "points": [asdict(p) for p in self.points]}


@dataclass(frozen=True)
class MetricSeries:
    """One metric: per-variant means per period and cumulated, and each treatment's lifts."""

    name: str
    label: str
    kind: str
    direction: str
    guardrail: bool
    means: Mapping[str, tuple[float, ...]]  # this period's users (NaN without users)
    cumulative_means: Mapping[str, tuple[float, ...]]
    lifts: tuple[LiftSeries, ...]

    @property
    def title(self) -> str:
        return self.label or self.name

    def lift(self, variant: str) -> LiftSeries:
        for s in self.lifts:
            if s.variant == variant:
                return s
        raise InputError("variant", variant, "a treatment: " + ", ".join(s.variant for s in self.lifts))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.title, "kind": self.kind, "direction": self.direction,
                "guardrail": self.guardrail, "means": {v: list(m) for v, m in self.means.items()},
                "cumulative_means": {v: list(m) for v, m in self.cumulative_means.items()},
                "lifts": [s.to_dict() for s in self.lifts]}


@dataclass(frozen=True)
class OverTime:
    """An experiment's effects per period of first exposure (see the module docstring)."""

    experiment: str
    control: str
    period: Period
    alpha: float
    sequential: str | None  # the plan's method: gst | msprt
    starts: tuple[datetime, ...]  # periods with analysed users, in order
    users: Mapping[str, tuple[int, ...]]  # analysed users first exposed in each period, per variant
    cumulative_users: Mapping[str, tuple[int, ...]]
    metrics: tuple[MetricSeries, ...]
    notes: tuple[str, ...]

    def metric(self, name: str) -> MetricSeries:
        for m in self.metrics:
            if m.name == name:
                return m
        raise InputError("metric", name, "a metric of the experiment: " + ", ".join(m.name for m in self.metrics))

    def frame(self, metric: str, variant: str) -> pd.DataFrame:
        """One row per period: the treatment's points against the control."""
        return pd.DataFrame([asdict(p) for p in self.metric(metric).lift(variant).points])

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``promolab report KEY --over-time --json`` (and of the report route's ``?over_time=``)."""
        return {"experiment": self.experiment, "control": self.control, "period": self.period, "alpha": self.alpha,
                "sequential": self.sequential, "periods": [s.isoformat() for s in self.starts],
                "users": {v: list(n) for v, n in self.users.items()},
                "cumulative_users": {v: list(n) for v, n in self.cumulative_users.items()},
                "metrics": [m.to_dict() for m in self.metrics], "notes": list(self.notes)}


# -- SQL -----------------------------------------------------------------------------------------

def over_time_sql(ctes: str, metrics: Sequence[ColumnMetric], period: Period) -> str:
    """Sufficient statistics per (period of first exposure, variant) over the ``analysis_users``
    relation that ``ctes`` ends in; the period is ``date_trunc(period, exposed_at)``."""
    periods = (f"per_user_period AS (\n  SELECT p.*, date_trunc({literal(period)}, p.{quote('exposed_at')}) "
               f"AS {quote('period')}\n  FROM analysis_users p\n)\n")
    return ctes.rstrip().rstrip(",") + ",\n" + periods + sufficient_stats_sql("per_user_period", "variant",
                                                                            list(metrics), stratum="period")


def _fields(metric: ColumnMetric) -> tuple[str, ...]:
    """The metric's columns of the sufficient-statistics query (``n``: the users a conversion window counts)."""
    return (("n",) if metric.windowed else ()) + ("sum", "sum_sq") + (("sum_x", "sum_x2", "sum_xy") if metric.joint
                                                                      else ())


def _count_periods(lo: Any, hi: Any, period: Period) -> int:
    """Calendar periods from the one holding ``lo`` to the one holding ``hi``."""
    unit = UNITS[period]
    return int((pd.Timestamp(hi).floor(unit) - pd.Timestamp(lo).floor(unit)) / unit) + 1


# -- statistics ------------------------------------------------------------------------------------

def _cell(values: np.ndarray, offset: int, metric: ColumnMetric) -> MeanStats | JointStats:
    """A metric's statistics from one row of the cube (``values[0]``: the users; ``offset``: its first column)."""
    n = int(round(values[0]))
    if metric.windowed:
        n, offset = int(round(values[offset])), offset + 1
    if metric.joint:
        return JointStats(n, *(float(x) for x in values[offset:offset + 5]))
    return MeanStats(n, float(values[offset]), float(values[offset + 1]))


def _test(metric: ColumnMetric, control: MeanStats | JointStats, treatment: MeanStats | JointStats,
          alpha: float) -> LiftResult | None:
    """The report's test, or None when the cells cannot be tested yet (< 2 users, no denominator)."""
    if control.n < 2 or treatment.n < 2:
        return None
    if metric.kind == "ratio" and (control.sum_x == 0 or treatment.sum_x == 0):
        return None
    return metric_test(metric, control, treatment, alpha)[0]


def _mean(metric: ColumnMetric, stats: MeanStats | JointStats) -> float:
    """The report's unadjusted mean (NaN without users)."""
    return metric_mean(metric, stats) if stats.n else math.nan


def _sequential(plan: SequentialPlan | None, boundary: float | None, lift: LiftResult, n_pair: int,
                alpha: float) -> dict[str, Any]:
    """A cumulative point's sequential fields (see the module docstring); none without a plan."""
    if plan is None:
        return {}
    valid = always_valid(plan, lift, n_pair, alpha)
    p = valid["always_valid_p_value"]
    if plan.method == "gst":
        reach = boundary * lift.se_absolute
        return {"boundary": boundary, "boundary_lift": reach, "always_valid_p": p,
                "beyond_boundary": bool(abs(lift.statistic) >= boundary)}
    return {"boundary_lift": valid["always_valid_ci_high"] - lift.absolute, "always_valid_p": p,
            "beyond_boundary": bool(p < alpha)}


def _point(start: datetime, control: MeanStats | JointStats, treatment: MeanStats | JointStats,
           lift: LiftResult | None, period_lift: LiftResult | None, sequential: dict[str, Any]) -> LiftPoint:
    """A point from its cumulative test and its period's own test (NaN where either is missing)."""
    nan = math.nan
    period = (period_lift.absolute, period_lift.se_absolute) if period_lift is not None else (nan, nan)
    if lift is None:
        return LiftPoint(start, control.n, treatment.n, *([nan] * 9), *period)
    return LiftPoint(start, control.n, treatment.n, lift.absolute, lift.abs_ci_low, lift.abs_ci_high, lift.relative,
                     lift.ci_low, lift.ci_high, lift.p_value, lift.statistic, lift.se_absolute, *period, **sequential)


def _trend(points: Sequence[LiftPoint], starts: Sequence[datetime], period: Period, alpha: float
           ) -> TrendResult | None:
    """WLS slope of the per-period lifts on the period index (periods since the first); None below 3 periods."""
    unit = UNITS[period]
    used = [(float((pd.Timestamp(s) - pd.Timestamp(starts[0])) / unit), p.period_absolute, p.period_se)
            for s, p in zip(starts, points)
            if math.isfinite(p.period_absolute) and math.isfinite(p.period_se) and p.period_se > 0]
    if len(used) < MIN_PERIODS:
        return None
    x, y, se = zip(*used)
    return weighted_trend(x, y, se, alpha)


def _trend_note(title: str, variant: str, control: str, trend: TrendResult | None, overall: float,
                period: Period, alpha: float) -> str:
    """The trend in words: its numbers, and toward zero (novelty) or away from it (primacy) when p < alpha."""
    head = f"{title}: {variant} vs {control}"
    if trend is None:
        return f"{head}: fewer than {MIN_PERIODS} {period}s with a per-{period} lift, no trend check"
    line = (f"{head}: the per-{period} lift changes by {trend.slope:+.3g} per {period} "
            f"({1 - alpha:.0%} CI {trend.ci_low:+.3g} to {trend.ci_high:+.3g}, p = {trend.p_value:.2g}, "
            f"{trend.periods} {period}s)")
    if trend.p_value >= alpha:
        return line + ": no clear trend"
    if not math.isfinite(overall) or overall == 0:
        return line + f": it trends {'up' if trend.slope > 0 else 'down'}"
    if (trend.slope > 0) != (overall > 0):
        return line + ": the lift moves toward zero over time, as a novelty effect would"
    return line + ": the lift moves away from zero over time, as a primacy (learning) effect would"


# -- the series ------------------------------------------------------------------------------------

def _query(registry: Registry, experiment: Experiment, plan: ReportPlan, period: Period, engine: EngineLike,
           data: str | Path | None) -> pd.DataFrame:
    """The one statistics query, after checking the number of periods it would return."""
    source = resolve_engine(engine)
    if plan.filtering_requested and "filtering" not in source.sections:
        raise InputError("engine", source.name, "an engine that computes filtering (duckdb does)")
    with source.open_experiment(registry, data) as session:
        span = session.query(f"SELECT MIN(first_exposed_at) AS lo, MAX(first_exposed_at) AS hi FROM exposures "
                             f"WHERE experiment_key = {literal(experiment.key)}").iloc[0]
        if pd.isna(span["lo"]):
            raise InputError("experiment", experiment.key, "an experiment with recorded exposures (none yet)")
        count = _count_periods(span["lo"], span["hi"], period)
        if count > MAX_PERIODS:
            raise InputError("period", f"{period} ({count:,} periods)",
                             f"at most {MAX_PERIODS:,} periods (a coarser period: day)")
        exclude = plan.cross_variant == "exclude" and session.has("exposure_conflicts")
        ctes, _ = analysis_ctes(experiment, plan.filters, exclude_conflicts=exclude)
        return session.query(over_time_sql(ctes, plan.metrics, period))


def _cube(frame: pd.DataFrame, variants: list[str], columns: list[str]) -> tuple[tuple[datetime, ...], np.ndarray]:
    """Period starts and the statistics as an array [period, variant, column] (zeros where nobody came)."""
    frame = frame[frame["variant"].astype(str).isin(variants)]
    stamps = [pd.Timestamp(s) for s in frame["stratum"]]
    starts = sorted(set(stamps))
    index = {s: i for i, s in enumerate(starts)}
    cube = np.zeros((len(starts), len(variants), len(columns)))
    cube[[index[s] for s in stamps], [variants.index(str(v)) for v in frame["variant"]]] = (
        frame[columns].astype(float).fillna(0.0).to_numpy())
    return tuple(s.to_pydatetime() for s in starts), cube


def _looks(plan: ReportPlan, users: np.ndarray, final: bool) -> list[tuple[SequentialPlan | None, float | None]]:
    """Per cumulative point: the report's sequential plan at its users, and its gst boundary."""
    out: list[tuple[SequentialPlan | None, float | None]] = []
    for k, n in enumerate(users):
        if plan.sequential is None:
            out.append((None, None))
            continue
        at, _ = plan.sequential.at(int(round(n)), final and k == len(users) - 1)
        boundary = None
        if at.method == "gst":
            boundary = float(gst_look(0.0, at.fraction, at.previous_fractions, at.looks, plan.alpha,
                                      at.spending).boundary)
        out.append((at, boundary))
    return out


def _metric(m: ColumnMetric, cube: np.ndarray, cumulative: np.ndarray, offset: int, starts: tuple[datetime, ...],
            variants: list[str], plan: ReportPlan, looks: list[tuple[SequentialPlan | None, float | None]],
            period: Period) -> MetricSeries:
    """One metric's means and, per treatment, its points and trend."""
    cells = [[_cell(row, offset, m) for row in per_period] for per_period in cube]
    cum = [[_cell(row, offset, m) for row in per_period] for per_period in cumulative]
    c = variants.index(plan.control)
    lifts = []
    for t, variant in enumerate(variants):
        if t == c:
            continue
        points = []
        for k, start in enumerate(starts):
            lift = _test(m, cum[k][c], cum[k][t], plan.alpha)
            seq = {} if lift is None else _sequential(*looks[k], lift, cum[k][c].n + cum[k][t].n, plan.alpha)
            points.append(_point(start, cum[k][c], cum[k][t], lift, _test(m, cells[k][c], cells[k][t], plan.alpha),
                                 seq))
        trend = _trend(points, starts, period, plan.alpha)
        said = plan.variant_names or {}
        note = _trend_note(m.title, said.get(variant, variant), said.get(plan.control, plan.control), trend,
                           points[-1].absolute, period, plan.alpha)
        lifts.append(LiftSeries(variant, tuple(points), trend, note))
    return MetricSeries(m.name, m.label, m.kind, m.direction, m.guardrail,
                        {v: tuple(_mean(m, p[i]) for p in cells) for i, v in enumerate(variants)},
                        {v: tuple(_mean(m, p[i]) for p in cum) for i, v in enumerate(variants)}, tuple(lifts))


def over_time(registry: Registry, key: str, period: Period = "day", *, cuped: bool = True,
              filter_users: bool = True, cross_variant: CrossVariantPolicy = "exclude",
              engine: EngineLike = "duckdb", data: str | Path | None = None) -> OverTime:
    """Per-``period`` and cumulative means and lifts of experiment ``key`` (see the module docstring);
    the keyword options are the report's (``analyze_experiment``)."""
    if period not in PERIODS:
        raise InputError("period", period, " or ".join(PERIODS))
    experiment = registry.get_experiment(key)
    plan = plan_for_experiment(experiment, cuped=cuped, filter_users=filter_users, cross_variant=cross_variant)
    frame = _query(registry, experiment, plan, period, engine, data)
    variants = list(experiment.variant_keys)
    columns = ["n"] + [f"{m.name}__{f}" for m in plan.metrics for f in _fields(m)]
    starts, cube = _cube(frame, variants, columns)
    if not starts:
        raise InputError("experiment", key, "analysed users (every exposed user was filtered out)")
    cumulative = np.cumsum(cube, axis=0)
    looks = _looks(plan, cumulative[:, :, 0].sum(axis=1), registry.status(key) == "stopped")
    offsets = np.cumsum([1] + [len(_fields(m)) for m in plan.metrics])
    series = tuple(_metric(m, cube, cumulative, int(o), starts, variants, plan, looks, period)
                   for m, o in zip(plan.metrics, offsets))

    notes = [f"users grouped by the UTC {period} of their first exposure, each with all their events so far; "
             f"a cumulative point covers the users exposed up to its {period} (without a conversion window, recent "
             "cohorts have had less time to convert)"]
    if plan.sequential is not None:
        notes.append(f"sequential {plan.sequential.method}: each point is the report's read-out with that point's "
                     "users (information fraction = users / planned users); beyond_boundary is at the nominal α, "
                     "before the multiple-testing correction")
    if experiment.kind == "bandit":
        notes.append(BANDIT_NOTE)
    notes.append(TREND_NOTE)
    notes += [s.trend_note for m in series for s in m.lifts if s.trend is not None and s.trend.p_value < plan.alpha]
    return OverTime(key, plan.control, period, plan.alpha, None if plan.sequential is None else plan.sequential.method,
                    starts, {v: tuple(int(round(x)) for x in cube[:, i, 0]) for i, v in enumerate(variants)},
                    {v: tuple(int(round(x)) for x in cumulative[:, i, 0]) for i, v in enumerate(variants)},
                    series, tuple(notes))
