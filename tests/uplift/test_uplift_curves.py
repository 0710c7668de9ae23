"""Qini / uplift curves and their normalised areas equal scikit-uplift's to 1e-9 on the same
arrays; the decile table's intervals are promolab.stats' Welch intervals."""

from __future__ import annotations

import numpy as np
import pytest
import sklift.metrics.metrics as sklift_metrics
from sklift.metrics import qini_auc_score, qini_curve, uplift_auc_score, uplift_curve
from uplift_synthetic import FEATURES, synthetic

from promolab.errors import InputError
from promolab.stats import MeanStats, welch_test
from promolab.uplift import curves
from promolab.uplift.crossfit import cross_fit
from promolab.uplift.data import uplift_data
from promolab.uplift.evaluate import evaluate_offers

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # sklift calls sklearn's stable_cumsum


def cases(binary: bool = True):
    """Random outcomes, treatment flags and scores with ties, of several sizes."""
    rng = np.random.default_rng(0)
    for n in (7, 60, 2000):
        for _ in range(15):
            y = rng.integers(0, 2, n) if binary else rng.exponential(50, n) * (rng.random(n) < 0.1)
            t = rng.integers(0, 2, n)
            score = np.round(rng.normal(size=n), 1)  # ties
            if t.min() == t.max() or y.min() == y.max() or not (y[t == 1] > 0).any():
                continue
            yield y, score, t


def test_curves_equal_sklifts():
    for y, score, t in cases():
        for ours, theirs in ((curves.qini_curve, qini_curve), (curves.uplift_curve, uplift_curve)):
            x1, v1 = ours(y, score, t)
            x2, v2 = theirs(y, score, t)
            np.testing.assert_allclose(x1, x2, rtol=0, atol=1e-9)
            np.testing.assert_allclose(v1, v2, rtol=0, atol=1e-9)


def test_chart_points_interpolate_sklifts_curves_at_even_shares():
    for y, score, t in cases():
        for ours, theirs in ((curves.qini_curve, qini_curve), (curves.uplift_curve, uplift_curve)):
            points = curves.curve_points(ours(y, score, t), points=11)
            x, v = theirs(y, score, t)
            assert points.share == pytest.approx(tuple(i / 10 for i in range(11)))
            np.testing.assert_allclose(points.value, np.interp(np.array(points.share) * y.size, x, v), atol=1e-9)
            assert points.value[0] == 0 and points.value[-1] == pytest.approx(v[-1], abs=1e-9)


def test_qini_coefficient_and_auuc_equal_sklifts_normalised_scores():
    checked = 0
    for y, score, t in cases():
        try:
            qini, auuc = qini_auc_score(y, score, t), uplift_auc_score(y, score, t)
        except ZeroDivisionError:  # the oracle is no better than random: ours is NaN
            assert np.isnan(curves.qini_coefficient(y, score, t)) or np.isnan(curves.auuc(y, score, t))
            continue
        assert curves.qini_coefficient(y, score, t) == pytest.approx(qini, abs=1e-9)
        assert curves.auuc(y, score, t) == pytest.approx(auuc, abs=1e-9)
        checked += 1
    assert checked > 30


def test_a_non_binary_outcome_uses_sklifts_formula_with_the_oracle_ordering(monkeypatch):
    """sklift refuses spend; with its 0/1 check lifted its Qini formula gives ours."""
    monkeypatch.setattr(sklift_metrics, "check_is_binary", lambda y: None)
    for y, score, t in cases(binary=False):
        assert curves.qini_coefficient(y, score, t) == pytest.approx(sklift_metrics.qini_auc_score(y, score, t),
                                                                     abs=1e-9)
        oracle = y * (2 * t - 1)
        assert curves.auuc(y, oracle, t) == pytest.approx(1.0)
        assert curves.qini_coefficient(y, oracle, t) == pytest.approx(1.0)


def test_bad_arrays_name_the_field():
    with pytest.raises(InputError, match="uplift curve"):
        curves.qini_curve([1, 0], [0.1], [1, 0])
    with pytest.raises(InputError, match="uplift curve.treated"):
        curves.auuc([1, 0], [0.1, 0.2], [2, 0])


def test_decile_table_uses_welch_intervals_and_ranks_a_real_effect():
    frame = synthetic(6000, seed=5, noise=0.5)
    data = uplift_data(frame, "arm", "control", ["y", "converted"], FEATURES)
    fit = cross_fit(data, data.outcomes["y"], label="y", learner="t", model="ridge", folds=3, seed=0)
    a, b = evaluate_offers(data, fit, data.outcomes["y"])
    assert (a.offer, b.offer) == ("A", "B")
    assert sum(d.n_treated for d in a.deciles) == a.n_treated == int(np.sum(data.arm == 1))
    assert sum(d.n_control for d in a.deciles) == a.n_control == int(np.sum(data.arm == 0))
    assert len(a.deciles) == 10 and a.deciles[0].predicted > a.deciles[-1].predicted
    assert a.deciles[0].uplift > 1 > -1 > a.deciles[-1].uplift  # τ_A = x1: the top decile gains, the last loses
    assert a.qini_coefficient > 0.2 and b.qini_coefficient > 0.05  # a random ranking scores about 0
    rows = np.flatnonzero(data.arm != 2)
    top = rows[np.argsort(-fit.tau[rows, 0], kind="stable")[:len(rows) // 10 + (len(rows) % 10 > 0)]]
    y, arm = data.outcomes["y"][top], data.arm[top]
    stats = [MeanStats(int(m.sum()), float(y[m].sum()), float((y[m] ** 2).sum())) for m in (arm == 0, arm == 1)]
    lift = welch_test(*stats)
    assert (a.deciles[0].ci_low, a.deciles[0].ci_high) == pytest.approx((lift.abs_ci_low, lift.abs_ci_high))
    assert a.qini_coefficient == pytest.approx(
        curves.qini_coefficient(data.outcomes["y"][rows], fit.tau[rows, 0], data.arm[rows] == 1))
