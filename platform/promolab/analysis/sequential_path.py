"""The sequential path of a registry experiment: what each of K interim looks would have shown.

Exposures are split into K looks and, at each look, the report's own plan
(``promolab.analysis.plan.plan_for_experiment``: metrics, caps, CUPED covariates, abuse
filtering, the exclusion of cross-variant users, alpha, correction) runs on the data
available then: the report's per-user SQL, then the report's inference
(``promolab.analysis.inference.infer``). The last look is the report of a stopped
experiment (bandits excepted: the path pools, the report stratifies by weight period). Per look and per
variant × metric:

* the fixed-horizon test of the report (z, p-value, lift and CIs);
* the group-sequential efficacy boundary at that look's information fraction
  (``promolab.stats.sequential.gst_look``: Lan-DeMets spending, earlier looks at their
  observed fractions), and whether the comparison crossed it *after the plan's
  multiple-testing correction* (Holm/BH on the repeated p-values, as the report does);
* the always-valid p-value of the mSPRT — the running minimum of 1/Λ over looks
  (``always_valid_p_values``) with the mixing variance τ² fixed at the first look — and
  its always-valid interval (running intersection);
* the asymptotic confidence sequence on the absolute and relative lift (the same
  formulas as the report's ``always_valid_readout``).

How looks are made (``SequentialPath.split``):

* ``"time"``: exposures spread over time; K equally spaced calendar cuts between the first
  and last exposure. Look k sees users first exposed before cut k and their events before
  cut k; the last look sees everything.
* ``"hash"``: all exposures share one time stamp (e.g. Hillstrom's single campaign day):
  users are ordered by md5 of their user id and split into K equal groups; look k sees the
  first k groups with all their events.

The information fraction of look k is its users over the users at the last look: the path
is a retrospective view whose last look is the final analysis (all α spent). Looks with no
new users, or with fewer than 2 users in some variant, are skipped. The path carries the
report's own SRM result (``promolab.analysis.pipeline.run``); when it fails the path is
``blocked``: no stop/go read-out, on every surface that shows the path.

τ² (per variant × metric): unless given, ``tau2_for_horizon(V₁·t₁)`` — the report's rule
(the narrowest always-valid CI at the horizon) applied once, at the first look, with V₁
the variance of the lift estimate then; it is then held fixed, as the mSPRT requires. It
depends only on the first look's variance (a nuisance parameter), not on the effect.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

import duckdb
import numpy as np
import pandas as pd

from promolab.analysis.filtering import analysis_ctes
from promolab.analysis.inference import infer
from promolab.analysis.pipeline import RegistrySource, run
from promolab.analysis.plan import plan_for_experiment
from promolab.analysis.sequential import SequentialPlan
from promolab.analysis.sql import sufficient_stats_sql
from promolab.analysis.sufficient import stats_from_frame
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.vocabulary import MAX_LOOKS, SPENDING_FUNCTIONS, SPENDING_NAMES, Spending
from promolab.stats import SrmResult
from promolab.stats.sequential import gst_look, tau2_for_horizon
from promolab.stats.sequential.confseq import DEFAULT_N_OPT, cs_halfwidth, rho_for_sample_size
from promolab.stats.sequential.msprt import always_valid_p_values, log_mixture_likelihood_ratio, msprt_halfwidth
from promolab.store import Registry

SPENDINGS = SPENDING_NAMES
SPLITS = ("time", "hash")


@dataclass(frozen=True)
class LookInfo:
    """One look: its data cut, users, information fraction and group-sequential boundary."""

    look: int
    cut: datetime | None  # events and exposures before this time (None: all data)
    users: int  # all exposed users in the look
    information_fraction: float  # users / users at the last look
    boundary: float  # two-sided efficacy boundary: reject at |z| >= boundary
    nominal_p: float
    alpha_spent: float  # cumulative, two-sided


@dataclass(frozen=True)
class PathPoint:
    """One variant against the control on one metric at one look."""

    look: int
    control_n: int
    treatment_n: int
    control_mean: float
    treatment_mean: float
    z: float  # the report's test statistic (Wald z for proportions, Welch t for means)
    p_value: float  # fixed-horizon, valid at one pre-planned look only
    absolute: float
    abs_ci_low: float
    abs_ci_high: float
    relative: float
    ci_low: float
    ci_high: float
    crossed: bool  # the corrected group-sequential decision at this look (|z| beyond the boundary at the
    # level the correction leaves it; with one comparison or correction "none": |z| >= the look's boundary)
    p_value_adjusted: float  # the repeated p-value corrected across the family (crossed ⟺ < alpha)
    always_valid_p: float  # running minimum of 1/Λ over looks (mSPRT)
    always_valid_p_look: float  # min(1, 1/Λ) at this look alone
    always_valid_ci_low: float  # always-valid CI on the difference, intersected over looks
    always_valid_ci_high: float
    cs_abs_ci_low: float  # asymptotic confidence sequence, absolute lift
    cs_abs_ci_high: float
    cs_rel_ci_low: float  # asymptotic confidence sequence, relative lift
    cs_rel_ci_high: float


@dataclass(frozen=True)
class ComparisonPath:
    """The path of one variant × metric over the looks."""

    metric: str
    kind: str
    variant: str
    tau2: float
    points: tuple[PathPoint, ...]

    @property
    def first_crossing(self) -> int | None:
        return next((p.look for p in self.points if p.crossed), None)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "kind": self.kind, "variant": self.variant, "tau2": self.tau2,
                "first_crossing": self.first_crossing, "points": [asdict(p) for p in self.points]}


@dataclass(frozen=True)
class SequentialPath:
    """Looks, and per variant × metric the z / boundary / always-valid path over them."""

    experiment: str
    control: str
    split: str  # "time" | "hash"
    looks_requested: int
    alpha: float
    spending: Spending
    looks: tuple[LookInfo, ...]
    comparisons: tuple[ComparisonPath, ...]
    srm: SrmResult  # the report's SRM check
    correction: str = "holm"
    notes: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        """No stop/go read-out: the split is broken (the report's SRM check fails)."""
        return not self.srm.ok

    def comparison(self, metric: str, variant: str) -> ComparisonPath:
        for c in self.comparisons:
            if c.metric == metric and c.variant == variant:
                return c
        raise InputError("metric/variant", f"{metric}/{variant}",
                         "one of " + ", ".join(f"{c.metric}/{c.variant}" for c in self.comparisons))

    def frame(self, metric: str, variant: str) -> pd.DataFrame:
        """One row per look: the look's columns and the comparison's point."""
        looks = pd.DataFrame([asdict(k) for k in self.looks])
        points = pd.DataFrame([asdict(p) for p in self.comparison(metric, variant).points])
        return looks.merge(points, on="look", how="inner")

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``promolab sequential KEY --json`` (read by the dashboard)."""
        return {
            "experiment": self.experiment,
            "control": self.control,
            "split": self.split,
            "looks_requested": self.looks_requested,
            "alpha": self.alpha,
            "spending": self.spending,
            "correction": self.correction,
            "srm": asdict(self.srm),
            "blocked": self.blocked,
            "looks": [{**asdict(k), "cut": None if k.cut is None else k.cut.isoformat()} for k in self.looks],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "notes": list(self.notes),
        }


# -- data per look ---------------------------------------------------------------------------

def _load(registry: Registry, experiment: Experiment
          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exposures, the exposed users' events and attributes (plus every account's shared-device
    attributes, which the abuse rules count across all users), and the exposure conflicts."""
    key = experiment.key
    exposures = registry.query(
        "SELECT experiment_key, user_id, variant_key, first_exposed_at, md5(user_id) AS h "
        "FROM exposures WHERE experiment_key = ?", [key])
    events = registry.query(
        "SELECT e.user_id, e.event, e.value, e.ts FROM events e "
        "JOIN exposures x ON x.user_id = e.user_id AND x.experiment_key = ?", [key])
    shared = list(experiment.filtering.shared_attributes) if experiment.filtering is not None else []
    attributes = registry.query(
        "SELECT a.user_id, a.attribute, a.value_num, a.value_text FROM user_attributes a "
        "WHERE a.user_id IN (SELECT user_id FROM exposures WHERE experiment_key = ?) "
        "OR list_contains(?, a.attribute)", [key, shared])
    conflicts = registry.query("SELECT * FROM exposure_conflicts WHERE experiment_key = ?", [key])
    return exposures, events, attributes, conflicts


def hash_groups(user_ids: pd.Series, hashes: pd.Series, looks: int) -> np.ndarray:
    """Group 0..K−1 of each user: users ordered by hash (then id) and cut into K equal groups."""
    order = pd.DataFrame({"h": hashes.to_numpy(), "u": user_ids.to_numpy()}).sort_values(["h", "u"]).index
    rank = np.empty(len(order), dtype=np.int64)
    rank[order.to_numpy()] = np.arange(len(order))
    return (rank * looks // max(len(order), 1)).astype(int)


def _cuts(exposures: pd.DataFrame, looks: int) -> tuple[str, list[np.ndarray], list[pd.Timestamp | None]]:
    """The split used, a mask of the exposures in each look, and each look's event cut-off."""
    ts = exposures.first_exposed_at
    if ts.nunique() < 2:
        group = hash_groups(exposures.user_id, exposures.h, looks)
        return "hash", [group <= k for k in range(looks)], [None] * looks
    lo, hi = ts.min(), ts.max()
    masks, cuts = [], []
    for k in range(1, looks + 1):
        if k == looks:
            masks.append(np.ones(len(exposures), dtype=bool))
            cuts.append(None)
        else:
            cut = lo + (hi - lo) * k / looks
            masks.append((ts < cut).to_numpy())
            cuts.append(cut)
    return "time", masks, cuts


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else float("nan")


# -- the path --------------------------------------------------------------------------------

def sequential_path(
    registry: Registry,
    key: str,
    looks: int | None = None,
    metric: str | None = None,
    spending: Spending | None = None,
    tau2: Mapping[tuple[str, str], float] | None = None,
) -> SequentialPath:
    """The sequential path of experiment ``key`` over ``looks`` looks (default: the spec's
    ``analysis.looks``, else 5); ``metric`` restricts it to one metric; ``spending``
    defaults to the spec's; ``tau2`` maps (metric, variant) to a fixed mixing variance."""
    experiment: Experiment = registry.get_experiment(key)
    plan = plan_for_experiment(experiment)
    if looks is None:
        looks = experiment.plan.looks or 5
    if isinstance(looks, bool) or not isinstance(looks, int) or not 2 <= looks <= MAX_LOOKS:
        raise InputError("plan.looks", looks, f"an integer in [2, {MAX_LOOKS}]")
    spending = spending or experiment.plan.spending
    if spending not in SPENDING_FUNCTIONS:
        raise InputError("plan.spending", spending, " | ".join(SPENDING_FUNCTIONS))
    metrics = list(plan.metrics)
    if metric is not None:
        if metric not in [m.name for m in metrics]:
            raise InputError("metric", metric, "a metric of the experiment: " + ", ".join(m.name for m in metrics))
        metrics = [m for m in metrics if m.name == metric]
    alpha = plan.alpha
    control = plan.control
    treatments = [v for v in experiment.variant_keys if v != control]

    exposures, events, attributes, conflicts = _load(registry, experiment)
    if exposures.empty:
        raise InputError("experiment", key, "an experiment with recorded exposures (none yet)")
    split, masks, cuts = _cuts(exposures, looks)

    ctes, _ = analysis_ctes(experiment, plan.filters,
                            exclude_conflicts=plan.cross_variant == "exclude" and len(conflicts) > 0)
    sql = ctes + sufficient_stats_sql("analysis_users", "variant", metrics)
    kept: list[tuple[pd.Timestamp | None, int, dict]] = []
    previous_n, skipped = -1, 0
    con = duckdb.connect()
    try:
        con.register("user_attributes", attributes)
        con.register("exposure_conflicts", conflicts)
        for mask, cut in zip(masks, cuts):
            x = exposures.loc[mask, ["experiment_key", "user_id", "variant_key", "first_exposed_at"]]
            if len(x) == previous_n:
                skipped += 1
                continue  # no new users since the last look: not a look
            previous_n = len(x)
            con.register("exposures", x)
            con.register("events", events if cut is None else events[events.ts < cut])
            stats = stats_from_frame(con.execute(sql).df(), metrics)
            con.unregister("exposures")
            con.unregister("events")
            if any(v not in stats or stats[v].fewest < 2 for v in experiment.variant_keys):
                skipped += 1
                continue
            kept.append((cut, len(x), stats))
    finally:
        con.close()
    if len(kept) < 2:
        raise InputError("plan.looks", looks, "enough exposures for at least two looks with users in every variant")

    total = kept[-1][1]
    fractions = [n / total for _, n, _ in kept]
    look_infos, results = [], []
    for k, ((cut, n, stats), t) in enumerate(zip(kept, fractions), start=1):
        g = gst_look(0.0, t, fractions[:k - 1], looks, alpha, spending)
        look_infos.append(LookInfo(k, None if cut is None else pd.Timestamp(cut).to_pydatetime(), n, t,
                                   float(g.boundary), float(g.nominal_p), float(g.alpha_spent)))
        design = SequentialPlan("gst", looks, t, spending, earlier_fractions=tuple(fractions[:k - 1]))
        results.append(infer(stats, metrics, control, plan.weights or {}, alpha, plan.correction, plan.srm_threshold,
                             design))

    rho = rho_for_sample_size(DEFAULT_N_OPT, alpha)
    comparisons = []
    for m in metrics:
        for v in treatments:
            found = [next(r for r in res.metrics if r.name == m.name) for res in results]
            rows = [f.variant(v).lift for f in found]
            diff = np.array([row.absolute for row in rows], float)
            var = np.array([row.se_absolute ** 2 for row in rows], float)
            var = np.where(np.isfinite(var) & (var > 0), var, np.nan)
            fixed = (tau2 or {}).get((m.name, v))
            if fixed is None:
                first = var[0] if np.isfinite(var[0]) else np.nan
                fixed = tau2_for_horizon(first * fractions[0], alpha) if np.isfinite(first) else math.nan
            fixed = float(fixed)
            if math.isfinite(fixed) and fixed > 0:
                running = always_valid_p_values(diff, var, fixed)
                with np.errstate(divide="ignore", invalid="ignore"):
                    log_lr = np.nan_to_num(log_mixture_likelihood_ratio(diff, var, fixed), nan=0.0, neginf=0.0)
                single = np.minimum(1.0, np.exp(-log_lr))
            else:
                running = single = np.ones(len(kept))
            lo_run, hi_run = -math.inf, math.inf
            points = []
            for (cut, n, s), look, f, row, p_run, p_one, vk in zip(kept, look_infos, found, rows, running, single,
                                                                   var):
                n_pair = f.variant(control).n + f.variant(v).n  # users the metric counts (windows closed)
                if np.isfinite(vk) and math.isfinite(fixed) and fixed > 0:
                    half = msprt_halfwidth(float(vk), fixed, alpha)
                    lo_run, hi_run = max(lo_run, row.absolute - half), min(hi_run, row.absolute + half)
                    cs_abs = float(cs_halfwidth(float(vk), n_pair, alpha, rho))
                    cs_rel = float(cs_halfwidth(row.se_relative ** 2, n_pair, alpha, rho))
                else:
                    cs_abs = cs_rel = math.inf
                points.append(PathPoint(
                    look=look.look, control_n=int(f.variant(control).n), treatment_n=int(f.variant(v).n),
                    control_mean=_finite(f.variant(control).mean), treatment_mean=_finite(f.variant(v).mean),
                    z=float(row.sequential.z), p_value=float(row.p_value), absolute=float(row.absolute),
                    abs_ci_low=float(row.abs_ci_low), abs_ci_high=float(row.abs_ci_high),
                    relative=float(row.relative), ci_low=float(row.ci_low), ci_high=float(row.ci_high),
                    crossed=bool(row.significant), p_value_adjusted=float(row.p_value_adjusted),
                    always_valid_p=float(p_run), always_valid_p_look=float(p_one),
                    always_valid_ci_low=float(lo_run), always_valid_ci_high=float(hi_run),
                    cs_abs_ci_low=float(row.absolute - cs_abs), cs_abs_ci_high=float(row.absolute + cs_abs),
                    cs_rel_ci_low=float(row.relative - cs_rel), cs_rel_ci_high=float(row.relative + cs_rel),
                ))
            comparisons.append(ComparisonPath(m.name, m.kind, v, fixed, tuple(points)))

    # the report's SRM check governs; its segments and economics play no part in it
    srm = run(replace(plan, segments=(), economics=None), RegistrySource(registry)).srm
    notes = [_split_note(split, len(look_infos))]
    if not srm.ok:
        notes.insert(0, f"Sample ratio mismatch at the last look (p = {srm.p_value:.2g} < {srm.threshold:g}): the "
                        "split is broken, so no crossing can be trusted. Fix assignment before deciding.")
    if skipped:
        notes.append(f"{skipped} of {looks} looks skipped: no new users, or fewer than 2 users in some variant.")
    notes += _caveats(experiment)
    return SequentialPath(key, control, split, looks, alpha, spending, tuple(look_infos), tuple(comparisons), srm,
                          plan.correction, tuple(notes))


def _split_note(split: str, looks: int) -> str:
    if split == "hash":
        return (f"All exposures share one time stamp, so the {looks} looks split the users into equal groups "
                "ordered by a hash of the user id (look k = the first k groups, with all their events).")
    return (f"{looks} looks at equally spaced times between the first and last exposure; "
            "each look counts only the users exposed and the events before its cut-off.")


def _caveats(experiment: Experiment) -> list[str]:
    out = []
    if experiment.kind == "bandit":
        out.append("bandit experiment: the path uses pooled estimates; `promolab report` uses period-stratified "
                   "ones, so the last look can differ from the report.")
    if experiment.filtering is not None:
        out.append("abuse/bot filtering is applied at every look to the data available then, so a user "
                   "flagged later is still counted at earlier looks.")
    return out
