"""The sequential view of an experiment: what each interim look would have shown.

Exposures are split into looks, and at each look the report's own SQL
(``promolab.analysis.sql.experiment_stats_sql``) runs on the data available then; the
library's tests, group-sequential boundaries (``gst_boundaries``), mSPRT (``msprt_test``)
and confidence sequences (``confidence_sequence``) turn those statistics into the path.

* Exposures spread over time: K equally spaced calendar cuts between the first and last
  exposure; look k sees users exposed before cut k and their events before cut k.
* All exposures at one time stamp (e.g. Hillstrom's single campaign day): users are
  ordered by a hash of their id and split into K equal groups; look k sees the first k
  groups with all their events. The page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from promolab.analysis import stats_from_frame
from promolab.analysis.sql import experiment_metrics, experiment_stats_sql
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.stats import proportion_test, welch_test
from promolab.stats.sequential import confidence_sequence, gst_boundaries, msprt_test
from promolab.stats.sequential.msprt import DEFAULT_RELATIVE_EFFECT
from promolab.store import Registry

SPENDINGS = {"obf": "O'Brien-Fleming", "pocock": "Pocock", "hsd": "Hwang-Shih-DeCani", "power": "power family"}


@dataclass(frozen=True)
class LookPath:
    """Per look: users, z, GST boundary, always-valid p and intervals; plus how looks were made."""

    metric: str
    kind: str
    treatment: str
    control: str
    split: str  # "time" | "hash"
    alpha: float
    spending: str
    tau2: float
    frame: pd.DataFrame  # one row per look
    notes: tuple[str, ...] = field(default=())

    @property
    def first_crossing(self) -> int | None:
        crossed = self.frame.index[self.frame.crossed]
        return None if len(crossed) == 0 else int(self.frame.look[crossed[0]])


def sequential_metrics(experiment: Experiment) -> list[str]:
    """Metrics the sequential methods handle: binomial and mean (not ratio)."""
    return [m.key for m in experiment.metrics + experiment.guardrails if m.kind in ("binomial", "mean")]


def _load(registry: Registry, experiment: Experiment) -> tuple[pd.DataFrame, pd.DataFrame]:
    exposures = registry.query(
        "SELECT experiment_key, user_id, variant_key, first_exposed_at, hash(user_id) AS h "
        "FROM exposures WHERE experiment_key = ?", [experiment.key]
    )
    events = registry.query(
        "SELECT e.user_id, e.event, e.value, e.ts FROM events e "
        "JOIN exposures x ON x.user_id = e.user_id AND x.experiment_key = ?", [experiment.key]
    )
    return exposures, events


def _cuts(exposures: pd.DataFrame, looks: int) -> tuple[str, list[pd.Series], list[pd.Timestamp | None]]:
    """Masks of exposures per look and the event cut-off time of each look."""
    ts = exposures.first_exposed_at
    if ts.nunique() < 2:
        order = exposures.h.rank(method="first").to_numpy() - 1
        group = np.floor(order * looks / len(exposures)).astype(int)
        return "hash", [pd.Series(group <= k, index=exposures.index) for k in range(looks)], [None] * looks
    lo, hi = ts.min(), ts.max()
    masks, cuts = [], []
    for k in range(1, looks + 1):
        if k == looks:
            masks.append(pd.Series(True, index=exposures.index))
            cuts.append(None)
        else:
            cut = lo + (hi - lo) * k / looks
            masks.append(ts < cut)
            cuts.append(cut)
    return "time", masks, cuts


def look_path(registry: Registry, experiment: Experiment, metric: str, treatment: str, looks: int = 5,
              spending: str = "obf") -> LookPath:
    """Run the report's statistics at each of ``looks`` interim looks."""
    keys = sequential_metrics(experiment)
    if metric not in keys:
        raise InputError("metric", metric, "a binomial or mean metric of the experiment: " + ", ".join(keys))
    if treatment not in experiment.variant_keys or treatment == experiment.control:
        raise InputError("treatment", treatment, "a variant other than the control")
    if not isinstance(looks, int) or looks < 2:
        raise InputError("looks", looks, "an integer >= 2")
    kind = experiment.metric(metric).kind
    alpha = experiment.plan.alpha
    exposures, events = _load(registry, experiment)
    if exposures.empty:
        raise InputError("experiment", experiment.key, "an experiment with recorded exposures (none yet)")
    split, masks, cuts = _cuts(exposures, looks)
    metrics = experiment_metrics(experiment, cuped=False)
    sql = experiment_stats_sql(experiment, cuped=False)
    rows, previous_n = [], -1
    con = duckdb.connect()
    # covariates are not used (cuped=False), but the per-user SQL joins the attribute table
    con.register("user_attributes", pd.DataFrame({"user_id": pd.Series(dtype=str), "attribute": pd.Series(dtype=str),
                                                  "value_num": pd.Series(dtype=float),
                                                  "value_text": pd.Series(dtype=str)}))
    try:
        for k, (mask, cut) in enumerate(zip(masks, cuts), start=1):
            x = exposures.loc[mask, ["experiment_key", "user_id", "variant_key", "first_exposed_at"]]
            e = events if cut is None else events[events.ts < cut]
            if len(x) == previous_n:
                continue  # no new users since the last look: not a look
            previous_n = len(x)
            con.register("exposures", x)
            con.register("events", e)
            stats = stats_from_frame(con.execute(sql).df(), metrics)
            con.unregister("exposures")
            con.unregister("events")
            if experiment.control not in stats or treatment not in stats:
                continue
            c, t = stats[experiment.control].metrics[metric], stats[treatment].metrics[metric]
            if c.n < 2 or t.n < 2:
                continue
            rows.append({"look": k, "cut": cut, "users": c.n + t.n, "control_n": c.n, "treatment_n": t.n,
                         "control": c, "treatment": t})
    finally:
        con.close()
    if len(rows) < 2:
        raise InputError("looks", looks, "enough exposures for at least two looks with users in both arms")
    total = rows[-1]["users"]
    fractions = [r["users"] / total for r in rows]
    design = gst_boundaries(fractions, alpha=alpha, spending=spending, sides=2)
    first = rows[0]["control"]
    tau2 = (DEFAULT_RELATIVE_EFFECT * first.mean) ** 2 or 1e-12
    out, p_prev, interval = [], 1.0, None
    for r, frac, bound, nominal in zip(rows, fractions, design.efficacy, design.nominal_p):
        c, t = r["control"], r["treatment"]
        test = proportion_test(c, t, alpha) if kind == "binomial" else welch_test(c, t, alpha)
        ms = msprt_test(c, t, kind=kind, alpha=alpha, tau2=tau2, previous_p_value=p_prev, previous_interval=interval)
        p_prev, interval = ms.p_value, ms.interval
        cs = confidence_sequence(c, t, alpha=alpha)
        rel = cs.relative_interval or (np.nan, np.nan)
        out.append({
            "look": len(out) + 1, "cut": r["cut"], "users": r["users"], "control_n": r["control_n"],
            "treatment_n": r["treatment_n"], "information_fraction": frac, "control_mean": c.mean,
            "treatment_mean": t.mean, "z": test.statistic, "p_value": test.p_value, "boundary": bound,
            "nominal_p": nominal, "crossed": bool(abs(test.statistic) >= bound),
            "absolute": test.absolute, "abs_ci_low": test.abs_ci_low, "abs_ci_high": test.abs_ci_high,
            "relative": test.relative, "ci_low": test.ci_low, "ci_high": test.ci_high,
            "always_valid_p": ms.p_value, "msprt_low": ms.interval[0], "msprt_high": ms.interval[1],
            "cs_low": cs.absolute_interval[0], "cs_high": cs.absolute_interval[1],
            "cs_rel_low": rel[0], "cs_rel_high": rel[1],
        })
    frame = pd.DataFrame(out)
    notes = []
    if split == "hash":
        notes.append(
            f"All exposures share one time stamp, so the {len(frame)} looks split the users into equal groups "
            "ordered by a hash of the user id (look k = the first k groups, with all their events)."
        )
    else:
        notes.append(f"{len(frame)} looks at equally spaced times between the first and last exposure; "
                     "each look counts only the events before its cut-off.")
    return LookPath(metric, kind, treatment, experiment.control, split, alpha, spending, float(tau2), frame,
                    tuple(notes))
