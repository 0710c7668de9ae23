"""The Bandit page's view of ``promolab.adaptive.regret`` (``promolab bandit regret KEY --json``)
and of the stored weight history (``promolab bandit weights KEY --json``).

Reward, cumulative reward, plug-in estimated regret and per-arm allocation are computed by
the library; this module only reshapes the weight history for the stacked-area chart.
"""

from __future__ import annotations

import pandas as pd

from promolab.adaptive.regret import BanditRegret, bandit_regret, bandit_setting, reward_metric

__all__ = ["BanditRegret", "allocation_steps", "bandit_regret", "bandit_setting", "reward_metric"]


def allocation_steps(history: pd.DataFrame, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Weight history as a wide frame (one column per variant) that holds each weight until
    the next update, extended to ``until`` so the last allocation is visible."""
    wide = history.pivot_table(index="updated_at", columns="variant_key", values="weight", aggfunc="last")
    wide = wide.sort_index().ffill().fillna(0.0)
    if until is not None and len(wide) and until > wide.index[-1]:
        wide.loc[until] = wide.iloc[-1]
    return wide
