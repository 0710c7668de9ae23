"""Frequentist tests, cross-checked against scipy / statsmodels on the same raw data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats import proportion as smp  # module import: pytest would collect test_proportions_2indep
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from promolab.errors import InputError
from promolab.stats.frequentist import two_sided_z
from promolab.stats import (
    CupedResult,
    JointStats,
    LiftResult,
    MeanStats,
    cuped_test,
    proportion_test,
    ratio_test,
    welch_test,
)


def wald_2indep(s_t, n_t, s_c, n_c):
    """statsmodels' unpooled Wald z-test of p_t − p_c (group 1 − group 2)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # it also forms p1/p2, undefined at p2 = 0
        res = smp.test_proportions_2indep(s_t, n_t, s_c, n_c, method="wald", compare="diff", correction=False)
    return float(res.statistic), float(res.pvalue)


def assert_fieller_endpoints(r: LiftResult, crit: float, var_c: float, var_t: float) -> None:
    """Both relative-CI endpoints ρ − 1 solve (m_t − ρ m_c)² = crit² (var_t + ρ² var_c)."""
    mc, mt = r.control_mean, r.treatment_mean
    for end in (r.ci_low, r.ci_high):
        rho = 1.0 + end
        lhs, rhs = (mt - rho * mc) ** 2, crit**2 * (var_t + rho**2 * var_c)
        assert lhs == pytest.approx(rhs, rel=1e-9)
    assert r.ci_low < r.relative < r.ci_high


def ms(y) -> MeanStats:
    y = np.asarray(y, dtype=float)
    return MeanStats(int(y.size), float(y.sum()), float((y * y).sum()))


def js(y, x) -> JointStats:
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    return JointStats(y.size, float(y.sum()), float(y @ y), float(x.sum()), float(x @ x), float(x @ y))


# --------------------------------------------------------------------------- Welch


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy_and_statsmodels(seed, alpha):
    rng = np.random.default_rng(seed)
    c = rng.lognormal(1.0, 1.0, size=300 + 50 * seed)
    t = rng.lognormal(1.1, 1.3, size=170)
    r = welch_test(ms(c), ms(t), alpha=alpha)
    ref = sps.ttest_ind(t, c, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    lo, hi = ref.confidence_interval(confidence_level=1 - alpha)
    assert (r.abs_ci_low, r.abs_ci_high) == pytest.approx((lo, hi), rel=1e-8)
    lo2, hi2 = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(alpha=alpha, usevar="unequal")
    assert (r.abs_ci_low, r.abs_ci_high) == pytest.approx((lo2, hi2), rel=1e-8)
    assert r.control_mean == pytest.approx(c.mean())
    assert r.treatment_mean == pytest.approx(t.mean())
    assert r.absolute == pytest.approx(t.mean() - c.mean())
    assert r.relative == pytest.approx(t.mean() / c.mean() - 1)
    assert r.se_absolute == pytest.approx(math.sqrt(t.var(ddof=1) / t.size + c.var(ddof=1) / c.size))
    assert r.method == "Welch t-test"
    assert r.ci_low < r.relative < r.ci_high


def test_welch_relative_se_matches_simulated_sampling_distribution():
    """Delta-method se of m_t/m_c − 1 vs the spread of that ratio over 4,000 replications."""
    rng = np.random.default_rng(7)
    n_c, n_t, reps = 400, 300, 4000
    c = rng.gamma(2.0, 5.0, size=(reps, n_c))  # mean 10, sd ≈ 7.07
    t = rng.gamma(2.0, 5.5, size=(reps, n_t))  # mean 11
    rel = t.mean(axis=1) / c.mean(axis=1) - 1
    se = [welch_test(ms(c[i]), ms(t[i])).se_relative for i in range(200)]
    assert np.median(se) == pytest.approx(rel.std(ddof=1), rel=0.05)
    # theory at the true parameters: sqrt(σt²/(n_t μc²) + μt² σc²/(n_c μc⁴))
    theory = math.sqrt(2 * 5.5**2 / (n_t * 10**2) + 11**2 * 2 * 25 / (n_c * 10**4))
    assert rel.std(ddof=1) == pytest.approx(theory, rel=0.05)


def test_welch_relative_ci_uses_welch_t_quantile():
    rng = np.random.default_rng(3)
    c, t = rng.normal(10, 3, 12), rng.normal(12, 5, 9)
    r = welch_test(ms(c), ms(t), alpha=0.05)
    df = CompareMeans(DescrStatsW(t), DescrStatsW(c)).dof_satt()
    q = sps.t.ppf(0.975, df)
    assert_fieller_endpoints(r, q, c.var(ddof=1) / c.size, t.var(ddof=1) / t.size)
    var_rel = t.var(ddof=1) / (t.size * c.mean() ** 2) + t.mean() ** 2 * c.var(ddof=1) / (c.size * c.mean() ** 4)
    assert r.se_relative == pytest.approx(math.sqrt(var_rel), rel=1e-9)


def test_welch_constant_arms_are_degenerate_not_nan():
    r = welch_test(MeanStats(10, 10.0, 10.0), MeanStats(10, 10.0, 10.0))
    assert (r.statistic, r.p_value, r.absolute) == (0.0, 1.0, 0.0)
    r = welch_test(MeanStats(10, 10.0, 10.0), MeanStats(10, 20.0, 40.0))
    assert r.p_value == 0.0 and r.statistic == math.inf
    assert r.abs_ci_low == r.abs_ci_high == 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=40),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=40),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=40),
)
def test_merged_partitions_give_the_same_test(a, b, t):
    """MeanStats add exactly: partial aggregates merge to the same answer as the raw data."""
    merged = ms(a) + ms(b)
    whole = ms(a + b)
    assert merged.n == whole.n
    assert merged.sum == pytest.approx(whole.sum, abs=1e-6)
    assert merged.sum_sq == pytest.approx(whole.sum_sq, rel=1e-9, abs=1e-6)
    cc = np.asarray(a + b)
    if abs(cc.mean()) < 1e-3 or (np.ptp(cc) < 1e-3 and np.ptp(t) < 1e-3):
        return  # relative lift undefined at a zero control mean; all-constant: degenerate test above
    r1 = welch_test(merged, ms(t))
    r2 = welch_test(whole, ms(t))
    assert r1.absolute == pytest.approx(r2.absolute, rel=1e-6, abs=1e-6)
    assert r1.p_value == pytest.approx(r2.p_value, rel=1e-4, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 500),
    st.integers(2, 500),
    st.floats(0.01, 0.99),
    st.floats(0.01, 0.99),
)
def test_swapping_arms_negates_statistic_and_keeps_p(n_c, n_t, fc, ft):
    c = MeanStats(n_c, float(max(1, round(fc * n_c))), float(max(1, round(fc * n_c))))
    t = MeanStats(n_t, float(max(1, round(ft * n_t))), float(max(1, round(ft * n_t))))
    for fn in (proportion_test, welch_test):
        a, b = fn(c, t), fn(t, c)
        assert a.statistic == pytest.approx(-b.statistic, abs=1e-12)
        assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-15)
        assert a.abs_ci_low == pytest.approx(-b.abs_ci_high, abs=1e-12)


# --------------------------------------------------------------------------- proportions


@pytest.mark.parametrize(
    "s_c,n_c,s_t,n_t",
    [(120, 1000, 150, 1000), (5, 40, 11, 37), (2262, 21306, 3894, 21307), (999, 1000, 990, 1000)],
)
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_proportion_test_matches_statsmodels(s_c, n_c, s_t, n_t, alpha):
    r = proportion_test(MeanStats(n_c, s_c, s_c), MeanStats(n_t, s_t, s_t), alpha=alpha)
    z, p = wald_2indep(s_t, n_t, s_c, n_c)
    assert r.statistic == pytest.approx(z, rel=1e-10)
    assert r.p_value == pytest.approx(p, rel=1e-8)
    lo, hi = confint_proportions_2indep(s_t, n_t, s_c, n_c, method="wald", compare="diff", alpha=alpha)
    assert (r.abs_ci_low, r.abs_ci_high) == pytest.approx((lo, hi), rel=1e-10)
    pc, pt = s_c / n_c, s_t / n_t
    assert r.relative == pytest.approx(pt / pc - 1)
    var_rel = pt * (1 - pt) / n_t / pc**2 + pt**2 * pc * (1 - pc) / n_c / pc**4
    assert r.se_relative == pytest.approx(math.sqrt(var_rel))
    assert_fieller_endpoints(r, sps.norm.ppf(1 - alpha / 2), pc * (1 - pc) / n_c, pt * (1 - pt) / n_t)
    assert r.method == "two-proportion z-test"


def test_proportion_test_from_raw_bernoulli_arrays():
    rng = np.random.default_rng(11)
    c = (rng.random(5000) < 0.10).astype(float)
    t = (rng.random(4800) < 0.12).astype(float)
    r = proportion_test(ms(c), ms(t))
    z, p = wald_2indep(t.sum(), t.size, c.sum(), c.size)
    assert (r.statistic, r.p_value) == pytest.approx((z, p), rel=1e-9)


def test_proportion_all_converted_is_degenerate():
    r = proportion_test(MeanStats(50, 50, 50), MeanStats(60, 60, 60))
    assert (r.statistic, r.p_value, r.relative) == (0.0, 1.0, 0.0)


# --------------------------------------------------------------------------- Hillstrom


def _arm(df, segment, col):
    return ms(df.loc[df.segment == segment, col].to_numpy())


def test_hillstrom_spend_mens_vs_no_email(hillstrom):
    ctrl = hillstrom.loc[hillstrom.segment == "No E-Mail", "spend"].to_numpy()
    mens = hillstrom.loc[hillstrom.segment == "Mens E-Mail", "spend"].to_numpy()
    r = welch_test(ms(ctrl), ms(mens))
    assert r.p_value == pytest.approx(1.2e-7, rel=0.1)  # REFERENCE-VALUES.md
    assert r.p_value == pytest.approx(sps.ttest_ind(mens, ctrl, equal_var=False).pvalue, rel=1e-6)
    assert r.control_mean == pytest.approx(0.6528, abs=5e-5)
    assert r.treatment_mean == pytest.approx(1.4226, abs=5e-5)


def test_hillstrom_visit_rates(hillstrom):
    ctrl = _arm(hillstrom, "No E-Mail", "visit")
    for segment, rate in [("Mens E-Mail", 0.182757), ("Womens E-Mail", 0.151400)]:
        arm = _arm(hillstrom, segment, "visit")
        r = proportion_test(ctrl, arm)
        assert r.control_mean == pytest.approx(0.106167, abs=5e-7)
        assert r.treatment_mean == pytest.approx(rate, abs=5e-7)
        z, p = wald_2indep(arm.sum, arm.n, ctrl.sum, ctrl.n)
        assert r.statistic == pytest.approx(z, rel=1e-10)
        assert r.p_value == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert r.ci_low > 0.3  # e-mail lifts visits by > 30 % in both arms


# --------------------------------------------------------------------------- ratio


def test_ratio_with_unit_denominator_is_the_unequal_variance_z_test():
    rng = np.random.default_rng(5)
    c, t = rng.exponential(3.0, 800), rng.exponential(3.3, 700)
    r = ratio_test(js(c, np.ones_like(c)), js(t, np.ones_like(t)))
    z, p = CompareMeans(DescrStatsW(t), DescrStatsW(c)).ztest_ind(usevar="unequal")
    assert (r.statistic, r.p_value) == pytest.approx((z, p), rel=1e-8)
    lo, hi = CompareMeans(DescrStatsW(t), DescrStatsW(c)).zconfint_diff(usevar="unequal")
    assert (r.abs_ci_low, r.abs_ci_high) == pytest.approx((lo, hi), rel=1e-8)
    assert r.method == "delta-method ratio"


def _orders(rng, n, aov):
    x = rng.poisson(2.0, n) + 1.0  # orders per user (denominator)
    y = np.array([rng.gamma(4.0, aov / 4.0, int(k)).sum() for k in x])  # revenue per user
    return y, x


def test_ratio_variance_matches_linearisation_and_simulation():
    rng = np.random.default_rng(9)
    yc, xc = _orders(rng, 1500, 50.0)
    yt, xt = _orders(rng, 1400, 53.0)
    r = ratio_test(js(yc, xc), js(yt, xt))
    # linearisation: R̂ − R ≈ mean(y − R x) / mean(x), computed on the explicit column
    def var_lin(y, x):
        R = y.sum() / x.sum()
        return np.var(y - R * x, ddof=1) / (y.size * x.mean() ** 2)

    vc, vt = var_lin(yc, xc), var_lin(yt, xt)
    Rc, Rt = yc.sum() / xc.sum(), yt.sum() / xt.sum()
    assert r.control_mean == pytest.approx(Rc) and r.treatment_mean == pytest.approx(Rt)
    assert r.se_absolute == pytest.approx(math.sqrt(vc + vt), rel=1e-9)
    assert r.statistic == pytest.approx((Rt - Rc) / math.sqrt(vc + vt), rel=1e-9)
    assert r.p_value == pytest.approx(2 * sps.norm.sf(abs(r.statistic)), rel=1e-9)
    # sampling distribution of R̂ over replications (vectorised: Poisson orders, gamma sums)
    reps, n = 3000, 1500
    k = rng.poisson(2.0, (reps, n)) + 1
    y = rng.gamma(4.0 * k, 50.0 / 4.0)  # sum of k gamma(4, θ) = gamma(4k, θ)
    ratios = y.sum(axis=1) / k.sum(axis=1)
    assert math.sqrt(vc) == pytest.approx(ratios.std(ddof=1), rel=0.08)


# --------------------------------------------------------------------------- CUPED


def _cuped_data(seed, n_c=3000, n_t=3200, rho=0.7, effect=0.3):
    rng = np.random.default_rng(seed)
    n = n_c + n_t
    x = rng.normal(10.0, 2.0, n)
    noise = rng.normal(0.0, 2.0, n)
    y = 5.0 + rho * (x - 10.0) + math.sqrt(1 - rho**2) * noise  # corr(y, x) = rho, sd(y) = 2
    treat = np.r_[np.zeros(n_c), np.ones(n_t)]
    y = y + effect * treat
    return y, x, treat


@pytest.mark.parametrize("seed", [0, 1])
def test_cuped_matches_explicit_adjusted_column_and_ols(seed):
    y, x, treat = _cuped_data(seed)
    c, t = treat == 0, treat == 1
    res = cuped_test(js(y[c], x[c]), js(y[t], x[t]))
    assert isinstance(res, CupedResult) and res.lift.method == "CUPED Welch"
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert res.theta == pytest.approx(theta, rel=1e-9)
    y_adj = y - theta * (x - x.mean())
    # the Welch test on the explicit adjusted column
    ref = sps.ttest_ind(y_adj[t], y_adj[c], equal_var=False)
    assert res.lift.statistic == pytest.approx(ref.statistic, rel=1e-7)
    assert res.lift.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert res.lift.control_mean == pytest.approx(y_adj[c].mean(), rel=1e-9)
    assert res.lift.treatment_mean == pytest.approx(y_adj[t].mean(), rel=1e-9)
    se = math.sqrt(np.var(y_adj[c], ddof=1) / c.sum() + np.var(y_adj[t], ddof=1) / t.sum())
    assert res.lift.se_absolute == pytest.approx(se, rel=1e-8)
    pooled = lambda v: ((c.sum() - 1) * np.var(v[c], ddof=1) + (t.sum() - 1) * np.var(v[t], ddof=1)) / (y.size - 2)
    assert res.variance_reduction == pytest.approx(1 - pooled(y_adj) / pooled(y), rel=1e-8)
    # OLS y ~ 1 + T + (x − x̄) with HC2 SE: same effect and SE to within a small tolerance
    X = np.column_stack([np.ones_like(y), treat, x - x.mean()])
    ols = sm.OLS(y, X).fit(cov_type="HC2")
    assert res.lift.absolute == pytest.approx(ols.params[1], abs=0.01 * ols.bse[1])
    assert res.lift.se_absolute == pytest.approx(ols.bse[1], rel=0.01)
    assert res.theta == pytest.approx(ols.params[2], rel=0.01)


def test_cuped_variance_reduction_is_rho_squared_deng_2013():
    """Deng et al. (2013): Var(Y_cv) = Var(Y)(1 − ρ²)."""
    rho = 0.7
    y, x, treat = _cuped_data(3, n_c=20000, n_t=20000, rho=rho)
    c, t = treat == 0, treat == 1
    res = cuped_test(js(y[c], x[c]), js(y[t], x[t]))
    assert res.variance_reduction == pytest.approx(rho**2, abs=0.01)
    raw = welch_test(ms(y[c]), ms(y[t]))
    assert res.lift.se_absolute == pytest.approx(raw.se_absolute * math.sqrt(1 - rho**2), rel=0.02)


def test_cuped_with_constant_covariate_is_plain_welch():
    y, _, treat = _cuped_data(4)
    x = np.full_like(y, 3.0)
    c, t = treat == 0, treat == 1
    res = cuped_test(js(y[c], x[c]), js(y[t], x[t]))
    ref = sps.ttest_ind(y[t], y[c], equal_var=False)
    assert res.theta == 0.0 and res.variance_reduction == pytest.approx(0.0, abs=1e-12)
    assert res.lift.p_value == pytest.approx(ref.pvalue, rel=1e-6)


# --------------------------------------------------------------------------- validation


GOOD = MeanStats(100, 30.0, 30.0)
GOOD_J = JointStats(100, 50.0, 80.0, 100.0, 150.0, 70.0)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "0.05", True])
@pytest.mark.parametrize("fn,args", [(proportion_test, (GOOD, GOOD)), (welch_test, (GOOD, GOOD)),
                                     (ratio_test, (GOOD_J, GOOD_J)), (cuped_test, (GOOD_J, GOOD_J))])
def test_bad_alpha(fn, args, alpha):
    with pytest.raises(InputError) as e:
        fn(*args, alpha=alpha)
    assert e.value.field == "alpha"
    assert "alpha: got" in str(e.value)


@pytest.mark.parametrize(
    "control,treatment,field",
    [
        (MeanStats(1, 1.0, 1.0), GOOD, "control.n"),
        (GOOD, MeanStats(0, 0.0, 0.0), "treatment.n"),
        (GOOD, MeanStats(10.5, 1.0, 1.0), "treatment.n"),
        (MeanStats(100, float("nan"), 1.0), GOOD, "control.sum"),
        (MeanStats(100, 1.0, -1.0), GOOD, "control.sum_sq"),
        ((100, 30.0, 30.0), GOOD, "control"),
    ],
)
@pytest.mark.parametrize("fn", [proportion_test, welch_test])
def test_bad_mean_stats(fn, control, treatment, field):
    with pytest.raises(InputError) as e:
        fn(control, treatment)
    assert e.value.field == field


def test_proportion_rejects_non_binomial_counts():
    with pytest.raises(InputError) as e:
        proportion_test(GOOD, MeanStats(10, 11.0, 11.0))
    assert e.value.field == "treatment.sum"


@pytest.mark.parametrize(
    "control,treatment,field",
    [
        (JointStats(100, 5.0, 5.0, 0.0, 0.0, 0.0), GOOD_J, "control.sum_x"),
        (GOOD_J, JointStats(1, 1.0, 1.0, 1.0, 1.0, 1.0), "treatment.n"),
        (GOOD, GOOD_J, "control"),
    ],
)
def test_bad_ratio_inputs(control, treatment, field):
    with pytest.raises(InputError) as e:
        ratio_test(control, treatment)
    assert e.value.field == field


def test_cuped_rejects_bad_inputs():
    with pytest.raises(InputError) as e:
        cuped_test(GOOD_J, JointStats(1, 1.0, 1.0, 1.0, 1.0, 1.0))
    assert e.value.field == "treatment.n"
    flat = cuped_test(JointStats(100, 0.0, 0.0, 100.0, 150.0, 0.0), JointStats(100, 0.0, 0.0, 100.0, 150.0, 0.0))
    assert flat.lift.p_value == 1.0 and np.isnan(flat.lift.relative)


def test_result_is_frozen():
    r = welch_test(GOOD, MeanStats(100, 40.0, 40.0))
    assert isinstance(r, LiftResult)
    with pytest.raises(AttributeError):
        r.p_value = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("fn", [proportion_test, welch_test])
def test_zero_control_mean_leaves_relative_lift_undefined(fn):
    """No conversions in control yet: the absolute test is still valid (as statsmodels'), the
    relative lift is NaN rather than an error."""
    control, treatment = MeanStats(200, 0.0, 0.0), MeanStats(200, 6.0, 6.0)
    r = fn(control, treatment)
    assert np.isnan(r.relative) and np.isnan(r.ci_low) and np.isnan(r.ci_high)
    assert r.absolute == pytest.approx(0.03)
    if fn is proportion_test:
        assert r.p_value == pytest.approx(wald_2indep(6, 200, 0, 200)[1], rel=1e-9)


def test_ratio_with_zero_control_numerator_has_no_relative_lift():
    r = ratio_test(JointStats(100, 0.0, 0.0, 10.0, 10.0, 0.0), GOOD_J)
    assert np.isnan(r.relative) and np.isfinite(r.absolute)


def test_constant_values_have_zero_variance_despite_rounding():
    """Σy² − (Σy)²/n of a constant 0.1 over many users is rounding noise, not variance."""
    ys = np.full(21_307, 0.1)
    s = MeanStats(len(ys), float(np.sum(ys)), float(np.sum(ys * ys)))
    assert s.variance == 0.0
    assert MeanStats(3, 6.0, 14.0).variance == pytest.approx(np.var([1, 2, 3], ddof=1))


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.1, 0.2, 0.5])
def test_two_sided_z_is_scipy_s_normal_quantile(alpha: float) -> None:
    assert two_sided_z(alpha) == pytest.approx(sps.norm.ppf(1 - alpha / 2), rel=1e-15)
    assert two_sided_z(0.05) == pytest.approx(1.959963984540054, rel=1e-15)  # the textbook 1.96
