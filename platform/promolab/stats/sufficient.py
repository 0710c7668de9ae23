"""Sufficient statistics: the only thing the statistics need from the data.

SQL computes them where the data lives (``COUNT``, ``SUM``, ``SUM(x*x)``, ``SUM(x*y)``);
they add, so partial aggregates from several partitions or engines combine exactly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeanStats:
    """n, Σy and Σy² of a per-user metric (a binomial metric is a 0/1 y)."""

    n: int
    sum: float
    sum_sq: float

    def __add__(self, other: "MeanStats") -> "MeanStats":
        return MeanStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)

    @property
    def mean(self) -> float:
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """Sample variance with ddof=1: (Σy² − n·ȳ²) / (n − 1).

        Σy² − (Σy)²/n cancels catastrophically when the spread is tiny next to the mean (a
        cost every user pays alike); a result within rounding of Σy² (relative 1e-12) is 0.
        """
        if self.n < 2:
            return 0.0
        spread = self.sum_sq - self.sum * self.sum / self.n
        if spread <= 1e-12 * abs(self.sum_sq):
            return 0.0
        return spread / (self.n - 1)


@dataclass(frozen=True)
class JointStats:
    """Moments of two per-user columns y and x with their cross sum.

    Used for ratio metrics (y = numerator, x = denominator) and for CUPED
    (y = metric in the experiment, x = the pre-period covariate).
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    def __add__(self, other: "JointStats") -> "JointStats":
        return JointStats(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_xy + other.sum_xy,
        )

    @property
    def y(self) -> MeanStats:
        return MeanStats(self.n, self.sum_y, self.sum_y2)

    @property
    def x(self) -> MeanStats:
        return MeanStats(self.n, self.sum_x, self.sum_x2)

    @property
    def covariance(self) -> float:
        """Sample covariance of y and x with ddof=1."""
        if self.n < 2:
            return 0.0
        return (self.sum_xy - self.sum_x * self.sum_y / self.n) / (self.n - 1)
