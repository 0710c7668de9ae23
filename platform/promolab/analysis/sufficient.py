"""Rows of the sufficient-statistics query → per-variant ``VariantStats``.

The query (``promolab.analysis.sql.sufficient_stats_sql``) returns one row per variant
with ``n`` and, per metric ``m``, ``m__sum``, ``m__sum_sq`` (and ``m__sum_x``,
``m__sum_x2``, ``m__sum_xy`` for ratio and CUPED metrics; ``m__n``, the users counted, for
a metric with a conversion window — the others count every user of the variant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from promolab.analysis.metrics import ColumnMetric
from promolab.stats import JointStats, MeanStats


@dataclass(frozen=True)
class VariantStats:
    """One variant's user count and per-metric sufficient statistics (whose n is lower for a
    metric leaving out users whose conversion window is still open)."""

    n: int
    metrics: Mapping[str, MeanStats | JointStats]

    @property
    def fewest(self) -> int:
        """The smallest number of users any metric counts."""
        return min((s.n for s in self.metrics.values()), default=self.n)


def stats_from_frame(frame: pd.DataFrame, metrics: Sequence[ColumnMetric]) -> dict[str, VariantStats]:
    """Rows of the sufficient-statistics query → VariantStats per variant."""
    out: dict[str, VariantStats] = {}
    for row in frame.to_dict("records"):
        per_metric: dict[str, MeanStats | JointStats] = {}
        n = int(row["n"])
        for m in metrics:
            p = m.name
            y, y2 = float(row[f"{p}__sum"] or 0.0), float(row[f"{p}__sum_sq"] or 0.0)
            counted = int(row[f"{p}__n"] or 0) if f"{p}__n" in row else n
            if m.joint:
                per_metric[p] = JointStats(counted, y, y2, float(row[f"{p}__sum_x"] or 0.0),
                                           float(row[f"{p}__sum_x2"] or 0.0), float(row[f"{p}__sum_xy"] or 0.0))
            else:
                per_metric[p] = MeanStats(counted, y, y2)
        out[str(row["variant"])] = VariantStats(n, per_metric)
    return out
