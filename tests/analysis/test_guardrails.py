"""Non-inferiority guardrails: one-sided p-values against statsmodels, verdicts on both
sides of the margin."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import test_proportions_2indep as sm_test_2indep
from statsmodels.stats.weightstats import ttest_ind

import pandas as pd

from promolab.analysis import ColumnMetric, Margin, ReportPlan, StatsSource, run
from promolab.spec import parse_experiment
from promolab.stats import MeanStats
from promolab.stats.noninferiority import noninferiority_test


def test_binomial_absolute_matches_statsmodels_wald() -> None:
    c, t = MeanStats(5000, 150, 150), MeanStats(5100, 170, 170)
    for direction, value, alternative in (("decrease", 0.01, "smaller"), ("increase", -0.01, "larger")):
        got = noninferiority_test(c, t, "binomial", 0.01, "absolute", direction, alpha=0.025)
        want = sm_test_2indep(170, 5100, 150, 5000, value=value, method="wald", compare="diff",
                                       alternative=alternative)
        assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
        assert got.statistic == pytest.approx(want.statistic, rel=1e-9)


def test_binomial_relative_matches_statsmodels_log_ratio() -> None:
    c, t = MeanStats(8000, 400, 400), MeanStats(8000, 410, 410)
    got = noninferiority_test(c, t, "binomial", 0.2, "relative", "decrease", alpha=0.025)
    want = sm_test_2indep(410, 8000, 400, 8000, value=1.2, method="log", compare="ratio",
                                   alternative="smaller")
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got.estimate == pytest.approx(410 / 400 - 1)


def test_mean_absolute_matches_statsmodels_welch() -> None:
    rng = np.random.default_rng(0)
    x_c, x_t = rng.gamma(2, 10, 700), rng.gamma(2, 9.5, 900)
    stats = lambda x: MeanStats(x.size, float(x.sum()), float((x * x).sum()))  # noqa: E731
    got = noninferiority_test(stats(x_c), stats(x_t), "mean", 2.0, "absolute", "increase", alpha=0.025)
    _, p, _ = ttest_ind(x_t, x_c, alternative="larger", usevar="unequal", value=-2.0)
    assert got.p_value == pytest.approx(p, rel=1e-8)


def _report(refunds_t: int, margin: float | None):
    metrics = (ColumnMetric("conversion", "binomial", column="conversion"),
               ColumnMetric("refund", "binomial", column="refund", direction="decrease", guardrail=True,
                            margin=None if margin is None else Margin(margin)))
    n = 20_000
    frame = pd.DataFrame({"variant": ["control", "coupon"], "n": [n, n],
                          "conversion__sum": [600, 760], "conversion__sum_sq": [600, 760],
                          "refund__sum": [400, refunds_t], "refund__sum_sq": [400, refunds_t]})
    return run(ReportPlan("control", metrics, weights={"control": 1, "coupon": 1}), StatsSource(frame))


def test_verdict_ships_inside_the_margin_and_blocks_outside() -> None:
    # control refund rate 2.0 %; coupon 2.05 %: upper 97.5 % bound ≈ +0.33 pt < 0.5 pt margin
    ok = _report(410, 0.005)
    assert ok.verdict.decision == "ship" and ok.guardrails["coupon"][0].passed
    # coupon 2.225 %: not significantly worse (two-sided), but the bound ≈ +0.51 pt exceeds the margin
    bad = _report(445, 0.005)
    assert not bad.metric("refund").variant("coupon").lift.significant
    assert bad.verdict.decision == "do not ship" and "refund" in bad.verdict.text
    assert not bad.guardrails["coupon"][0].passed
    # without a margin the old rule ships it
    assert _report(445, None).verdict.decision == "ship"
    data = bad.to_dict()["guardrails"]["coupon"][0]
    assert data["metric"] == "refund" and data["passed"] is False and data["bound"] > 0.005


def test_margin_is_validated_in_the_spec() -> None:
    base = """key = "g"
name = "g"
owner = "o"
[[variants]]
key = "a"
[[variants]]
key = "b"
[[metrics]]
key = "conversion"
kind = "binomial"
event = "order"
"""
    spec = parse_experiment(base + '[[guardrails]]\nkey = "refund"\nkind = "binomial"\nevent = "refund"\n'
                            'direction = "decrease"\nmargin = 0.1\nmargin_type = "relative"\n')
    assert spec.guardrails[0].margin == 0.1 and spec.guardrails[0].margin_type == "relative"
    from promolab.errors import SpecError

    with pytest.raises(SpecError, match="margin"):
        parse_experiment(base + "margin = 0.1\n")
    with pytest.raises(SpecError, match="margin_type"):
        parse_experiment(base + '[[guardrails]]\nkey = "r"\nkind = "binomial"\nevent = "r"\nmargin = 1\n'
                         'margin_type = "percent"\n')
