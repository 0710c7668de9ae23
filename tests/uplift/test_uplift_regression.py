"""The learners' base regressions against scikit-learn: the closed-form ridge is its
``Ridge(alpha, fit_intercept=True)``; an estimator is cloned per fit and sees only its rows;
the ridge path loads neither scikit-learn nor scipy.stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

from promolab.errors import InputError
from promolab.uplift.estimators import EstimatorRows
from promolab.uplift.regression import RidgeRows, check_model, regressions, ridge_coefficients


def design(n: int, seed: int) -> np.ndarray:
    """[1, two standardised numbers, a full one-hot of a 3-level category]: the one-hot
    columns sum to the intercept column, so X̃ᵀX̃ is singular and only the penalty makes the
    system solvable, as with φ(x) of a categorical feature."""
    rng = np.random.default_rng(seed)
    level = rng.integers(3, size=n)
    return np.column_stack([np.ones(n), rng.normal(size=(n, 2)), np.eye(3)[level]])


@pytest.mark.parametrize("alpha", [1.0, 0.01, 50.0])
def test_closed_form_ridge_is_scikit_learns(alpha: float):
    x = design(2000, 0)
    rng = np.random.default_rng(1)
    target = (x @ np.array([0.5, 1.0, -2.0, 0.3, 0.0, -0.3]))[:, None] + rng.standard_exponential(size=(2000, 2))
    theta = ridge_coefficients(x, target, alpha)
    reference = Ridge(alpha=alpha).fit(x[:, 1:], target)
    # with α = 0.01 the one-hot columns' shared direction is barely identified: both solvers'
    # coefficients agree to 1e-10 there, their predictions to 1e-12
    np.testing.assert_allclose(theta[0], reference.intercept_, atol=1e-9)
    np.testing.assert_allclose(theta[1:], reference.coef_.T, atol=1e-9)
    np.testing.assert_allclose(x @ theta, reference.predict(x[:, 1:]), rtol=1e-9)
    np.testing.assert_allclose(ridge_coefficients(x, target[:, 0], alpha), theta[:, 0], atol=1e-9)


def test_ridge_rows_fit_chosen_rows_and_predict_others():
    x = design(3000, 2)
    y = np.random.default_rng(3).normal(size=3000) + x[:, 1]
    rows, new = np.arange(0, 3000, 3), np.arange(1, 3000, 3)
    predict = RidgeRows(x).fit(rows, y[rows])
    np.testing.assert_allclose(predict(new), Ridge(alpha=1.0).fit(x[rows, 1:], y[rows]).predict(x[new, 1:]),
                               rtol=1e-9, atol=1e-12)


def test_an_estimator_is_cloned_per_fit_and_sees_its_rows_without_the_intercept():
    x = design(400, 4)
    y = np.where(x[:, 1] > 0, 2.0, -1.0)
    models = regressions(DecisionTreeRegressor(max_depth=1), x)
    assert isinstance(models, EstimatorRows) and models.x.shape == (400, 5)
    low, high = np.flatnonzero(x[:, 1] <= 0), np.flatnonzero(x[:, 1] > 0)
    first, second = models.fit(low, y[low]), models.fit(high, y[high])
    assert np.all(first(high) == -1.0) and np.all(second(low) == 2.0)  # the first fit was not refitted


def test_named_models_and_a_bad_one():
    x = design(50, 5)
    assert isinstance(regressions("ridge", x), RidgeRows)
    assert type(regressions("hgb", x, seed=3).base).__name__ == "HistGradientBoostingRegressor"
    assert regressions("hgb", x, seed=3).base.random_state == 3
    with pytest.raises(InputError, match="model: got 'forest', expected one of ridge, hgb"):
        regressions("forest", x)


class FitPredict:
    """fit and predict, but no get_params: scikit-learn cannot clone it."""

    def fit(self, x, y):
        return self

    def predict(self, x):
        return np.zeros(len(x))


def test_a_model_is_a_name_or_a_clonable_regressor():
    check_model("ridge")
    check_model(DecisionTreeRegressor())
    for bad in ("forest", FitPredict(), DecisionTreeRegressor, 3):
        with pytest.raises(InputError, match="model: .* expected one of ridge, hgb .or a scikit-learn regressor."):
            check_model(bad)


def test_the_ridge_analysis_loads_neither_scikit_learn_nor_scipy_stats():
    """Their import takes 0.5-1 s; the dashboard's and the CLI's ridge models need neither."""
    probe = """
import json, sys
from uplift_synthetic import FEATURES, synthetic
from promolab.uplift.report import analyze_uplift
report = analyze_uplift(synthetic(1500, seed=5), treatment="arm", control="control", outcomes=["y"],
                        features=FEATURES, learners=("x", "t", "dr"), model="ridge", folds=3)
assert report.targeting.policies
print(json.dumps([m for m in ("sklearn", "scipy.stats", "scipy.linalg") if m in sys.modules]))
"""
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
