"""The learners' scikit-learn regressions: any regressor, cloned per fit, and ``hgb``.

Loaded on first use (``promolab.uplift`` resolves these names lazily): scikit-learn's import,
with the ``scipy.stats`` it loads, takes 0.5-1 s of a small machine, and the closed-form ridge
(``promolab.uplift.regression``) needs neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor

from promolab.uplift.regression import Predictor


@dataclass(frozen=True, eq=False)
class EstimatorRows:
    """A scikit-learn regressor, cloned per fit, on rows of ``x`` (n, d)."""

    x: np.ndarray
    base: BaseEstimator

    def fit(self, rows: np.ndarray, target: np.ndarray) -> Predictor:
        model = clone(self.base).fit(self.x.take(rows, axis=0), target)
        return lambda new: model.predict(self.x.take(new, axis=0))


def gradient_boosting(seed: int) -> BaseEstimator:
    """``hgb``: a small histogram gradient boosting (100 trees of 15 leaves, learning rate 0.05)."""
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=100,
                                         early_stopping=False, random_state=seed)
