"""Distil a learned targeting policy into linear scores over φ(x) (policy distillation).

Per offer k, ridge regression of the cross-fitted predicted incremental margin m̂_k(xᵢ) on
φ(xᵢ): w_k = argmin Σᵢ (m̂_k(xᵢ) − w_k·φ(xᵢ))² + α‖w_k without intercept‖², with φ's
numeric columns already standardised. The distilled policy scores users with w_k·φ(x)
and needs no model file.

Its value is measured honestly by nested cross-fitting (``nested_scores``): the rows of
outer fold f are scored by weights distilled from a cross-fit run on the other folds
alone. (Distilling the outer cross-fitted m̂ instead would leak: the m̂ of the other folds'
rows come from models that saw fold f, and with a heavy-tailed outcome such as spend that
made a distilled policy look far better than it is.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from promolab.uplift.crossfit import CrossFit, fit_folds
from promolab.uplift.data import UpliftData
from promolab.uplift.folds import fold_ids
from promolab.uplift.regression import RIDGE_ALPHA, ridge_coefficients

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator


def distil(phi: np.ndarray, target: np.ndarray, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """Weights (K, dim), intercept first: ridge of ``target`` (n, K) on ``phi`` (n, dim, with
    its intercept column; the intercept is not penalised)."""
    return ridge_coefficients(phi, target, alpha).T


def nested_scores(data: UpliftData, y: np.ndarray, fit: CrossFit, model: str | BaseEstimator, seed: int,
                  alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """(n, K) scores w_k·φ(xᵢ) where row i of outer fold f is scored by weights distilled from
    ``fit``'s learner cross-fitted (max(2, K − 1) folds) on the rows outside fold f."""
    folds = np.unique(fit.fold)
    scores = np.empty_like(fit.tau)
    for f in folds:
        train = fit.fold != f
        inner_data = data.subset(train)
        inner = fit_folds(inner_data, y[train], label=fit.outcome, learner=fit.learner, model=model,
                          fold=fold_ids(inner_data.arm, max(2, folds.size - 1), seed), seed=seed)
        scores[~train] = data.x[~train] @ distil(inner_data.x, inner.tau, alpha).T
    return scores
