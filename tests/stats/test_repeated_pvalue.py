"""Group-sequential repeated p-values (Jennison & Turnbull 2000, §9.1; Maurer & Bretz 2013).

Independent values:
* fixed-sample two-sided p 2(1 − Φ(|z|)) from scipy;
* Lan-DeMets O'Brien-Fleming-type boundaries, K = 5 equally spaced, two-sided α = 0.05
  (/work/shared/REFERENCE-VALUES.md): per side (R ldbounds ``bounds(seq(0.2, 1, 0.2),
  iuse=c(1, 1), alpha=c(0.025, 0.025))``, gsDesign test.type = 2) 4.877, 3.357, 2.680,
  2.290, 2.031; "total" convention 4.383, 3.100, 2.553, 2.254, 2.064. A published boundary
  b_k at α means the repeated p-value at look k is α at |z| = b_k;
* the size of the test "reject at look k when p_k ≤ α", from scipy's multivariate normal
  CDF, against the spending function written out here.

No published Lan-DeMets Pocock-type table is on hand (2.413 in REFERENCE-VALUES.md is the
classical Pocock constant, a different design), so Pocock-type spending is checked with the
multivariate normal only.
"""

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import multivariate_normal, norm

from promolab.errors import InputError
from promolab.stats.sequential import gst_look, gst_repeated_p_value

EQUAL5 = [0.2, 0.4, 0.6, 0.8, 1.0]


def fixed_p(z):
    return 2 * norm.sf(abs(z))


def _corr(t):
    t = np.asarray(t)
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


def mvn_prob_inside(t, b):
    """P(|Z_j| < b_j for all j) under H0, Z ~ N(0, corr √(t_i/t_j))."""
    t, b = np.asarray(t, float), np.asarray(b, float)
    mvn = multivariate_normal(mean=np.zeros(t.size), cov=_corr(t), abseps=1e-7, releps=1e-7, maxpts=200_000 * t.size)
    return mvn.cdf(b, lower_limit=-b)


# ----------------------------------------------------------------- one look = fixed sample
@pytest.mark.parametrize("z", [0.05, -0.7, 1.0, 1.959964, -2.5, 3.2, 4.5, -6.0, 7.0])
def test_single_look_at_full_information_is_the_fixed_sample_p(z):
    for spending in ("obf", "pocock", "hsd", "power"):
        assert gst_repeated_p_value(z, 1.0, [], 1, spending) == pytest.approx(fixed_p(z), rel=1e-8)


# ------------------------------------------------------------------- published boundaries
PER_SIDE = [4.877, 3.357, 2.680, 2.290, 2.031]
TOTAL = [4.383, 3.100, 2.553, 2.254, 2.064]


@pytest.mark.parametrize("convention, published", [("per-side", PER_SIDE), ("total", TOTAL)])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_published_obf_boundaries_are_where_the_repeated_p_is_alpha(convention, published, k):
    t, prev, b = EQUAL5[k - 1], EQUAL5[: k - 1], published[k - 1]

    def p(z):
        return gst_repeated_p_value(z, t, prev, 5, "obf", convention=convention)

    # the published boundary is rounded to 3 decimals: the true one is in [b − 5e-4, b + 5e-4]
    assert p(b + 5e-4) < 0.05 < p(b - 5e-4)
    assert p(b) == pytest.approx(0.05, rel=2e-3)
    assert p(-b) == p(b)
    assert p(b + 0.01) < 0.05 < p(b - 0.01)


def test_brief_examples_look_5_and_look_1():
    assert gst_repeated_p_value(2.031, 1.0, [0.2, 0.4, 0.6, 0.8], 5) == pytest.approx(0.05, abs=1e-4)
    assert gst_repeated_p_value(4.877, 0.2, [], 5) == pytest.approx(0.05, abs=1e-4)


# --------------------------------------------------------------------- decision identity
DESIGNS = [
    ([], 1.0, 1),
    ([], 0.2, 5),
    ([0.2], 0.4, 5),
    ([0.2, 0.4, 0.6, 0.8], 1.0, 5),
    ([0.15, 0.5], 0.9, 3),  # last planned look short of full information
    ([0.3], 0.62, 4),  # unplanned timing
    ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], 1.0, 10),
]
SPENDINGS = [("obf", {}), ("pocock", {}), ("hsd", {"gamma": -4.0}), ("hsd", {"gamma": 1.0}), ("power", {"rho": 2.0})]
ZS = [0.0, 0.4, 1.0, 1.7, 1.96, 2.3, 2.6, 3.1, -3.6, 4.4, 5.5, -7.0, 9.0]
ALPHAS = [1e-4, 0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.8]


@pytest.mark.parametrize("spending, kwargs", SPENDINGS)
@pytest.mark.parametrize("convention", ["per-side", "total"])
@pytest.mark.parametrize("prev, t, looks", DESIGNS)
def test_decision_identity_with_gst_look(spending, kwargs, convention, prev, t, looks):
    def p(z):
        return gst_repeated_p_value(z, t, prev, looks, spending, convention=convention, **kwargs)

    def crossed(z, alpha):
        return gst_look(z, t, prev, looks, alpha, spending, convention=convention, **kwargs).crossed

    ps = {z: p(z) for z in ZS}
    for alpha in ALPHAS:
        boundary = gst_look(0.0, t, prev, looks, alpha, spending, convention=convention, **kwargs).boundary
        for z in ZS:  # gst_look's crossed is |z| >= boundary
            assert (abs(z) >= boundary) == (ps[z] <= alpha), (z, alpha, ps[z], boundary)
        if alpha in (0.001, 0.05, 0.3) and np.isfinite(boundary):  # just either side of the boundary
            for z in (boundary * (1 + 1e-7), -boundary * (1 - 1e-7)):
                assert crossed(z, alpha) == (p(z) <= alpha), (z, alpha, p(z), boundary)


# ----------------------------------------------------------------------------- monotone
@pytest.mark.parametrize("spending", ["obf", "pocock", "hsd", "power"])
@pytest.mark.parametrize("prev, t, looks", [([], 0.2, 5), ([0.2, 0.4], 0.6, 5), ([0.25, 0.5, 0.75], 1.0, 4)])
def test_larger_abs_z_never_gives_a_larger_p(spending, prev, t, looks):
    zs = np.linspace(0.0, 9.0, 61)
    ps = np.array([gst_repeated_p_value(z, t, prev, looks, spending) for z in zs])
    assert np.all(np.diff(ps) <= 0.0)
    assert np.all((ps > 0.0) & (ps <= 1.0))
    assert ps[0] == 1.0 and ps[-1] < 1e-3
    assert [gst_repeated_p_value(-z, t, prev, looks, spending) for z in zs[::10]] == list(ps[::10])


# ------------------------------------------------------------------------ final-look bound
@pytest.mark.parametrize("spending", ["obf", "pocock", "hsd", "power"])
@pytest.mark.parametrize("convention", ["per-side", "total"])
@pytest.mark.parametrize("prev, t, looks", [([0.5], 1.0, 2), ([0.2, 0.4, 0.6, 0.8], 1.0, 5), ([0.35, 0.7], 0.9, 3)])
def test_repeated_p_at_the_last_look_is_at_least_the_fixed_sample_p(spending, convention, prev, t, looks):
    for z in [0.3, 1.0, 1.8, 2.2, 2.8, 3.5, 4.5, 6.0]:
        p = gst_repeated_p_value(z, t, prev, looks, spending, convention=convention)
        assert p >= fixed_p(z) * (1 - 1e-9)
    # and it is strictly larger once earlier looks have spent some α
    assert gst_repeated_p_value(2.5, t, prev, looks, spending, convention=convention) > fixed_p(2.5) * 1.001


# ------------------------------------------- validity: size of "reject when p_k ≤ α" is α
def _obf_per_side(t, alpha):
    return 2 * norm.sf(norm.isf(alpha / 4) / np.sqrt(t))  # α/2 per side, ldbounds convention


def _pocock_per_side(t, alpha):
    return alpha / 2 * np.log1p((np.e - 1) * np.asarray(t))


@pytest.mark.parametrize(
    "spending, spend, fractions", [("obf", _obf_per_side, EQUAL5), ("pocock", _pocock_per_side, [0.15, 0.45, 0.7, 1.0])]
)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_rejecting_when_repeated_p_at_most_alpha_has_size_alpha_scipy_mvn(spending, spend, fractions, alpha):
    # the |z| at which p_k = α, found from the repeated p-value alone, is the level-α boundary
    looks = len(fractions)
    b = [
        brentq(
            lambda z, k=k: gst_repeated_p_value(z, fractions[k], fractions[:k], looks, spending) - alpha,
            0.5,
            9.0,
            xtol=1e-10,
        )
        for k in range(looks)
    ]
    cumulative = [1 - mvn_prob_inside(fractions[: k + 1], b[: k + 1]) for k in range(looks)]
    np.testing.assert_allclose(cumulative, 2 * spend(np.asarray(fractions), alpha), atol=3e-5)
    assert cumulative[-1] == pytest.approx(alpha, abs=3e-5)


# ------------------------------------------------------------------------------- the ends
def test_single_look_floor_and_non_finite_z():
    floor = gst_repeated_p_value(np.inf, 1.0, [], 1)
    assert 0.0 < floor <= 1e-14
    assert gst_repeated_p_value(-np.inf, 1.0, [], 1) == floor
    assert gst_repeated_p_value(40.0, 1.0, [], 1) == floor
    assert np.isnan(gst_repeated_p_value(np.nan, 1.0, [], 1))
    assert gst_repeated_p_value(0.0, 1.0, [], 1) == 1.0


def test_early_obf_look_floor_is_the_smallest_level_with_a_finite_boundary():
    # OBF-type look 1 of 5: the boundary code gives no boundary (z = +inf) when the per-side
    # spend 2Φ̄(z_{1−α/4}/√0.2) is ≤ 1e-15, i.e. for α below 4Φ̄(√0.2 · z_{1−5e-16}).
    alpha_min = 4 * norm.sf(np.sqrt(0.2) * norm.isf(5e-16))
    floor = gst_repeated_p_value(np.inf, 0.2, [], 5)
    assert floor == pytest.approx(alpha_min, rel=1e-6)
    assert gst_repeated_p_value(12.0, 0.2, [], 5) == floor
    assert gst_look(12.0, 0.2, [], 5, alpha=floor * 1.001).crossed
    assert not gst_look(12.0, 0.2, [], 5, alpha=floor * 0.999).crossed
    # small |z| at an early look does not cross at any level
    assert gst_repeated_p_value(0.8, 0.2, [], 5) == 1.0


def test_bad_input():
    with pytest.raises(InputError, match="looks: got 0"):
        gst_repeated_p_value(1.0, 0.5, [], 0)
    with pytest.raises(InputError, match="look: got 3, expected at most looks = 2"):
        gst_repeated_p_value(1.0, 0.9, [0.3, 0.6], 2)
    with pytest.raises(InputError, match="spending"):
        gst_repeated_p_value(1.0, 0.5, [], 2, "linear")
    with pytest.raises(InputError, match="convention"):
        gst_repeated_p_value(1.0, 0.5, [], 2, convention="both")
    with pytest.raises(InputError, match="information_fractions"):
        gst_repeated_p_value(1.0, 0.4, [0.5], 3)
    with pytest.raises(InputError, match="z: got"):
        gst_repeated_p_value("2.0", 0.5, [], 2)
