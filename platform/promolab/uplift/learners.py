"""Meta-learners of per-offer effects τ_k(x) = E[Y | x, arm k] − E[Y | x, control] on a base
regression (``promolab.uplift.regression``), with known randomisation propensities e_a = P(arm = a).

- T-learner: μ̂_a fitted on arm a alone; τ̂_k = μ̂_k − μ̂_0.
- X-learner (Künzel, Sekhon, Bickel & Yu 2019, PNAS 116(10)): imputed effects
  D¹ᵢ = Yᵢ − μ̂_0(xᵢ) on arm-k rows and D⁰ᵢ = μ̂_k(xᵢ) − Yᵢ on control rows, regressed on x
  (τ̂¹, τ̂⁰) and combined as τ̂_k = g·τ̂⁰ + (1 − g)·τ̂¹ with g = e_k / (e_k + e_0).
- DR-learner (Kennedy 2020, "Towards optimal doubly robust estimation of heterogeneous
  causal effects"): the pseudo-outcome
  φᵢ = μ̂_k − μ̂_0 + 1{aᵢ=k}(Yᵢ − μ̂_k)/e_k − 1{aᵢ=0}(Yᵢ − μ̂_0)/e_0 with μ̂ cross-fitted
  (2 inner folds) regressed on x.

A learner fits on the training ``rows`` of the table and predicts the ``new`` rows: μ̂_0(x)
and τ̂(x). q̂(x, 0) = μ̂_0, q̂(x, k) = μ̂_0 + τ̂_k is the reward model of the doubly robust
policy value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from promolab.uplift.folds import fold_ids
from promolab.uplift.regression import Predictor, RowRegression


@dataclass(frozen=True, eq=False)
class Effects:
    """Predictions for new rows: the control's outcome μ̂_0 (n,) and each offer's τ̂ (n, K)."""

    mu0: np.ndarray
    tau: np.ndarray


def _arm_models(models: RowRegression, rows: np.ndarray, arm: np.ndarray, y: np.ndarray, n_arms: int
                ) -> list[Predictor]:
    by_arm = [rows[arm[rows] == a] for a in range(n_arms)]
    return [models.fit(r, y[r]) for r in by_arm]


def t_learner(models: RowRegression, rows: np.ndarray, arm: np.ndarray, y: np.ndarray, new: np.ndarray,
              propensity: np.ndarray, seed: int) -> Effects:
    mu = np.column_stack([m(new) for m in _arm_models(models, rows, arm, y, propensity.size)])
    return Effects(mu[:, 0], mu[:, 1:] - mu[:, :1])


def x_learner(models: RowRegression, rows: np.ndarray, arm: np.ndarray, y: np.ndarray, new: np.ndarray,
              propensity: np.ndarray, seed: int) -> Effects:
    mu = _arm_models(models, rows, arm, y, propensity.size)
    control = rows[arm[rows] == 0]
    tau = []
    for k in range(1, propensity.size):
        treated = rows[arm[rows] == k]
        tau1 = models.fit(treated, y[treated] - mu[0](treated))
        tau0 = models.fit(control, mu[k](control) - y[control])
        g = propensity[k] / (propensity[k] + propensity[0])
        tau.append(g * tau0(new) + (1 - g) * tau1(new))
    return Effects(mu[0](new), np.column_stack(tau))


def dr_learner(models: RowRegression, rows: np.ndarray, arm: np.ndarray, y: np.ndarray, new: np.ndarray,
               propensity: np.ndarray, seed: int) -> Effects:
    n_arms = propensity.size
    mu = np.empty((rows.size, n_arms))
    inner = fold_ids(arm[rows], 2, seed)
    for half in (0, 1):
        train, test = inner != half, inner == half
        for a, model in enumerate(_arm_models(models, rows[train], arm, y, n_arms)):
            mu[test, a] = model(rows[test])
    arm_rows, y_rows = arm[rows], y[rows]
    residual = (y_rows - mu[np.arange(rows.size), arm_rows]) / propensity[arm_rows]
    tau = []
    for k in range(1, n_arms):
        pseudo = mu[:, k] - mu[:, 0] + np.where(arm_rows == k, residual, 0.0) - np.where(arm_rows == 0, residual, 0.0)
        tau.append(models.fit(rows, pseudo)(new))
    control = rows[arm_rows == 0]
    return Effects(models.fit(control, y[control])(new), np.column_stack(tau))


Learner = Callable[[RowRegression, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], Effects]
LEARNERS: dict[str, Learner] = {"t": t_learner, "x": x_learner, "dr": dr_learner}
