"""Meta-learners recover known heterogeneous effects; cross-fitting never lets a model see
the rows it predicts; work is bounded with field-named errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import StratifiedKFold
from uplift_synthetic import FEATURES, effects, synthetic

from promolab.errors import InputError
from promolab.uplift.crossfit import MAX_FOLDS, cross_fit
from promolab.uplift.folds import fold_ids
from promolab.uplift.data import uplift_data
from promolab.uplift.distill import nested_scores


@pytest.fixture(scope="module")
def frame():
    return synthetic(6000, seed=1)


@pytest.fixture(scope="module")
def data(frame):
    return uplift_data(frame, "arm", "control", ["y"], FEATURES)


@pytest.mark.parametrize("learner", ["t", "x", "dr"])
def test_learners_recover_known_heterogeneous_effects(frame, data, learner):
    fit = cross_fit(data, data.outcomes["y"], label="y", learner=learner, model="ridge", folds=5, seed=0)
    truth = effects(frame)
    for k in range(2):
        assert np.corrcoef(fit.tau[:, k], truth[:, k])[0, 1] > 0.95, (learner, k)
        assert np.sqrt(np.mean((fit.tau[:, k] - truth[:, k]) ** 2)) < 0.15, (learner, k)
    mu0 = 1 + 0.5 * frame["x1"] + 0.3 * frame["x2"]
    assert np.sqrt(np.mean((fit.mu0 - mu0) ** 2)) < 0.1
    np.testing.assert_allclose(fit.q[:, 1:], fit.mu0[:, None] + fit.tau)


def test_gradient_boosting_finds_a_step_effect():
    frame = synthetic(4000, seed=2)
    step = (frame["x1"] > 0).astype(float)
    frame["y"] += np.where(frame["arm"] == "A", step - frame["x1"], 0.0)  # τ_A = 1{x1 > 0}
    data = uplift_data(frame, "arm", "control", ["y"], FEATURES)
    fit = cross_fit(data, data.outcomes["y"], label="y", learner="x", model="hgb", folds=3, seed=0)
    assert fit.tau[step == 1, 0].mean() - fit.tau[step == 0, 0].mean() > 0.6


def test_folds_are_seeded_and_stratified(data):
    a, b = fold_ids(data.arm, 5, 7), fold_ids(data.arm, 5, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fold_ids(data.arm, 5, 8))
    counts = np.array([[np.sum((a == f) & (data.arm == arm)) for arm in range(3)] for f in range(5)])
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()  # each arm spread evenly over the folds


@settings(max_examples=60, deadline=None)
@given(arms=st.lists(st.integers(0, 3), min_size=20, max_size=300), folds=st.integers(2, 6),
       seed=st.integers(0, 2**32 - 1))
def test_folds_are_scikit_learns_stratified_k_fold(arms: list[int], folds: int, seed: int):
    """The assignment of StratifiedKFold(folds, shuffle=True, random_state=seed), arms in any order."""
    arm = np.array(arms)
    assume(np.bincount(arm).max() >= folds)  # what scikit-learn needs to split at all
    expected = np.empty(arm.size, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an arm with fewer rows than folds
        for f, (_, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(arm, arm)):
            expected[test] = f
    np.testing.assert_array_equal(fold_ids(arm, folds, seed), expected)


class Spy(BaseEstimator, RegressorMixin):
    """Predicts 1 for a row it was fitted on, 0 otherwise, and fails if asked to predict one.
    The first column of X is a row id."""

    def fit(self, X, y):
        self.seen_ = set(np.round(X[:, 0], 9))
        return self

    def predict(self, X):
        seen = np.array([v in self.seen_ for v in np.round(X[:, 0], 9)], dtype=float)
        assert not seen.any(), "a model predicted a row it was fitted on"
        return seen


@pytest.mark.parametrize("learner", ["t", "x", "dr"])
def test_cross_fitting_never_uses_a_rows_own_fold(learner):
    frame = synthetic(600, seed=3)
    frame["rid"] = np.arange(len(frame), dtype=float)
    data = uplift_data(frame, "arm", "control", ["y"], ["rid", *FEATURES])
    fit = cross_fit(data, data.outcomes["y"], label="y", learner=learner, model=Spy(), folds=4, seed=0)
    assert not fit.mu0.any() and not fit.tau.any()
    assert sorted(np.unique(fit.fold)) == [0, 1, 2, 3]


@pytest.mark.parametrize("learner", ["t", "x", "dr"])
def test_a_folds_predictions_do_not_depend_on_its_own_outcomes(data, learner):
    """Change every outcome in fold 0: fold 0's τ̂ and its distilled (nested) scores stay the same."""
    y = data.outcomes["y"]
    fit = cross_fit(data, y, label="y", learner=learner, model="ridge", folds=4, seed=0)
    changed = y + np.where(fit.fold == 0, 100 * np.random.default_rng(0).normal(size=y.size), 0.0)
    refit = cross_fit(data, changed, label="y", learner=learner, model="ridge", folds=4, seed=0)
    own = fit.fold == 0
    np.testing.assert_allclose(refit.tau[own], fit.tau[own], atol=1e-9)
    assert not np.allclose(refit.tau[~own], fit.tau[~own])
    np.testing.assert_allclose(nested_scores(data, changed, refit, "ridge", 0)[own],
                               nested_scores(data, y, fit, "ridge", 0)[own], atol=1e-9)


def test_bounds_are_checked_with_field_names(data):
    y = data.outcomes["y"]
    for kwargs, field in [({"folds": 1}, "folds"), ({"folds": MAX_FOLDS + 1}, "folds"), ({"seed": -1}, "seed"),
                          ({"learner": "s"}, "learner"), ({"model": "forest"}, "model")]:
        with pytest.raises(InputError) as err:
            cross_fit(data, y, label="y", **{"model": "ridge", **kwargs})
        assert err.value.field == field
    small = uplift_data(synthetic(90, seed=4), "arm", "control", ["y"], FEATURES)
    with pytest.raises(InputError, match=r"folds: got 5, expected at most \d folds: arm '\w+' has \d+ rows"):
        cross_fit(small, small.outcomes["y"], label="y", model="ridge", folds=5)
