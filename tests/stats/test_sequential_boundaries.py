"""Group-sequential boundaries against published tables, and crossing probabilities
re-checked with scipy's multivariate normal CDF (independent of the grid integration).

Sources:
* Jennison & Turnbull (2000), *Group Sequential Methods with Applications to Clinical
  Trials*, Table 2.1 (Pocock C_P) and Table 2.3 (O'Brien-Fleming C_B), two-sided α = 0.05.
* Lan-DeMets O'Brien-Fleming-type spending, K = 5, two-sided α = 0.05: R ldbounds
  ``bounds(seq(0.2, 1, 0.2), iuse=c(1, 1), alpha=c(0.025, 0.025))``; gsDesign test.type=2.
* gsDesign reference manual, ``gsDesign()`` default print: k = 3, test.type = 4,
  α = 0.025, β = 0.1, HSD γ = −4 (efficacy) and HSD γ = −2 (β-spending futility).
"""

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from promolab.errors import InputError
from promolab.stats.sequential import classical_boundaries, equally_spaced, gst_boundaries, gst_look


def _corr(t):
    t = np.asarray(t)
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


def mvn_prob_inside(t, lower, upper, drift=0.0):
    """P(lower_j < Z_j < upper_j for all j) with Z ~ N(drift·√t, corr √(t_i/t_j))."""
    t = np.asarray(t, float)
    mvn = multivariate_normal(mean=drift * np.sqrt(t), cov=_corr(t), abseps=1e-7, releps=1e-7, maxpts=200_000 * t.size)
    return mvn.cdf(np.asarray(upper, float), lower_limit=np.asarray(lower, float))


def mvn_cumulative_rejection(t, b, sides):
    lo = -np.asarray(b) if sides == 2 else np.full(len(b), -np.inf)
    return [1 - mvn_prob_inside(t[:k], lo[:k], b[:k]) for k in range(1, len(t) + 1)]


def test_lan_demets_obf_k5_published_per_side():
    design = gst_boundaries(equally_spaced(5), alpha=0.05, spending="obf")
    np.testing.assert_allclose(design.efficacy, [4.877, 3.357, 2.680, 2.290, 2.031], atol=5e-4)
    assert design.convention == "per-side"
    assert design.alpha_spent[-1] == pytest.approx(0.05)


def test_lan_demets_obf_total_convention_is_a_different_design():
    # REFERENCE-VALUES.md: α(t) = 2 − 2Φ(z_{1−α/2}/√t) applied to the two-sided total.
    design = gst_boundaries(equally_spaced(5), alpha=0.05, spending="obf", convention="total")
    np.testing.assert_allclose(design.efficacy, [4.383, 3.100, 2.553, 2.254, 2.064], atol=5e-4)


@pytest.mark.parametrize(
    "k, pocock, obf",
    [(1, 1.960, 1.960), (2, 2.178, 1.977), (3, 2.289, 2.004), (4, 2.361, 2.024), (5, 2.413, 2.040)],
)
def test_classical_constants_jennison_turnbull_tables_2_1_and_2_3(k, pocock, obf):
    t = equally_spaced(k)
    p = classical_boundaries(t, alpha=0.05, kind="pocock")
    o = classical_boundaries(t, alpha=0.05, kind="obf")
    assert p.efficacy == pytest.approx([pocock] * k, abs=5e-4)
    assert o.efficacy[-1] == pytest.approx(obf, abs=5e-4)  # C_B; b_k = C_B·√(K/k)
    # the published constants themselves give size α under scipy's MVN
    assert 1 - mvn_prob_inside(t, [-pocock] * k, [pocock] * k) == pytest.approx(0.05, abs=3e-4)
    b = obf * np.sqrt(k / np.arange(1, k + 1))
    assert 1 - mvn_prob_inside(t, -b, b) == pytest.approx(0.05, abs=3e-4)


@pytest.mark.parametrize(
    "fractions, spending, sides, kwargs",
    [
        (equally_spaced(5), "obf", 2, {}),
        ((0.25, 0.6, 0.8, 1.0), "pocock", 2, {}),
        ((0.3, 0.55, 1.0), "hsd", 1, {"gamma": -4.0}),
        ((0.1, 0.5, 0.7, 1.0), "power", 2, {"rho": 2.0}),
        ((0.2, 0.45, 0.9), "obf", 1, {}),
    ],
)
def test_crossing_probabilities_under_h0_match_scipy_mvn(fractions, spending, sides, kwargs):
    design = gst_boundaries(fractions, alpha=0.05, spending=spending, sides=sides, **kwargs)
    got = mvn_cumulative_rejection(design.information_fractions, design.efficacy, sides)
    np.testing.assert_allclose(got, design.alpha_spent, atol=2e-5)


def test_gsdesign_default_design_with_non_binding_futility():
    d = gst_boundaries(
        equally_spaced(3), alpha=0.025, spending="hsd", gamma=-4, sides=1, futility="hsd", beta=0.1, futility_gamma=-2
    )
    np.testing.assert_allclose(d.efficacy, [3.01, 2.55, 2.00], atol=5e-3)
    np.testing.assert_allclose(d.futility, [-0.24, 0.94, 2.00], atol=5e-3)
    np.testing.assert_allclose(d.nominal_p, [0.0013, 0.0054, 0.0228], atol=5e-5)
    assert d.inflation_factor(0.9) == pytest.approx(1.070, abs=5e-4)  # "Sample Size Ratio" at analysis 3
    h1 = np.diff([0.0, *d.power(d.design_drift).cumulative_power])
    np.testing.assert_allclose(h1, [0.1412, 0.4403, 0.3185], atol=5e-5)
    h0 = np.diff([0.0, *d.power(0.0).cumulative_power])  # futility obeyed
    np.testing.assert_allclose(h0, [0.0013, 0.0049, 0.0171], atol=5e-5)


def test_power_and_inflation_factor_agree_with_scipy_mvn():
    design = classical_boundaries(equally_spaced(4), kind="pocock")
    drift = design.drift_for_power(0.8)
    b = np.asarray(design.efficacy)
    # two-sided rejection probability at the drift, from the MVN
    assert 1 - mvn_prob_inside(design.information_fractions, -b, b, drift) == pytest.approx(0.8, abs=1e-4)
    fixed = norm.isf(0.025) + norm.ppf(0.8)
    assert design.inflation_factor(0.8) == pytest.approx((drift / fixed) ** 2)
    power = design.power(drift)
    assert np.all(np.diff(power.cumulative_power) > 0)
    assert 0.5 < power.expected_information_fraction < 1.0


def test_single_look_is_the_fixed_sample_test():
    d = gst_boundaries([1.0], alpha=0.05)
    assert d.efficacy[0] == pytest.approx(norm.isf(0.025), abs=1e-8)
    assert d.inflation_factor(0.8) == pytest.approx(1.0, abs=1e-6)


def test_unplanned_looks_recompute_from_observed_information():
    planned = gst_boundaries(equally_spaced(5))
    look3 = gst_look(2.5, 0.6, previous_fractions=[0.2, 0.4], planned_looks=5)
    assert look3.boundary == pytest.approx(planned.efficacy[2], abs=1e-9)
    assert look3.crossed is False and look3.look == 3
    look = gst_look(-2.8, 0.63, previous_fractions=[0.18, 0.41], planned_looks=5)
    assert look.crossed is (abs(-2.8) >= look.boundary)
    got = mvn_cumulative_rejection(look.design.information_fractions, look.design.efficacy, 2)
    np.testing.assert_allclose(got, look.design.alpha_spent, atol=2e-5)


def test_last_planned_look_spends_all_alpha_even_short_of_full_information():
    final = gst_look(2.0, 0.9, previous_fractions=[0.35, 0.7], planned_looks=3)
    assert final.alpha_spent == pytest.approx(0.05)
    d = final.design
    size = 1 - mvn_prob_inside(d.information_fractions, -np.array(d.efficacy), d.efficacy)
    assert size == pytest.approx(0.05, abs=2e-5)


def test_look_beyond_plan_needs_a_replan():
    with pytest.raises(InputError, match="look: got 4, expected at most planned_looks = 3"):
        gst_look(1.0, 0.95, previous_fractions=[0.3, 0.6, 0.9], planned_looks=3)


@pytest.mark.parametrize(
    "fractions, match",
    [
        ([0.5, 0.4, 1.0], "strictly increasing"),
        ([0.5, 0.5], "strictly increasing"),
        ([0.0, 1.0], r"in \(0, 1\]"),
        ([0.5, 1.2], r"in \(0, 1\]"),
        ([], "K >= 1"),
    ],
)
def test_bad_information_fractions(fractions, match):
    with pytest.raises(InputError, match=rf"information_fractions: got .*{match}"):
        gst_boundaries(fractions)


def test_other_bad_input():
    with pytest.raises(InputError, match="alpha: got 1.0"):
        gst_boundaries([0.5, 1.0], alpha=1.0)
    with pytest.raises(InputError, match="looks: got 0"):
        equally_spaced(0)
    with pytest.raises(InputError, match="sides: got 3"):
        gst_boundaries([1.0], sides=3)
    with pytest.raises(InputError, match="convention: got 'both'"):
        gst_boundaries([1.0], convention="both")
    with pytest.raises(InputError, match="futility"):
        gst_boundaries([0.5, 1.0], futility="hsd", sides=2)
    with pytest.raises(InputError, match="planned_looks: got 0"):
        gst_look(1.0, 0.5, planned_looks=0)
