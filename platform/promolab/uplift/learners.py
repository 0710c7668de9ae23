"""Meta-learners of per-offer effects τ_k(x) = E[Y | x, arm k] − E[Y | x, control] on any
scikit-learn regressor, with known randomisation propensities e_a = P(arm = a).

- T-learner: μ̂_a fitted on arm a alone; τ̂_k = μ̂_k − μ̂_0.
- X-learner (Künzel, Sekhon, Bickel & Yu 2019, PNAS 116(10)): imputed effects
  D¹ᵢ = Yᵢ − μ̂_0(xᵢ) on arm-k rows and D⁰ᵢ = μ̂_k(xᵢ) − Yᵢ on control rows, regressed on x
  (τ̂¹, τ̂⁰) and combined as τ̂_k = g·τ̂⁰ + (1 − g)·τ̂¹ with g = e_k / (e_k + e_0).
- DR-learner (Kennedy 2020, "Towards optimal doubly robust estimation of heterogeneous
  causal effects"): the pseudo-outcome
  φᵢ = μ̂_k − μ̂_0 + 1{aᵢ=k}(Yᵢ − μ̂_k)/e_k − 1{aᵢ=0}(Yᵢ − μ̂_0)/e_0 with μ̂ cross-fitted
  (2 inner folds) regressed on x.

Every learner returns μ̂_0(x) and τ̂(x) for new rows; q̂(x, 0) = μ̂_0, q̂(x, k) = μ̂_0 + τ̂_k
is the reward model of the doubly robust policy value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import StratifiedKFold

from promolab.errors import InputError

MODELS = ("ridge", "hgb")


@dataclass(frozen=True, eq=False)
class Effects:
    """Predictions for new rows: the control's outcome μ̂_0 (n,) and each offer's τ̂ (n, K)."""

    mu0: np.ndarray
    tau: np.ndarray


def check_model(model: object) -> None:
    """A base model name (``MODELS``) or a scikit-learn regressor."""
    if not isinstance(model, BaseEstimator) and model not in MODELS:
        raise InputError("model", model, "one of " + ", ".join(MODELS) + " (or a scikit-learn regressor)")


def make_regressor(model: str | BaseEstimator, seed: int = 0) -> BaseEstimator:
    """``ridge`` (α = 1 on standardised φ), ``hgb`` (small histogram gradient boosting) or ``model`` itself."""
    check_model(model)
    if isinstance(model, BaseEstimator):
        return model
    if model == "ridge":
        return Ridge(alpha=1.0)
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_leaf_nodes=15,
                                         min_samples_leaf=100, early_stopping=False, random_state=seed)


def _fit(base: BaseEstimator, x: np.ndarray, y: np.ndarray) -> BaseEstimator:
    return clone(base).fit(x, y)


def _arm_models(base: BaseEstimator, x: np.ndarray, arm: np.ndarray, y: np.ndarray, n_arms: int
                ) -> list[BaseEstimator]:
    return [_fit(base, x[arm == a], y[arm == a]) for a in range(n_arms)]


def t_learner(x: np.ndarray, arm: np.ndarray, y: np.ndarray, x_new: np.ndarray, propensity: np.ndarray,
              base: BaseEstimator, seed: int) -> Effects:
    mu = np.column_stack([m.predict(x_new) for m in _arm_models(base, x, arm, y, propensity.size)])
    return Effects(mu[:, 0], mu[:, 1:] - mu[:, :1])


def x_learner(x: np.ndarray, arm: np.ndarray, y: np.ndarray, x_new: np.ndarray, propensity: np.ndarray,
              base: BaseEstimator, seed: int) -> Effects:
    models = _arm_models(base, x, arm, y, propensity.size)
    control = arm == 0
    tau = []
    for k in range(1, propensity.size):
        treated = arm == k
        tau1 = _fit(base, x[treated], y[treated] - models[0].predict(x[treated]))
        tau0 = _fit(base, x[control], models[k].predict(x[control]) - y[control])
        g = propensity[k] / (propensity[k] + propensity[0])
        tau.append(g * tau0.predict(x_new) + (1 - g) * tau1.predict(x_new))
    return Effects(models[0].predict(x_new), np.column_stack(tau))


def dr_learner(x: np.ndarray, arm: np.ndarray, y: np.ndarray, x_new: np.ndarray, propensity: np.ndarray,
               base: BaseEstimator, seed: int) -> Effects:
    n_arms = propensity.size
    mu = np.empty((arm.size, n_arms))
    for train, test in StratifiedKFold(2, shuffle=True, random_state=seed).split(x, arm):
        for a, model in enumerate(_arm_models(base, x[train], arm[train], y[train], n_arms)):
            mu[test, a] = model.predict(x[test])
    residual = (y - mu[np.arange(arm.size), arm]) / propensity[arm]
    tau = []
    for k in range(1, n_arms):
        pseudo = mu[:, k] - mu[:, 0] + np.where(arm == k, residual, 0.0) - np.where(arm == 0, residual, 0.0)
        tau.append(_fit(base, x, pseudo).predict(x_new))
    mu0 = _fit(base, x[arm == 0], y[arm == 0]).predict(x_new)
    return Effects(mu0, np.column_stack(tau))


Learner = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, BaseEstimator, int], Effects]
LEARNERS: dict[str, Learner] = {"t": t_learner, "x": x_learner, "dr": dr_learner}
