"""analyze-table on Hillstrom's e-mail experiment, checked against published figures and
against scipy/statsmodels computed on the raw rows (never against promolab itself)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats import proportion as smp

from promolab.analysis import analyze_table
from pathlib import Path

SHARED_HILLSTROM = Path(__file__).resolve().parents[3] / "shared" / "data" / "hillstrom.csv"

CONTROL = "No E-Mail"
# Published figures (issue 2; shared/REFERENCE-VALUES.md): n, visit rate, spend mean.
PUBLISHED = {
    "Mens E-Mail": (21_307, 0.182757, 1.4226),
    "Womens E-Mail": (21_387, 0.151400, 1.0772),
    "No E-Mail": (21_306, 0.106167, 0.6528),
}


@pytest.fixture(scope="module")
def report(hillstrom_csv):
    return analyze_table(hillstrom_csv, "segment", CONTROL, ["visit:binomial", "spend:mean"])


def test_packaged_copy_is_the_shared_file(hillstrom) -> None:
    if not SHARED_HILLSTROM.exists():
        pytest.skip("shared data not present on this machine")
    assert hashlib.sha256(SHARED_HILLSTROM.read_bytes()).hexdigest() == (
        "0e5893329d8b93cefecc571777672028290ab69865718020c78c7284f291aece")
    assert len(hillstrom) == 64_000


def test_published_arm_sizes_rates_and_means(report) -> None:
    visit, spend = report.metric("visit"), report.metric("spend")
    for arm, (n, rate, mean) in PUBLISHED.items():
        assert visit.variant(arm).n == n
        assert visit.variant(arm).mean == pytest.approx(rate, abs=5e-7)
        assert spend.variant(arm).mean == pytest.approx(mean, abs=5e-5)


def test_srm_passes(report) -> None:
    expected = sps.chisquare([21_307, 21_387, 21_306]).pvalue
    assert report.srm.ok
    assert report.srm.p_value == pytest.approx(expected, rel=1e-9)


def test_spend_welch_matches_scipy_and_published_p(report, hillstrom) -> None:
    mens = hillstrom.loc[hillstrom.segment == "Mens E-Mail", "spend"].to_numpy()
    none = hillstrom.loc[hillstrom.segment == CONTROL, "spend"].to_numpy()
    ref = sps.ttest_ind(mens, none, equal_var=False)
    lift = report.metric("spend").variant("Mens E-Mail").lift
    assert lift.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert lift.p_value == pytest.approx(1.2e-7, rel=0.1)  # published ≈ 1.2e-7
    ci = ref.confidence_interval(0.95)
    assert (lift.abs_ci_low, lift.abs_ci_high) == pytest.approx((ci.low, ci.high), rel=1e-6)
    assert lift.relative == pytest.approx(mens.mean() / none.mean() - 1, rel=1e-12)


def test_visit_wald_z_test_matches_statsmodels(report, hillstrom) -> None:
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        t = hillstrom.loc[hillstrom.segment == arm, "visit"]
        c = hillstrom.loc[hillstrom.segment == CONTROL, "visit"]
        ref = smp.test_proportions_2indep(t.sum(), len(t), c.sum(), len(c), method="wald", compare="diff",
                                          correction=False)
        lift = report.metric("visit").variant(arm).lift
        assert lift.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=0)
        low, high = smp.confint_proportions_2indep(t.sum(), len(t), c.sum(), len(c), method="wald")
        assert (lift.abs_ci_low, lift.abs_ci_high) == pytest.approx((low, high), rel=1e-9)
        assert lift.absolute == pytest.approx(t.mean() - c.mean(), rel=1e-12)


def test_holm_adjustment_over_variants_and_metrics(report) -> None:
    from statsmodels.stats.multitest import multipletests

    lifts = [v.lift for m in report.metrics for v in m.variants if v.lift is not None]
    expected = multipletests([lf.p_value for lf in lifts], method="holm")[1]
    assert [lf.p_value_adjusted for lf in lifts] == pytest.approx(list(expected), rel=1e-12)


def test_verdict_ships_mens_email(report) -> None:
    assert report.verdict.decision == "ship"
    assert report.verdict.variant == "Mens E-Mail"


def test_json_contract_names(report) -> None:
    data = report.to_dict()
    assert set(data["srm"]) >= {"ok", "p_value", "expected", "observed"}
    metric = data["metrics"][0]
    assert set(metric) >= {"name", "kind", "variants"}
    control = next(v for v in metric["variants"] if v["variant"] == CONTROL)
    assert control["lift"] is None
    treated = next(v for v in metric["variants"] if v["variant"] != CONTROL)
    assert set(treated) >= {"variant", "n", "mean", "lift"}
    assert set(treated["lift"]) >= {"absolute", "relative", "ci_low", "ci_high", "abs_ci_low", "abs_ci_high",
                                    "p_value", "p_value_adjusted", "chance_to_win"}


def test_cuped_on_history_reduces_variance(hillstrom_csv, hillstrom) -> None:
    plain = analyze_table(hillstrom_csv, "segment", CONTROL, ["spend:mean"])
    adjusted = analyze_table(hillstrom_csv, "segment", CONTROL, ["spend:mean"], covariate="history")
    lift = adjusted.metric("spend").variant("Mens E-Mail").lift
    r = np.corrcoef(hillstrom.spend, hillstrom.history)[0, 1]
    assert lift.cuped.variance_reduction == pytest.approx(r**2, abs=2e-3)  # Deng et al. 2013: ρ²
    raw = plain.metric("spend").variant("Mens E-Mail").lift
    assert (lift.abs_ci_high - lift.abs_ci_low) < (raw.abs_ci_high - raw.abs_ci_low)
