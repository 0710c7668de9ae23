"""SRM: chi-square goodness of fit vs scipy, a published example and the Hillstrom split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from promolab.errors import InputError
from promolab.stats import SrmResult, srm_test


def test_matches_scipy_chisquare_with_unequal_weights():
    obs = {"control": 5030, "coupon": 2410, "free_ship": 2560}
    w = {"control": 2, "coupon": 1, "free_ship": 1}  # normalised to 0.5 / 0.25 / 0.25
    r = srm_test(obs, w)
    ref = sps.chisquare([5030, 2410, 2560], [5000, 2500, 2500])
    assert isinstance(r, SrmResult)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert r.expected == pytest.approx({"control": 5000.0, "coupon": 2500.0, "free_ship": 2500.0})
    assert r.observed == obs and r.threshold == 0.001
    assert r.ok is True and ref.pvalue >= 0.001


def test_kohavi_style_mismatch_is_flagged():
    # 50/50 design, 50.3 % vs 49.7 % on 1M users: chi2 = 36 with 1 df, p ≈ 2e-9
    r = srm_test({"a": 503_000, "b": 497_000}, {"a": 0.5, "b": 0.5})
    assert r.statistic == pytest.approx(36.0)
    assert r.p_value == pytest.approx(sps.chi2.sf(36.0, 1))
    assert not r.ok


def test_threshold_controls_ok():
    obs, w = {"a": 1040, "b": 960}, {"a": 1, "b": 1}  # chi2 = 3.2, p ≈ 0.074
    assert srm_test(obs, w).ok
    assert not srm_test(obs, w, threshold=0.1).ok


def test_hillstrom_split_passes(hillstrom):
    counts = hillstrom.segment.value_counts().to_dict()
    assert counts == {"Womens E-Mail": 21387, "Mens E-Mail": 21307, "No E-Mail": 21306}
    r = srm_test(counts, {k: 1.0 for k in counts})
    assert r.ok
    assert r.p_value == pytest.approx(sps.chisquare(list(counts.values())).pvalue, rel=1e-10)
    assert r.p_value > 0.8


def test_no_users_is_vacuous():
    r = srm_test({"a": 0, "b": 0}, {"a": 1, "b": 1})
    assert r.ok and r.p_value == 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), st.floats(0.01, 100)), min_size=2, max_size=6))
def test_property_matches_scipy(rows):
    names = [f"v{i}" for i in range(len(rows))]
    obs = {k: n for k, (n, _) in zip(names, rows)}
    w = {k: wt for k, (_, wt) in zip(names, rows)}
    r = srm_test(obs, w)
    f_obs = np.array([n for n, _ in rows], float)
    f_exp = f_obs.sum() * np.array([wt for _, wt in rows]) / sum(wt for _, wt in rows)
    ref = sps.chisquare(f_obs, f_exp)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)
    assert sum(r.expected.values()) == pytest.approx(f_obs.sum())


@pytest.mark.parametrize(
    "observed,weights,kwargs,field",
    [
        ({"a": 10, "b": 10}, {"a": 1, "b": 0}, {}, "weights['b']"),
        ({"a": 10, "b": 10}, {"a": 1, "b": -1}, {}, "weights['b']"),
        ({"a": 10, "b": 10}, {"a": 1, "b": float("inf")}, {}, "weights['b']"),
        ({"a": 10, "b": -1}, {"a": 1, "b": 1}, {}, "observed['b']"),
        ({"a": 10, "b": 2.5}, {"a": 1, "b": 1}, {}, "observed['b']"),
        ({"a": 10, "b": "x"}, {"a": 1, "b": 1}, {}, "observed['b']"),
        ({"a": 10, "c": 10}, {"a": 1, "b": 1}, {}, "observed"),
        ({"a": 10}, {"a": 1}, {}, "weights"),
        ({"a": 10, "b": 10}, {"a": 1, "b": 1}, {"threshold": 0}, "threshold"),
        ({"a": 10, "b": 10}, {"a": 1, "b": 1}, {"threshold": 1.2}, "threshold"),
        ([10, 10], {"a": 1, "b": 1}, {}, "observed"),
    ],
)
def test_validation(observed, weights, kwargs, field):
    with pytest.raises(InputError) as e:
        srm_test(observed, weights, **kwargs)
    assert e.value.field == field
