"""Asymptotic confidence sequences (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas 2023,
arXiv:2103.06476, eq. 9 and the ρ choice of eq. 161), parameterised as in GrowthBook's
gbstats (sequential tuning parameter N* = 5000, n = n_C + n_T)."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from promolab.errors import InputError
from promolab.stats.sequential.confseq import confidence_sequence, cs_halfwidth, rho_for_sample_size
from promolab.stats.sufficient import MeanStats


def test_rho_for_growthbook_default():
    la = -2 * math.log(0.05)
    assert rho_for_sample_size(5000, 0.05) == pytest.approx(math.sqrt((la + math.log(la + 1)) / 5000))
    assert rho_for_sample_size(5000, 0.05) == pytest.approx(0.039840, abs=1e-6)


@pytest.mark.parametrize("n_opt", [1_000, 5_000, 100_000])
def test_sequence_is_tightest_near_n_opt(n_opt):
    rho = rho_for_sample_size(n_opt)
    best = minimize_scalar(lambda r: cs_halfwidth(1.0, n_opt, 0.05, r), bounds=(rho / 10, rho * 10), method="bounded")
    assert cs_halfwidth(1.0, n_opt, 0.05, rho) == pytest.approx(best.fun, rel=1e-4)


def test_absolute_and_relative_intervals():
    control, treatment = MeanStats(21306, 13908.8, 1.0e6), MeanStats(21307, 30311.1, 2.1e6)
    r = confidence_sequence(control, treatment, alpha=0.05, n_opt=5000)
    v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
    n = control.n + treatment.n
    rho = rho_for_sample_size(5000)
    a = n * rho**2 + 1
    half = math.sqrt((v_c + v_t) * n) * math.sqrt(2 * a / (n**2 * rho**2) * math.log(math.sqrt(a) / 0.05))
    assert r.absolute_interval == pytest.approx((r.absolute_lift - half, r.absolute_lift + half))
    fixed = norm.isf(0.025) * math.sqrt(v_c + v_t)
    assert half > fixed  # always-valid costs width
    mc, mt = control.mean, treatment.mean
    rel_half = half * math.sqrt(v_t / mc**2 + mt**2 * v_c / mc**4) / math.sqrt(v_c + v_t)
    assert r.relative_lift == pytest.approx(mt / mc - 1)
    assert r.relative_interval == pytest.approx((r.relative_lift - rel_half, r.relative_lift + rel_half))


def test_zero_control_mean_has_no_relative_interval():
    r = confidence_sequence(MeanStats(100, 0, 0), MeanStats(100, 3, 3))
    assert r.relative_lift is None and r.relative_interval is None


def test_time_uniform_coverage_in_aa_tests():
    runs, looks, batch, alpha = 2000, 40, 250, 0.05
    rng = np.random.default_rng(3)
    # per-look batch sums of Bernoulli(0.1) per arm: the same sufficient statistics SQL would return
    conv = rng.binomial(batch, 0.1, size=(2, runs, looks)).cumsum(axis=2)
    n_arm = batch * np.arange(1, looks + 1)
    p = conv / n_arm
    var = (p * (1 - p)).sum(axis=0) / n_arm * n_arm / (n_arm - 1)
    half = cs_halfwidth(var, 2 * n_arm, alpha, rho_for_sample_size(5000, alpha))
    miss = (np.abs(p[1] - p[0]) > half).any(axis=1).mean()
    assert miss <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_bad_input():
    c = MeanStats(100, 10, 10)
    with pytest.raises(InputError, match="alpha: got 2"):
        confidence_sequence(c, c, alpha=2)
    with pytest.raises(InputError, match="n_opt: got 0"):
        confidence_sequence(c, c, n_opt=0)
    with pytest.raises(InputError, match="rho: got -0.1"):
        confidence_sequence(c, c, rho=-0.1)
    with pytest.raises(InputError, match="treatment.n: got 1"):
        confidence_sequence(c, MeanStats(1, 1, 1))
