"""Multiplicity in sequential decisions: a crossing is judged at the corrected level, and the
row's "crossed" flag, its adjusted p-value and the verdict agree.

Independent references: the published Lan-DeMets O'Brien-Fleming boundary 2.031 at the last
of 5 looks (REFERENCE-VALUES.md), the fact that a group-sequential boundary at its last look
is never below the fixed-sample critical value (so at level 0.025 it is >= z_{1-0.0125} =
2.2414, scipy), the closed form of the mSPRT (Johari et al. 2017) and statsmodels' Holm/BH.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats.multitest import multipletests

from promolab.analysis import ColumnMetric, ReportPlan, StatsSource, run
from promolab.analysis.sequential import SequentialPlan

N = 10_000
SE = math.sqrt(2 / N)  # both arms have unit variance


def _frame(shifts: dict[str, float]) -> pd.DataFrame:
    """Per variant: N users of a unit-variance metric with mean ``shift`` (control 0)."""
    rows = [{"variant": "a", "n": N, "m__sum": 0.0, "m__sum_sq": float(N - 1)}]
    for v, mu in shifts.items():
        rows.append({"variant": v, "n": N, "m__sum": N * mu, "m__sum_sq": (N - 1) + N * mu * mu})
    return pd.DataFrame(rows)


def _report(shifts: dict[str, float], correction: str, sequential: SequentialPlan):
    plan = ReportPlan("a", (ColumnMetric("m", "mean", column="m"),), correction=correction, sequential=sequential)
    return run(plan, StatsSource(_frame(shifts)))


def _closed_form_msprt_p(d: float, v: float, alpha: float = 0.05) -> float:
    c = 2 * math.log(1 / alpha)
    r = brentq(lambda r: r - c - math.log1p(r), c, 100)
    tau2 = r * v
    lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * d * d / (2 * v * (v + tau2)))
    return min(1.0, 1 / lam)


@pytest.mark.parametrize("correction", ["holm", "bh"])
def test_gst_crossing_uncorrected_but_not_after_correction(correction: str) -> None:
    z = 2.15
    assert 2.031 < z < norm.ppf(1 - 0.025 / 2)  # published boundary < z < any level-0.025 final boundary
    gst = SequentialPlan("gst", looks=5, information_fraction=1.0)
    shifts = {"b": z * SE, "c": 0.0}
    alone = _report(shifts, "none", gst).metric("m").variant("b").lift
    assert alone.sequential.boundary == pytest.approx(2.031, abs=1e-3)
    assert alone.sequential.z == pytest.approx(z, rel=1e-6)
    assert alone.significant and alone.sequential.crossed and alone.p_value_adjusted < 0.05

    report = _report(shifts, correction, gst)
    row = report.metric("m").variant("b").lift
    assert not row.sequential.crossed and not row.significant
    assert row.p_value_adjusted >= 0.05  # the adjusted p shown agrees with the flag
    assert row.p_value < 0.05  # the fixed-horizon test alone would call it
    assert report.verdict.decision == "keep running"
    # the family is corrected exactly as statsmodels corrects the rows' repeated p-values
    raw = [report.metric("m").variant(v).lift.sequential.decision_p_value for v in ("b", "c")]
    want = multipletests(raw, method={"holm": "holm", "bh": "fdr_bh"}[correction])[1]
    got = [report.metric("m").variant(v).lift.p_value_adjusted for v in ("b", "c")]
    assert got == pytest.approx(list(want), rel=1e-12)


def test_gst_clear_winner_survives_the_correction() -> None:
    report = _report({"b": 4.0 * SE, "c": 0.0}, "holm", SequentialPlan("gst", looks=5, information_fraction=1.0))
    row = report.metric("m").variant("b").lift
    assert row.sequential.crossed and row.significant and row.p_value_adjusted < 0.05
    assert report.verdict.decision == "ship" and report.verdict.variant == "b"


@pytest.mark.parametrize("correction", ["holm", "bh"])
def test_msprt_significant_uncorrected_but_not_after_correction(correction: str) -> None:
    v = SE ** 2
    d = brentq(lambda x: _closed_form_msprt_p(x, v) - 0.04, 0.0, 10 * SE)  # always-valid p = 0.04
    shifts = {"b": d, "c": 0.0}
    plan = SequentialPlan("msprt")
    alone = _report(shifts, "none", plan).metric("m").variant("b").lift
    assert alone.sequential.always_valid_p_value == pytest.approx(0.04, rel=1e-6)
    assert alone.significant and alone.sequential.crossed

    report = _report(shifts, correction, plan)
    rows = [report.metric("m").variant(x).lift for x in ("b", "c")]
    raw = [_closed_form_msprt_p(x, v) for x in (d, 0.0)]
    want = multipletests(raw, method={"holm": "holm", "bh": "fdr_bh"}[correction])[1]
    assert [r.p_value_adjusted for r in rows] == pytest.approx(list(want), rel=1e-6)
    assert not rows[0].significant and not rows[0].sequential.crossed and rows[0].p_value_adjusted >= 0.05
    assert report.verdict.decision == "keep running"


def test_guardrails_stay_outside_the_family() -> None:
    """Only primary-metric rows are corrected together; a guardrail keeps its own sequential p."""
    frame = _frame({"b": 2.15 * SE})
    frame["g__sum"], frame["g__sum_sq"] = frame["m__sum"], frame["m__sum_sq"]
    metrics = (ColumnMetric("m", "mean", column="m"), ColumnMetric("g", "mean", column="g", guardrail=True))
    plan = ReportPlan("a", metrics, correction="holm", sequential=SequentialPlan("gst", 5, 1.0))
    report = run(plan, StatsSource(frame))
    m, g = report.metric("m").variant("b").lift, report.metric("g").variant("b").lift
    assert m.p_value_adjusted == pytest.approx(m.sequential.decision_p_value, rel=1e-12)  # a family of one
    assert g.p_value_adjusted == pytest.approx(g.sequential.decision_p_value, rel=1e-12)
    assert m.significant and m.sequential.crossed
