"""Chance to win and expected loss vs closed forms, numerical integration and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as sps
from scipy.special import betaln, logsumexp

from promolab.errors import InputError
from promolab.stats import JointStats, MeanStats, chance_to_win, expected_loss


def ms(y) -> MeanStats:
    y = np.asarray(y, dtype=float)
    return MeanStats(int(y.size), float(y.sum()), float((y * y).sum()))


def binom(n: int, s: int) -> MeanStats:
    return MeanStats(n, float(s), float(s))


def evan_miller(a_t, b_t, a_c, b_c) -> float:
    """P(p_t > p_c), Beta posteriors, closed form (Evan Miller, "Formulas for Bayesian A/B testing")."""
    i = np.arange(int(a_t))
    log_terms = betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - betaln(1 + i, b_t) - betaln(a_c, b_c)
    return float(np.exp(logsumexp(log_terms)))


CASES = [  # (n_c, s_c, n_t, s_t)
    (1000, 100, 1000, 120),
    (40, 3, 35, 1),
    (200, 0, 180, 0),
    (21306, 2262, 21307, 3894),
    (50000, 2500, 48000, 2460),
    (100, 40, 100000, 39500),  # very different posterior widths
]


@pytest.mark.parametrize("n_c,s_c,n_t,s_t", CASES)
def test_binomial_chance_to_win_matches_closed_form(n_c, s_c, n_t, s_t):
    p = chance_to_win(binom(n_c, s_c), binom(n_t, s_t), "binomial")
    ref = evan_miller(1 + s_t, 1 + n_t - s_t, 1 + s_c, 1 + n_c - s_c)
    assert p == pytest.approx(ref, rel=1e-7, abs=1e-10)
    down = chance_to_win(binom(n_c, s_c), binom(n_t, s_t), "binomial", direction="decrease")
    assert down == pytest.approx(1 - ref, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("n_c,s_c,n_t,s_t", CASES[:3] + CASES[4:])
def test_binomial_against_monte_carlo(n_c, s_c, n_t, s_t):
    rng = np.random.default_rng(1)
    m = 1_000_000
    pc = rng.beta(1 + s_c, 1 + n_c - s_c, m)
    pt = rng.beta(1 + s_t, 1 + n_t - s_t, m)
    c, t = binom(n_c, s_c), binom(n_t, s_t)
    assert chance_to_win(c, t, "binomial") == pytest.approx((pt > pc).mean(), abs=0.002)
    loss_inc = np.maximum(pc - pt, 0).mean()
    loss_dec = np.maximum(pt - pc, 0).mean()
    se = np.maximum(pc - pt, 0).std() / math.sqrt(m)
    assert expected_loss(c, t, "binomial") == pytest.approx(loss_inc, abs=5 * se + 1e-9)
    se = np.maximum(pt - pc, 0).std() / math.sqrt(m)
    assert expected_loss(c, t, "binomial", "decrease") == pytest.approx(loss_dec, abs=5 * se + 1e-9)


def test_binomial_loss_against_double_integral():
    a_c, b_c, a_t, b_t = 1 + 30, 1 + 170, 1 + 24, 1 + 176
    ref, _ = integrate.dblquad(
        lambda t, c: (c - t) * sps.beta.pdf(c, a_c, b_c) * sps.beta.pdf(t, a_t, b_t),
        0, 1, 0, lambda c: c, epsabs=1e-12,
    )
    assert expected_loss(binom(200, 30), binom(200, 24), "binomial") == pytest.approx(ref, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5000), st.floats(0, 1), st.integers(2, 5000), st.floats(0, 1))
def test_binomial_identities(n_c, fc, n_t, ft):
    """P(T>C) + P(T<C) = 1 and E[max(C−T,0)] − E[max(T−C,0)] = E[C] − E[T]."""
    s_c, s_t = round(fc * n_c), round(ft * n_t)
    c, t = binom(n_c, s_c), binom(n_t, s_t)
    up = chance_to_win(c, t, "binomial")
    down = chance_to_win(c, t, "binomial", "decrease")
    assert 0.0 <= up <= 1.0
    assert up + down == pytest.approx(1.0, abs=1e-8)
    li, ld = expected_loss(c, t, "binomial"), expected_loss(c, t, "binomial", "decrease")
    assert li >= 0 and ld >= 0
    mu_c, mu_t = (1 + s_c) / (2 + n_c), (1 + s_t) / (2 + n_t)
    assert li - ld == pytest.approx(mu_c - mu_t, abs=1e-8)


def test_binomial_symmetry():
    c, t = binom(500, 60), binom(500, 75)
    assert chance_to_win(c, t, "binomial") == pytest.approx(chance_to_win(t, c, "binomial", "decrease"), abs=1e-12)
    assert chance_to_win(c, c, "binomial") == pytest.approx(0.5, abs=1e-9)


# --------------------------------------------------------------------------- normal approximation


def test_mean_chance_to_win_and_loss_from_raw_data():
    rng = np.random.default_rng(4)
    c, t = rng.exponential(10.0, 2000), rng.exponential(10.4, 2100)
    delta = t.mean() - c.mean()
    se = math.sqrt(c.var(ddof=1) / c.size + t.var(ddof=1) / t.size)
    p = chance_to_win(ms(c), ms(t), "mean")
    assert p == pytest.approx(sps.norm.cdf(delta / se), rel=1e-10)
    assert chance_to_win(ms(c), ms(t), "mean", "decrease") == pytest.approx(1 - p, rel=1e-10)
    # loss: numerical integral of E[max(−D, 0)] and Monte Carlo for D ~ N(δ, se²)
    ref, _ = integrate.quad(lambda d: -d * sps.norm.pdf(d, delta, se), -np.inf, 0)
    assert expected_loss(ms(c), ms(t), "mean") == pytest.approx(ref, rel=1e-7)
    ref_dec, _ = integrate.quad(lambda d: d * sps.norm.pdf(d, delta, se), 0, np.inf)
    assert expected_loss(ms(c), ms(t), "mean", "decrease") == pytest.approx(ref_dec, rel=1e-7)
    draws = np.random.default_rng(0).normal(delta, se, 2_000_000)
    assert expected_loss(ms(c), ms(t), "mean") == pytest.approx(np.maximum(-draws, 0).mean(), rel=0.01)


def test_ratio_kind_uses_delta_method_with_joint_stats():
    rng = np.random.default_rng(8)

    def arm(n, aov):
        x = rng.poisson(1.5, n) + 1.0
        y = rng.gamma(4.0 * x, aov / 4.0)
        return y, x

    (yc, xc), (yt, xt) = arm(3000, 40.0), arm(3000, 41.0)

    def js(y, x):
        return JointStats(y.size, y.sum(), y @ y, x.sum(), x @ x, x @ y)

    def r_var(y, x):  # linearisation on the explicit column
        R = y.sum() / x.sum()
        return R, np.var(y - R * x, ddof=1) / (y.size * x.mean() ** 2)

    (rc, vc), (rt, vt) = r_var(yc, xc), r_var(yt, xt)
    z = (rt - rc) / math.sqrt(vc + vt)
    assert chance_to_win(js(yc, xc), js(yt, xt), "ratio") == pytest.approx(sps.norm.cdf(z), rel=1e-8)
    # a MeanStats with kind="ratio" is read as a per-user mean
    assert chance_to_win(ms(yc), ms(yt), "ratio") == pytest.approx(chance_to_win(ms(yc), ms(yt), "mean"))


def test_zero_variance_normal():
    c, t = MeanStats(10, 10.0, 10.0), MeanStats(10, 20.0, 40.0)
    assert chance_to_win(c, t, "mean") == 1.0
    assert expected_loss(c, t, "mean") == 0.0
    assert expected_loss(c, t, "mean", "decrease") == pytest.approx(1.0)
    assert chance_to_win(c, c, "mean") == 0.5


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("fn", [chance_to_win, expected_loss])
def test_validation(fn):
    c = binom(100, 10)
    with pytest.raises(InputError) as e:
        fn(c, c, "poisson")
    assert e.value.field == "kind"
    with pytest.raises(InputError) as e:
        fn(c, c, "mean", direction="up")
    assert e.value.field == "direction"
    with pytest.raises(InputError) as e:
        fn(c, binom(10, 11), "binomial")
    assert e.value.field == "treatment.sum"
    with pytest.raises(InputError) as e:
        fn(binom(1, 0), c, "binomial")
    assert e.value.field == "control.n"
    j = JointStats(100, 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(InputError) as e:
        fn(j, j, "binomial")
    assert e.value.field == "control"
    with pytest.raises(InputError) as e:
        fn(j, c, "mean")
    assert e.value.field == "control"
    with pytest.raises(InputError) as e:
        fn(JointStats(100, 1.0, 1.0, 0.0, 0.0, 0.0), j, "ratio")
    assert e.value.field == "control.sum_x"


def _adaptive_reference(x, y, loss: bool) -> float:
    """The previous implementation's integral (scipy.integrate.quad on frozen scipy.stats Beta
    distributions, adaptive, over the bulk of the narrower posterior): P(X > Y) or
    E[max(X − Y, 0)] for X ~ Beta(x), Y ~ Beta(y)."""
    bx, by = sps.beta(*x), sps.beta(*y)
    narrow, wide = (bx, by) if bx.var() <= by.var() else (by, bx)
    if loss:
        if narrow is bx:
            f = lambda u: u * by.cdf(u) - by.mean() * sps.beta(y[0] + 1, y[1]).cdf(u)  # noqa: E731
        else:
            f = lambda u: bx.mean() * sps.beta(x[0] + 1, x[1]).sf(u) - u * bx.sf(u)  # noqa: E731
    else:
        f = by.cdf if narrow is bx else bx.sf
    lo, hi, mid = narrow.ppf(1e-14), narrow.isf(1e-14), narrow.mean()
    return sum(integrate.quad(lambda u: narrow.pdf(u) * f(u), a, b, epsabs=1e-14, epsrel=1e-10, limit=200)[0]
               for a, b in ((lo, mid), (mid, hi)))


@pytest.mark.parametrize("n_c,s_c,n_t,s_t", CASES + [(21387, 3894, 21306, 3262), (5, 5, 7, 0), (3, 1, 2_000_000, 1)])
def test_gauss_legendre_gives_the_numbers_of_the_adaptive_integral(n_c, s_c, n_t, s_t):
    """The fixed 2×48-node rule (~0.1 ms) gives the previous adaptive integral's numbers to 1e-9."""
    c, t = (1 + s_c, 1 + n_c - s_c), (1 + s_t, 1 + n_t - s_t)
    for direction, (better, worse) in (("increase", (t, c)), ("decrease", (c, t))):
        assert chance_to_win(binom(n_c, s_c), binom(n_t, s_t), "binomial", direction) == pytest.approx(
            min(max(_adaptive_reference(better, worse, loss=False), 0.0), 1.0), abs=1e-9)
        assert expected_loss(binom(n_c, s_c), binom(n_t, s_t), "binomial", direction) == pytest.approx(
            max(_adaptive_reference(worse, better, loss=True), 0.0), abs=1e-9)
