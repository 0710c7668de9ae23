"""The base regressions of the meta-learners, fitted on rows of one encoded table.

A ``RowRegression`` fits a target on chosen rows of φ(x) and returns a predictor of other
rows of the same table, so the learners pass row indices instead of copying sub-tables.

- ``RidgeRows`` (``model="ridge"``): ridge regression with an unpenalised intercept in
  closed form on X̃ = [1, φ(x)],
  θ = (X̃ᵀX̃ + α·diag(0, 1, …, 1))⁻¹ X̃ᵀt (Hoerl & Kennard 1970),
  the estimate of scikit-learn's ``Ridge(alpha, fit_intercept=True)``, which centres X and t
  instead (the same minimiser: the intercept is not penalised). Solved directly, without
  scikit-learn's per-fit validation: about 0.4 ms instead of 1.8 ms for 17,000 rows × 18.
- ``EstimatorRows`` (``promolab.uplift.estimators``, loaded only when used): any
  scikit-learn regressor (``model="hgb"``: a small histogram gradient boosting), cloned per
  fit, on φ(x) without its intercept column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

import promolab.uplift as uplift
from promolab.errors import InputError

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

MODELS = ("ridge", "hgb")
RIDGE_ALPHA = 1.0  # on φ(x), whose numeric columns are standardised

Predictor = Callable[[np.ndarray], np.ndarray]


class RowRegression(Protocol):
    def fit(self, rows: np.ndarray, target: np.ndarray) -> Predictor:
        """Fit ``target`` (one value per row) on ``rows`` of the table; predict rows given by index."""


def ridge_coefficients(design: np.ndarray, target: np.ndarray, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """θ (1 + d,), or (1 + d, K) for a (n, K) target: ridge of ``target`` on ``design`` = X̃,
    whose first column is the intercept's 1s (not penalised)."""
    gram = design.T @ design
    penalised = np.arange(1, gram.shape[0])
    gram[penalised, penalised] += alpha
    return np.linalg.solve(gram, design.T @ target)


@dataclass(frozen=True, eq=False)
class RidgeRows:
    """Ridge regressions on rows of ``design`` (n, 1 + d), intercept column first."""

    design: np.ndarray
    alpha: float = RIDGE_ALPHA

    def fit(self, rows: np.ndarray, target: np.ndarray) -> Predictor:
        theta = ridge_coefficients(self.design.take(rows, axis=0), target, self.alpha)
        return lambda new: self.design.take(new, axis=0) @ theta


def is_estimator(model: Any) -> bool:
    """A scikit-learn-style regressor instance: ``fit``, ``predict`` and ``get_params`` (what cloning needs)."""
    return not isinstance(model, (str, type)) and all(callable(getattr(model, m, None))
                                                      for m in ("fit", "predict", "get_params"))


def check_model(model: object) -> None:
    """A base model name (``MODELS``) or a scikit-learn regressor."""
    if not is_estimator(model) and model not in MODELS:
        raise InputError("model", model, "one of " + ", ".join(MODELS) + " (or a scikit-learn regressor)")


def regressions(model: str | BaseEstimator, design: np.ndarray, seed: int = 0) -> RowRegression:
    """``model``'s regressions on the rows of ``design`` = φ(x) with its intercept column."""
    check_model(model)
    if model == "ridge":
        return RidgeRows(design)
    return uplift.EstimatorRows(design[:, 1:], uplift.gradient_boosting(seed) if model == "hgb" else model)
