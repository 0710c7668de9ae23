"""The anytime-valid SRM test (Lindon & Malek 2022): its Bayes factor is the ratio of scipy's
Dirichlet-multinomial and multinomial probabilities of the counts (computed independently
here), hourly checks of sound splits alarm at most at the threshold (an A/A simulation where
the peeked χ² test does not), and a broken split is still caught."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import gammaln

from promolab.errors import InputError
from promolab.stats import sequential_srm_test, srm_test


@pytest.mark.parametrize(("counts", "weights", "c"), [
    ([5000, 5000], [1, 1], 100.0), ([5210, 4790], [1, 1], 100.0), ([3000, 2000, 1000], [3, 2, 1], 50.0),
    ([0, 7], [1, 1], 100.0), ([120, 80, 95, 101], [1, 1, 1, 1], 1.0), ([400, 600], [0.4, 0.6], 1e4),
    ([5000, 5100], [1, 1], 1e6),
])
def test_bayes_factor_is_the_dirichlet_multinomial_over_the_multinomial(counts, weights, c) -> None:
    n, w = np.asarray(counts), np.asarray(weights, float) / sum(weights)
    expected = stats.dirichlet_multinomial.logpmf(n, c * w, n.sum()) - stats.multinomial.logpmf(n, n.sum(), w)
    names = [f"v{i}" for i in range(len(counts))]
    r = sequential_srm_test(dict(zip(names, counts)), dict(zip(names, weights)), concentration=c)
    assert r.log_bayes_factor == pytest.approx(expected, abs=1e-9)
    assert r.p_value == pytest.approx(min(1.0, math.exp(-expected)), rel=1e-9)
    assert r.ok == (r.p_value >= 0.001)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=6), st.data())
def test_property_p_is_a_probability_and_matches_scipy(counts, data) -> None:
    weights = data.draw(st.lists(st.floats(0.01, 100), min_size=len(counts), max_size=len(counts)))
    names = [f"v{i}" for i in range(len(counts))]
    r = sequential_srm_test(dict(zip(names, counts)), dict(zip(names, weights)))
    n, w = np.asarray(counts), np.asarray(weights) / sum(weights)
    if n.sum() == 0:
        assert r.log_bayes_factor == 0 and r.p_value == 1 and r.ok
        return
    dm = stats.dirichlet_multinomial.logpmf(n, 100 * w, n.sum()) - stats.multinomial.logpmf(n, n.sum(), w)
    assert r.log_bayes_factor == pytest.approx(dm, abs=1e-6 * max(1.0, abs(dm)))
    assert 0 <= r.p_value <= 1


def test_hourly_checks_of_sound_splits_alarm_at_most_at_alpha() -> None:
    """2,000 A/A splits, 100 users an hour for two weeks, checked every hour at α = 5 %: the
    sequential test alarms on at most α of them; the peeked χ² test on far more."""
    rng = np.random.default_rng(7)
    runs, hours, per, alpha, c = 2000, 336, 100, 0.05, 100.0
    b = rng.binomial(per, 0.5, size=(runs, hours)).cumsum(axis=1).astype(float)
    n = per * np.arange(1, hours + 1, dtype=float)
    a = n - b
    half = c / 2
    log_bf = (gammaln(half + a) + gammaln(half + b) - gammaln(c + n) - 2 * gammaln(half) + gammaln(c)
              + n * math.log(2))
    spot = sequential_srm_test({"a": int(a[0, -1]), "b": int(b[0, -1])}, {"a": 1, "b": 1})
    assert spot.log_bayes_factor == pytest.approx(log_bf[0, -1], abs=1e-9)  # the vectorised form is the test's
    sequential = (log_bf >= math.log(1 / alpha)).any(axis=1).mean()
    chi = (a - n / 2) ** 2 / (n / 2) * 2
    peeked = (stats.chi2.sf(chi, 1) < alpha).any(axis=1).mean()
    assert sequential <= alpha and peeked > 4 * alpha, (sequential, peeked)
    assert (round(sequential, 4), round(peeked, 4)) == (0.025, 0.4475)  # the README's table


def test_a_broken_split_is_caught() -> None:
    assert not sequential_srm_test({"a": 2400, "b": 1600}, {"a": 1, "b": 1}).ok  # 60/40 at 4,000 users
    assert sequential_srm_test({"a": 2030, "b": 1970}, {"a": 1, "b": 1}).ok
    fixed = srm_test({"a": 2400, "b": 1600}, {"a": 1, "b": 1})
    assert fixed.p_value < sequential_srm_test({"a": 2400, "b": 1600}, {"a": 1, "b": 1}).p_value  # the price of peeking


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"concentration": 0}, "concentration"), ({"concentration": float("nan")}, "concentration"),
    ({"concentration": True}, "concentration"), ({"threshold": 1.5}, "threshold"),
    ({"concentration": 1e308}, "concentration"), ({"concentration": float("inf")}, "concentration"),
    ({"concentration": 1e7}, "concentration"), ({"concentration": "100"}, "concentration"),
])
def test_validation(kwargs, field) -> None:
    with pytest.raises(InputError) as info:
        sequential_srm_test({"a": 1, "b": 2}, {"a": 1, "b": 1}, **kwargs)
    assert info.value.field == field
