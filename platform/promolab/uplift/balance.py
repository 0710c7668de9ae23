"""Is the treatment assignment independent of the features? Uplift needs randomised data.

Per feature, Pearson's chi-square test of independence of arm and feature value on the
arms × values table (``promolab.stats.contingency``; a numeric feature is cut into ``BINS``
quantile bins first), and the largest absolute standardised mean difference
of its encoded columns between an offer and the control,
SMD = (x̄_k − x̄_0) / sqrt((s²_k + s²_0) / 2) (Austin 2009). A table whose smallest
p-value is below the strict ``THRESHOLD`` (1e-6: a randomised table with ten features
fails it about once in 100,000 times) is refused: the offers went to different people,
and a difference in outcomes would be a difference in who got them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.errors import InputError
from promolab.stats.contingency import chi2_independence
from promolab.uplift.data import UpliftData

THRESHOLD = 1e-6
BINS = 10


@dataclass(frozen=True)
class FeatureBalance:
    feature: str
    chi2: float
    dof: int
    p_value: float
    max_abs_smd: float


@dataclass(frozen=True)
class BalanceCheck:
    """Per-feature balance of the arms; ``passed`` when every p-value is ≥ ``threshold``."""

    threshold: float
    features: tuple[FeatureBalance, ...]

    @property
    def worst(self) -> FeatureBalance:
        return min(self.features, key=lambda f: (f.p_value, -f.max_abs_smd))

    @property
    def passed(self) -> bool:
        return self.worst.p_value >= self.threshold


def _codes(columns: np.ndarray, categorical: bool) -> np.ndarray:
    if categorical:
        return columns.argmax(axis=1)
    x = columns[:, 0]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, BINS + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right")


def _chi2(arm: np.ndarray, codes: np.ndarray, n_arms: int) -> tuple[float, int, float]:
    table = np.zeros((n_arms, int(codes.max()) + 1))
    np.add.at(table, (arm, codes), 1)
    return chi2_independence(table)  # a constant feature: (0, 0, 1), it cannot depend on the arm


def _max_smd(columns: np.ndarray, arm: np.ndarray, n_arms: int) -> float:
    c = columns[arm == 0]
    worst = 0.0
    for k in range(1, n_arms):
        t = columns[arm == k]
        diff = t.mean(axis=0) - c.mean(axis=0)
        sd = np.sqrt((t.var(axis=0, ddof=1) + c.var(axis=0, ddof=1)) / 2) if min(len(t), len(c)) > 1 else 0
        smd = np.divide(np.abs(diff), sd, out=np.where(np.abs(diff) > 0, np.inf, 0.0), where=sd > 0)
        worst = max(worst, float(smd.max()))
    return worst


def check_balance(data: UpliftData, threshold: float = THRESHOLD) -> BalanceCheck:
    """Chi-square p-value and largest |SMD| of every feature across the arms."""
    out, start = [], 1
    for feature in data.features.features:
        columns = data.x[:, start:start + feature.width]
        start += feature.width
        chi2, dof, p = _chi2(data.arm, _codes(columns, feature.kind == "categorical"), len(data.arms))
        out.append(FeatureBalance(feature.name, chi2, dof, p, _max_smd(columns, data.arm, len(data.arms))))
    return BalanceCheck(threshold, tuple(out))


def require_randomised(check: BalanceCheck, treatment: str) -> None:
    """Refuse, naming the treatment column and the most unbalanced feature."""
    if not check.passed:
        w = check.worst
        raise InputError("treatment", treatment,
                         f"a randomised assignment independent of the features, but {w.feature} differs by arm "
                         f"(chi-square p = {w.p_value:.1e} < {check.threshold:g}, max |SMD| {w.max_abs_smd:.2f})")
