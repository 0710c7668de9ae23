"""Confidence intervals for off-policy estimates that hold on sparse click logs.

One rule for every estimator (``bounded_interval``):

1. **Percentile bootstrap** (Efron & Tibshirani 1993, §13.3): resample the n rows with
   replacement ``n_bootstrap`` times, recompute the estimator on each resample, take the
   α/2 and 1 − α/2 quantiles of the replicates (α = 1 − level). OBP's
   ``estimate_confidence_interval_by_bootstrap`` does the same for the mean of per-row
   terms; here each replicate recomputes the estimator, so SNIPS renormalises its weights
   in every resample. The resamples are seeded and vectorised (``bootstrap_sums``); an estimator
   that fits a reward model refits it in each resample (``promolab.sim.ope``).
2. **Empirical-Bernstein fallback** when the replicates collapse to one value (all rewards
   zero, a single row): V̂ ± ε with (Maurer & Pontil 2009, "Empirical Bernstein bounds and
   sample variance penalization", Theorem 4, two-sided)
   ε = √(2 s² ln(4/α) / n) + 7 b ln(4/α) / (3 (n − 1)),
   s² the sample variance of the row terms and b the width of their range (from the largest
   importance weight and the reward's range, see ``promolab.sim.ope``); ε = b when n = 1.
3. **Nonnegative reward**: the lower bound is raised to 0, the reward's lower bound, which no
   policy value is below; an upper bound that would fall below it becomes 0 + ε.

So an interval on a nonnegative reward is never negative and never of zero width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import sparse

from promolab.bandits.base import check_int, check_range
from promolab.errors import InputError
from promolab.sim.scenario import MAX_SEED

LEVEL = 0.95
MIN_BOOTSTRAP, MAX_BOOTSTRAP = 100, 100_000  # below 100 the 2.5 % quantile rests on 2 replicates
# rows × replicates. One costs ≈ 8 ns with a few actions (draw a row index, count it, the dense
# product with ≈ 20 values per row), ≈ 45-70 ns with 100 (the reward model's columns grow with the
# actions, summed sparse): ≈ 4 s of one core for a few actions, ≈ 35 s at the 100-action maximum.
MAX_BOOTSTRAP_WORK = 500_000_000
CHUNK_CELLS = 2_000_000  # row indices drawn at once: 16 MB
DENSE_CELLS = 4_000_000  # bootstrap columns summed as a dense array up to 32 MB


@dataclass(frozen=True)
class Resampling:
    """How intervals are computed: ``n_bootstrap`` seeded resamples at confidence ``level``."""

    n_bootstrap: int = 1000
    seed: int = 0
    level: float = LEVEL

    def __post_init__(self) -> None:
        check_int("n_bootstrap", self.n_bootstrap, MIN_BOOTSTRAP, MAX_BOOTSTRAP)
        check_int("seed", self.seed, 0, MAX_SEED)
        check_range("level", self.level, 0.5, 0.999)

    def check_rows(self, rows: int) -> None:
        """Refuse a bootstrap of more than ``MAX_BOOTSTRAP_WORK`` rows × replicates."""
        if rows * self.n_bootstrap > MAX_BOOTSTRAP_WORK:
            most = max(MAX_BOOTSTRAP_WORK // max(rows, 1), 1)
            raise InputError("n_bootstrap", self.n_bootstrap,
                             f"at most {most:,} for {rows:,} rows (rows × n_bootstrap ≤ {MAX_BOOTSTRAP_WORK:,}, "
                             "≈ 4 s of one core)" + ("; lower n_bootstrap" if most >= MIN_BOOTSTRAP else ""))


def bootstrap_sums(columns: sparse.csc_array, statistic: Callable[[np.ndarray], np.ndarray],
                   resampling: Resampling) -> np.ndarray:
    """``statistic``(Σᵢ cᵢ xᵢ) for each resample c of the n rows, shape (n_bootstrap, e).

    ``columns`` holds the per-row vectors xᵢ (n × m); ``statistic`` maps sums (r, m) to
    estimates (r, e). A resample's counts cᵢ (multinomial(n, 1/n)) come from n uniform row
    indices; a chunk of resamples is counted by one ``bincount`` (resample j's indices offset
    by j·n) and summed by one matrix product: dense (BLAS) when the n × m columns fit in
    ``DENSE_CELLS``, about 3× faster than the sparse product even at half the cells zero.
    """
    n, m = columns.shape
    resampling.check_rows(n)
    rng = np.random.default_rng(resampling.seed)
    rows_by_column = columns.toarray() if n * m <= DENSE_CELLS else columns.tocsr()
    replicates = resampling.n_bootstrap
    chunk = max(1, CHUNK_CELLS // max(n, m))
    parts = []
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        rows = rng.integers(0, n, size=(size, n))
        rows += np.arange(0, size * n, n)[:, None]
        counts = np.bincount(rows.ravel(), minlength=size * n).reshape(size, n).astype(float)
        parts.append(statistic(np.asarray(counts @ rows_by_column)))
    return np.concatenate(parts)


def empirical_bernstein_radius(terms: np.ndarray, spread: float, level: float) -> float:
    """ε of Maurer & Pontil's two-sided bound for the mean of ``terms`` whose range is ``spread`` wide."""
    n = terms.size
    if n < 2:
        return float(spread)
    log_term = math.log(4 / (1 - level))
    return float(math.sqrt(2 * terms.var(ddof=1) * log_term / n) + 7 * spread * log_term / (3 * (n - 1)))


def bounded_interval(value: float, replicates: np.ndarray, terms: np.ndarray, spread: float, level: float,
                     floor: float | None) -> tuple[float, float, str]:
    """(lower, upper, method) by the module's rule: percentile bootstrap of ``replicates``, the
    empirical-Bernstein interval on ``terms`` when they collapse, lower bound raised to ``floor``
    (0 for a nonnegative reward, None otherwise)."""
    replicates = replicates[np.isfinite(replicates)]
    tail = (1 - level) / 2
    lower, upper = np.quantile(replicates, [tail, 1 - tail]) if replicates.size else (np.nan, np.nan)
    method = "bootstrap"
    if not upper - lower > 1e-12 * max(1.0, abs(value)):
        radius = empirical_bernstein_radius(terms, spread, level)
        lower, upper, method = value - radius, value + radius, "empirical-bernstein"
    if floor is not None and lower < floor:
        lower = floor
        if upper <= floor:
            upper = floor + empirical_bernstein_radius(terms, spread, level)
    return float(lower), float(upper), method
