"""Pearson's chi-square test of independence on a contingency table.

X² = Σ (O − E)² / E with E = row total × column total / N, on (rows − 1)(columns − 1)
degrees of freedom, p = P(χ² > X²): ``scipy.stats.chi2_contingency(table,
correction=False)`` (the tests hold the two equal), with rows and columns that hold no
count left out (their expected counts are 0). Computed with ``scipy.special`` only:
``scipy.stats`` takes about half a second to import.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def chi2_independence(table: np.ndarray) -> tuple[float, int, float]:
    """(X², degrees of freedom, p-value); (0, 0, 1) when fewer than two rows or columns hold counts."""
    observed = np.asarray(table, dtype=float)
    observed = observed[observed.sum(axis=1) > 0][:, observed.sum(axis=0) > 0]
    if min(observed.shape) < 2:
        return 0.0, 0, 1.0
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    return statistic, dof, float(special.chdtrc(dof, statistic))
