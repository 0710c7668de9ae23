"""Fold ids stratified by arm, for cross-fitting.

The assignment of scikit-learn's ``StratifiedKFold(folds, shuffle=True, random_state=seed)``
(``_make_test_folds``; the tests hold the two equal): arms are ranked by first appearance,
each fold's share of every arm comes from dealing the rows, sorted by arm, round-robin to the
folds, and each arm's block of fold ids is shuffled by ``RandomState(seed)``. Written here
so that the closed-form ridge learners need no scikit-learn: its import, with the
``scipy.stats`` it loads, takes 0.5-1 s of a small machine.
"""

from __future__ import annotations

import numpy as np


def fold_ids(arm: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0 … folds − 1) of each row, every arm spread as evenly as it divides."""
    _, first, inverse = np.unique(arm, return_index=True, return_inverse=True)
    encoded = np.unique(first, return_inverse=True)[1][inverse]  # arms numbered by first appearance
    n_arms = first.size
    dealt = np.sort(encoded)
    allocation = np.array([np.bincount(dealt[i::folds], minlength=n_arms) for i in range(folds)])
    rng = np.random.RandomState(seed)
    fold = np.empty(arm.size, dtype=np.int64)
    for k in range(n_arms):
        block = np.arange(folds).repeat(allocation[:, k])
        rng.shuffle(block)
        fold[encoded == k] = block
    return fold
