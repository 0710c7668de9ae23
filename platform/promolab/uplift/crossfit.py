"""K-fold cross-fitting: every row's μ̂_0 and τ̂ come from models that never saw that row.

Rows are split into ``folds`` folds stratified by arm (``promolab.uplift.folds``: scikit-learn's
``StratifiedKFold`` assignment with the seed);
fold f's predictions come from a learner fitted on the other folds only (Chernozhukov et
al. 2018, "Double/debiased machine learning"). Curves, decile tables and policy values
computed on these predictions are out-of-sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from promolab.bandits.base import check_int
from promolab.errors import InputError
from promolab.uplift.data import UpliftData
from promolab.uplift.folds import fold_ids
from promolab.uplift.learners import LEARNERS
from promolab.uplift.regression import regressions

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

MAX_FOLDS = 20
MIN_ROWS_PER_FOLD = 10  # rows of every arm in every fold
MAX_SEED = 2**32 - 1  # what numpy and scikit-learn accept as a seed


@dataclass(frozen=True, eq=False)
class CrossFit:
    """Out-of-fold predictions of one learner for one outcome."""

    learner: str
    outcome: str
    fold: np.ndarray  # (n,) the fold of each row: its predictions come from the other folds
    mu0: np.ndarray  # (n,) μ̂_0(xᵢ)
    tau: np.ndarray  # (n, K) τ̂_k(xᵢ)

    @property
    def q(self) -> np.ndarray:
        """q̂(xᵢ, a) for every arm, (n, K + 1): μ̂_0 and μ̂_0 + τ̂_k."""
        return np.column_stack([self.mu0, self.mu0[:, None] + self.tau])


def check_folds(folds: object, data: UpliftData) -> int:
    """2 ≤ folds ≤ MAX_FOLDS, and every arm has MIN_ROWS_PER_FOLD rows per fold."""
    folds = check_int("folds", folds, 2, MAX_FOLDS)
    counts = data.counts
    smallest = int(np.argmin(counts))
    if counts[smallest] < MIN_ROWS_PER_FOLD * folds:
        most = counts[smallest] // MIN_ROWS_PER_FOLD
        expected = (f"at most {most} folds" if most >= 2 else "2 folds, which needs more rows") + (
            f": arm {data.arms[smallest]!r} has {counts[smallest]} rows ({MIN_ROWS_PER_FOLD} per arm and fold)")
        raise InputError("folds", folds, expected)
    return folds


def cross_fit(data: UpliftData, y: np.ndarray, *, label: str, learner: str = "x",
              model: str | BaseEstimator = "hgb", folds: int = 5, seed: int = 0) -> CrossFit:
    """Out-of-fold μ̂_0 and τ̂ of outcome ``y`` (named ``label``) by ``learner`` (t, x, dr)
    on ``model`` (``ridge``, ``hgb`` or any scikit-learn regressor, cloned per fit)."""
    if learner not in LEARNERS:
        raise InputError("learner", learner, "one of " + ", ".join(LEARNERS))
    folds = check_folds(folds, data)
    seed = check_int("seed", seed, 0, MAX_SEED)
    y = np.asarray(y, dtype=float)
    if y.shape != (data.n,) or not np.all(np.isfinite(y)):
        raise InputError(f"outcome {label}", f"shape {y.shape}", f"{data.n} finite numbers")
    return fit_folds(data, y, label=label, learner=learner, model=model, fold=fold_ids(data.arm, folds, seed),
                     seed=seed)


def fit_folds(data: UpliftData, y: np.ndarray, *, label: str, learner: str, model: str | BaseEstimator,
              fold: np.ndarray, seed: int) -> CrossFit:
    """``cross_fit`` on given fold ids, unchecked (for callers that checked their inputs)."""
    fit = LEARNERS[learner]
    models = regressions(model, data.x, seed)
    mu0, tau = np.empty(data.n), np.empty((data.n, len(data.offers)))
    # one OpenMP thread: the fits are small, and on a busy machine gradient boosting's
    # spinning threads made one fit take 1-10 s instead of 0.2 s
    with threadpool_limits(limits=1, user_api="openmp"):
        for f in np.unique(fold):
            train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            effects = fit(models, train, data.arm, y, test, data.propensity, int(seed + f + 1) % (MAX_SEED + 1))
            mu0[test], tau[test] = effects.mu0, effects.tau
    if not (np.all(np.isfinite(mu0)) and np.all(np.isfinite(tau))):
        raise InputError(f"outcome {label}", "non-finite predictions", "a regressor that predicts finite numbers")
    return CrossFit(learner, label, fold, mu0, tau)
