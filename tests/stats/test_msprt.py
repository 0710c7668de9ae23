"""mSPRT of Johari, Pekelis & Walsh (2017), "Always valid inference: continuous monitoring
of A/B tests" (arXiv:1512.04922): the closed-form mixture likelihood ratio for the normal
two-stream case, always-valid p-values and intervals, and type I error under continuous
monitoring by simulation."""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from promolab.errors import InputError
from promolab.stats.sequential.msprt import (
    always_valid_p_values,
    log_mixture_likelihood_ratio,
    msprt_halfwidth,
    msprt_test,
    tau2_for_horizon,
)
from promolab.stats.sufficient import MeanStats


def stats_of(y):
    y = np.asarray(y, float)
    return MeanStats(y.size, float(y.sum()), float((y * y).sum()))


def test_closed_form_is_the_papers_two_stream_formula():
    # JPW (2017), two-sample normal case with n per arm and known σ²:
    # Λ_n = √(2σ²/(2σ²+nτ²)) · exp(n²τ²(ȳ−x̄−θ0)² / (4σ²(2σ²+nτ²)))
    sigma2, n, tau2, d = 1.7, 400, 0.04, 0.21
    paper = math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
        n**2 * tau2 * d**2 / (4 * sigma2 * (2 * sigma2 + n * tau2))
    )
    assert math.exp(log_mixture_likelihood_ratio(d, 2 * sigma2 / n, tau2)) == pytest.approx(paper, rel=1e-12)


def test_closed_form_equals_the_mixture_integral():
    # Λ = ∫ f_θ(d)/f_0(d) dN(0, τ²)(θ) for an estimate d ~ N(θ, V)
    d, v, tau2 = 0.03, 2e-4, 4e-4
    def integrand(th):
        return norm.pdf(d, th, math.sqrt(v)) / norm.pdf(d, 0, math.sqrt(v)) * norm.pdf(th, 0, math.sqrt(tau2))

    numeric, _ = integrate.quad(integrand, -1, 1, points=[0, d], epsabs=1e-13)
    assert math.exp(log_mixture_likelihood_ratio(d, v, tau2)) == pytest.approx(numeric, rel=1e-8)


def test_interval_endpoints_are_where_lambda_hits_one_over_alpha():
    d, v, tau2, alpha = 0.01, 1e-5, 3e-5, 0.05
    half = msprt_halfwidth(v, tau2, alpha)
    for theta0 in (d - half, d + half):
        assert log_mixture_likelihood_ratio(d, v, tau2, theta0) == pytest.approx(math.log(1 / alpha), rel=1e-10)


def test_msprt_test_binomial_matches_formula_and_duality():
    control, treatment = MeanStats(21306, 2262, 2262), MeanStats(21307, 3894, 3894)  # Hillstrom visits
    r = msprt_test(control, treatment, kind="binomial", tau2=1e-4)
    pc, pt = 2262 / 21306, 3894 / 21307
    v = pc * (1 - pc) / 21306 + pt * (1 - pt) / 21307
    assert r.variance == pytest.approx(v)
    assert r.p_value == pytest.approx(min(1.0, 1 / math.exp(log_mixture_likelihood_ratio(pt - pc, v, 1e-4))))
    assert r.significant and not (r.interval[0] <= 0 <= r.interval[1])
    null = msprt_test(MeanStats(1000, 100, 100), MeanStats(1000, 103, 103), kind="binomial", tau2=1e-4)
    assert null.p_value == 1.0 and null.interval[0] < 0 < null.interval[1] and not null.significant


def test_running_minimum_and_intersection():
    c, t = MeanStats(500, 50, 50), MeanStats(500, 70, 70)
    first = msprt_test(c, t, kind="binomial", tau2=1e-3)
    later = msprt_test(MeanStats(1000, 110, 110), MeanStats(1000, 112, 112), kind="binomial", tau2=1e-3,
                       previous_p_value=first.p_value, previous_interval=first.interval)
    assert later.p_value <= first.p_value
    assert first.interval[0] <= later.interval[0] and later.interval[1] <= first.interval[1]


def test_default_tau_is_five_percent_of_control_mean():
    rng = np.random.default_rng(1)
    c, t = stats_of(rng.normal(20, 5, 300)), stats_of(rng.normal(20, 5, 300))
    assert msprt_test(c, t, kind="mean").tau2 == pytest.approx((0.05 * c.mean) ** 2)


def test_tau2_for_horizon_gives_the_narrowest_interval_there():
    v_h, alpha = 3e-6, 0.05
    tau2 = tau2_for_horizon(v_h, alpha)
    r = tau2 / v_h
    assert r == pytest.approx(2 * math.log(1 / alpha) + math.log1p(r))
    width = msprt_halfwidth(v_h, tau2, alpha)
    assert width < msprt_halfwidth(v_h, tau2 * 1.2, alpha) and width < msprt_halfwidth(v_h, tau2 / 1.2, alpha)


def test_type_one_error_under_continuous_monitoring():
    # Normal A/A, known σ = 1, a decision after every pair of users for 1,000 pairs.
    runs, pairs, alpha = 2000, 1000, 0.05
    rng = np.random.default_rng(7)
    n = np.arange(1, pairs + 1)
    diff = np.cumsum(rng.standard_normal((runs, pairs)) * math.sqrt(2.0), axis=1) / n
    p = always_valid_p_values(diff, 2.0 / n, tau2=tau2_for_horizon(2.0 / pairs, alpha))
    assert np.all(np.diff(p, axis=1) <= 0)
    rate = (p[:, -1] <= alpha).mean()
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
    naive = (np.abs(diff / np.sqrt(2.0 / n)) >= norm.isf(alpha / 2)).any(axis=1).mean()
    assert naive > 3 * alpha  # the same data, peeked at with a fixed-horizon test


def test_bad_input():
    c = MeanStats(100, 10, 10)
    with pytest.raises(InputError, match="kind: got 'ratio'"):
        msprt_test(c, c, kind="ratio")
    with pytest.raises(InputError, match="control.n: got 1"):
        msprt_test(MeanStats(1, 1, 1), c, kind="binomial")
    with pytest.raises(InputError, match="treatment.sum: got 150"):
        msprt_test(c, MeanStats(100, 150, 150), kind="binomial")
    with pytest.raises(InputError, match="tau2: got -1"):
        msprt_test(c, c, kind="binomial", tau2=-1)
    with pytest.raises(InputError, match="alpha: got 0"):
        msprt_test(c, c, kind="binomial", alpha=0)
    with pytest.raises(InputError, match="tau2: got None"):
        msprt_test(MeanStats(10, 0, 1), MeanStats(10, 0, 1), kind="mean")
