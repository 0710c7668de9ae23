"""A live bandit experiment: rewards over time and the estimated regret.

Per-user rewards come from the report's own per-user SQL
(``promolab.analysis.sql.per_user_ctes``), so the reward is exactly the metric the report
analyses. The reward metric is ``[bandit] reward`` when it names a metric of the
experiment, else the primary metric.

Estimated regret (plug-in): each user sent to arm a costs μ̂* − μ̂_a, where μ̂ are the arms'
mean rewards over the whole experiment so far and μ̂* the best of them. It is an estimate —
the true means are unknown — and it shrinks as the bandit moves traffic to the best arm.
"""

from __future__ import annotations

import pandas as pd

from promolab.analysis.sql import per_user_ctes, quote
from promolab.spec import Experiment
from promolab.store import Registry


def bandit_setting(experiment: Experiment, name: str, default=None):
    """A field of the experiment's ``[bandit]`` table (a ``BanditConfig``; a plain dict in older specs)."""
    config = experiment.bandit
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def reward_metric(experiment: Experiment) -> str:
    """The metric a bandit maximises: ``[bandit] reward`` if it is a metric key, else the primary."""
    reward = bandit_setting(experiment, "reward")
    keys = [m.key for m in experiment.metrics + experiment.guardrails if m.kind != "ratio"]
    if isinstance(reward, str) and reward in keys:
        return reward
    primary = experiment.primary_metric
    return primary.key if primary.kind != "ratio" else keys[0]


def daily_rewards(registry: Registry, experiment: Experiment) -> pd.DataFrame:
    """Columns day, variant, users, reward (sum of the reward metric), one row per day and variant."""
    metric = reward_metric(experiment)
    cap = experiment.metric(metric).cap
    value = f"COALESCE(CAST(p.{quote(metric)} AS DOUBLE), 0)"
    if cap is not None:
        value = f"LEAST({value}, {float(cap)!r})"
    sql = per_user_ctes(experiment) + f"""
    SELECT date_trunc('day', x.first_exposed_at) AS day, p.variant AS variant,
           COUNT(*) AS users, SUM({value}) AS reward
    FROM per_user_table p
    JOIN exposures x ON x.user_id = p.user_id AND x.experiment_key = ?
    GROUP BY 1, 2 ORDER BY 1, 2
    """
    frame = registry.query(sql, [experiment.key])
    frame["users"] = frame["users"].astype(int)
    frame["reward"] = frame["reward"].astype(float)
    return frame


def regret_path(daily: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Per day: cumulative users, reward and estimated regret (plug-in means over all days)."""
    totals = daily.groupby("variant")[["users", "reward"]].sum()
    means = (totals.reward / totals.users).reindex(variants)
    best = means.max()
    d = daily.assign(gap=daily.variant.map(best - means).fillna(0.0))
    d["regret"] = d.users * d.gap
    per_day = d.groupby("day")[["users", "reward", "regret"]].sum().sort_index()
    out = per_day.cumsum().rename(columns=lambda c: f"cumulative_{c}")
    out["best_variant"] = means.idxmax()
    out["best_mean"] = best
    return out.reset_index()


def arm_table(daily: pd.DataFrame, variants: list[str], weights: dict[str, float]) -> pd.DataFrame:
    """Per variant: users, total reward, mean reward, share of users, current weight."""
    totals = daily.groupby("variant")[["users", "reward"]].sum().reindex(variants).fillna(0)
    totals["mean_reward"] = totals.reward / totals.users.where(totals.users > 0)
    totals["share_of_users"] = totals.users / max(totals.users.sum(), 1)
    totals["current_weight"] = [weights.get(v, float("nan")) for v in variants]
    return totals.reset_index().rename(columns={"index": "variant"})


def allocation_steps(history: pd.DataFrame, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Weight history as a wide frame (one column per variant) that holds each weight until
    the next update, extended to ``until`` so the last allocation is visible."""
    wide = history.pivot_table(index="updated_at", columns="variant_key", values="weight", aggfunc="last")
    wide = wide.sort_index().ffill().fillna(0.0)
    if until is not None and len(wide) and until > wide.index[-1]:
        wide.loc[until] = wide.iloc[-1]
    return wide
