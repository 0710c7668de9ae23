"""A live bandit's reward and estimated regret over time, per day (or hour / week).

Per-user rewards come from the report's own per-user SQL
(``promolab.analysis.sql.per_user_ctes``, with the metric's cap), so the reward is exactly
the metric the report and the weight updates use: ``[bandit] reward`` when it names a
non-ratio metric of the experiment, else the primary metric. Users belong to the period of
their first exposure and bring all their reward so far.

Estimated regret (plug-in): each user sent to arm a costs μ̂* − μ̂_a, where μ̂ are the arms'
mean rewards over the whole experiment so far and μ̂* the best of them, so the regret of a
period is Σ_a users_{p,a} (μ̂* − μ̂_a). It is an estimate — the true means are unknown — and
the curve flattens as the bandit moves traffic to the best arm.

The arms' means μ̂ are the report's (``promolab.analysis``: period-stratified, after the
report's filtering and exclusions), so the Bandit page and the Report page show the same
number for an arm; the report's SRM check travels with them (``blocked``). Only when no
report can be made yet (an arm with fewer than 2 users) are they the pooled means.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from promolab.analysis.pipeline import analyze_experiment
from promolab.analysis.sql import per_user_ctes, quote
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.stats import SrmResult
from promolab.store import Registry

PERIODS = ("hour", "day", "week")


def bandit_setting(experiment: Experiment, name: str, default=None):
    """A field of the experiment's ``[bandit]`` table (a ``BanditConfig``; a plain dict in older specs)."""
    config = experiment.bandit
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def reward_metric(experiment: Experiment) -> str:
    """The metric a bandit maximises: ``[bandit] reward`` if it is a non-ratio metric, else the primary."""
    reward = bandit_setting(experiment, "reward")
    keys = [m.key for m in experiment.metrics + experiment.guardrails if m.kind != "ratio"]
    if not keys:
        raise InputError("metrics", experiment.key, "a binomial or mean metric to use as the reward")
    if isinstance(reward, str) and reward in keys:
        return reward
    primary = experiment.primary_metric
    return primary.key if primary.kind != "ratio" else keys[0]


@dataclass(frozen=True)
class RegretPeriod:
    """One period: users and reward (total and per arm), cumulative totals, estimated regret."""

    start: datetime
    users: int
    reward: float
    regret: float
    cumulative_users: int
    cumulative_reward: float
    cumulative_regret: float
    allocation: dict[str, int]  # users per arm in this period
    share: dict[str, float]  # allocation / users


@dataclass(frozen=True)
class ArmRegret:
    """One arm over the whole experiment so far."""

    variant: str
    users: int
    reward: float
    mean_reward: float | None  # None without users
    gap: float | None  # μ̂* − μ̂_a (None without users)
    regret: float  # users × gap
    share_of_users: float
    current_weight: float | None


@dataclass(frozen=True)
class BanditRegret:
    """Cumulative reward and plug-in regret of a bandit experiment, per period and per arm."""

    experiment: str
    reward_metric: str
    reward_kind: str
    period: str
    variants: tuple[str, ...]
    best_variant: str | None
    best_mean: float | None
    periods: tuple[RegretPeriod, ...]
    arms: tuple[ArmRegret, ...]
    srm: SrmResult | None = None  # the report's (None: no report yet)
    notes: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        """No "best arm" read-out: the report's SRM check fails."""
        return self.srm is not None and not self.srm.ok

    @property
    def users(self) -> int:
        return self.periods[-1].cumulative_users if self.periods else 0

    @property
    def total_reward(self) -> float:
        return self.periods[-1].cumulative_reward if self.periods else 0.0

    @property
    def total_regret(self) -> float:
        return self.periods[-1].cumulative_regret if self.periods else 0.0

    def frame(self) -> pd.DataFrame:
        """One row per period (columns as in ``to_dict()['periods']``, without the per-arm dicts)."""
        cols = ["start", "users", "reward", "regret", "cumulative_users", "cumulative_reward", "cumulative_regret"]
        return pd.DataFrame([{c: getattr(p, c) for c in cols} for p in self.periods], columns=cols)

    def allocation_frame(self) -> pd.DataFrame:
        """Users per arm and period: index start, one column per variant."""
        return pd.DataFrame([p.allocation for p in self.periods], index=[p.start for p in self.periods],
                            columns=list(self.variants)).fillna(0).astype(int)

    def arm_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(a) for a in self.arms])

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``promolab bandit regret KEY --json`` (read by the dashboard)."""
        return {
            "experiment": self.experiment,
            "reward_metric": self.reward_metric,
            "reward_kind": self.reward_kind,
            "period": self.period,
            "variants": list(self.variants),
            "best_variant": self.best_variant,
            "best_mean": self.best_mean,
            "users": self.users,
            "total_reward": self.total_reward,
            "total_regret": self.total_regret,
            "periods": [{**asdict(p), "start": p.start.isoformat()} for p in self.periods],
            "arms": [asdict(a) for a in self.arms],
            "srm": None if self.srm is None else asdict(self.srm),
            "blocked": self.blocked,
            "notes": list(self.notes),
        }


def period_rewards(registry: Registry, experiment: Experiment, period: str = "day") -> pd.DataFrame:
    """Columns start, variant, users, reward (sum of the capped reward metric): one row per period and arm."""
    if period not in PERIODS:
        raise InputError("--period", period, " | ".join(PERIODS))
    metric = reward_metric(experiment)
    cap = experiment.metric(metric).cap
    value = f"COALESCE(CAST(p.{quote(metric)} AS DOUBLE), 0)"
    if cap is not None:
        value = f"LEAST({value}, {float(cap)!r})"
    sql = per_user_ctes(experiment) + f"""
    SELECT date_trunc('{period}', p.{quote('exposed_at')}) AS start, p.{quote('variant')} AS variant,
           COUNT(*) AS users, SUM({value}) AS reward
    FROM per_user_table p
    GROUP BY 1, 2 ORDER BY 1, 2
    """
    frame = registry.query(sql)
    frame["users"] = frame["users"].astype(int)
    frame["reward"] = frame["reward"].astype(float)
    return frame


def compute_regret(rows: pd.DataFrame, variants: list[str], weights: dict[str, float] | None = None,
                   means: dict[str, float] | None = None
                   ) -> tuple[list[RegretPeriod], list[ArmRegret], str | None, float | None]:
    """Periods and arms from per-(period, arm) users and reward (``period_rewards``);
    ``means``: the arms' mean rewards (default: pooled reward / users)."""
    weights = weights or {}
    totals = rows.groupby("variant")[["users", "reward"]].sum()
    users = {v: int(totals.users.get(v, 0)) for v in variants}
    reward = {v: float(totals.reward.get(v, 0.0)) for v in variants}
    if means is None:
        means = {v: reward[v] / users[v] for v in variants if users[v] > 0}
    best = max(means, key=lambda v: (means[v], -variants.index(v))) if means else None
    best_mean = means[best] if best is not None else None
    gaps = {v: best_mean - m for v, m in means.items()} if best is not None else {}
    all_users = sum(users.values())
    arms = [ArmRegret(v, users[v], reward[v], means.get(v), gaps.get(v), users[v] * gaps.get(v, 0.0),
                      users[v] / all_users if all_users else 0.0, weights.get(v))
            for v in variants]
    periods = []
    cu, cr, cg = 0, 0.0, 0.0
    for start, g in rows.groupby("start", sort=True):
        alloc = {v: 0 for v in variants}
        alloc.update({str(v): int(n) for v, n in zip(g.variant, g.users)})
        n = int(g.users.sum())
        r = float(g.reward.sum())
        reg = float(sum(alloc[v] * gaps.get(v, 0.0) for v in variants))
        cu, cr, cg = cu + n, cr + r, cg + reg
        periods.append(RegretPeriod(pd.Timestamp(start).to_pydatetime(), n, r, reg, cu, cr, cg, alloc,
                                    {v: alloc[v] / n for v in variants}))
    return periods, arms, best, best_mean


def bandit_regret(registry: Registry, key: str, period: str = "day") -> BanditRegret:
    """Cumulative reward and plug-in estimated regret of bandit ``key`` per ``period``."""
    experiment = registry.get_experiment(key)
    if experiment.kind != "bandit":
        raise InputError("experiment", key, "a bandit experiment (kind = 'bandit')")
    metric = reward_metric(experiment)
    rows = period_rewards(registry, experiment, period)
    variants = list(experiment.variant_keys)
    notes = []
    means, srm = None, None
    if not rows.empty:
        try:
            report = analyze_experiment(registry, key)
        except InputError as exc:
            notes.append(f"arm means are pooled: no report yet ({exc})")
        else:
            srm = report.srm
            means = {v.variant: v.mean for v in report.metric(metric).variants}
            if report.blocked:
                notes.append(report.verdict.text)
    periods, arms, best, best_mean = compute_regret(rows, variants, registry.current_weights(key), means)
    if not periods:
        notes.append("no exposures yet: reward and regret appear once users are assigned")
    if any(a.users == 0 for a in arms) and periods:
        notes.append("arms without users have no mean reward and count no regret")
    return BanditRegret(key, metric, experiment.metric(metric).kind, period, tuple(variants), best,
                        None if best_mean is None or not math.isfinite(best_mean) else best_mean,
                        tuple(periods), tuple(arms), srm, tuple(notes))
