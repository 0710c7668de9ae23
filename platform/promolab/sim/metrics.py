"""Summaries of a batch of runs: regret band, allocation, best-arm identification, cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from promolab.bandits import bernoulli_kl
from promolab.sim.scenario import Scenario
from promolab.sim.simulate import RunBatch

IDENTIFIED = 0.95  # P(best arm identified) that counts as "found the winner"


@dataclass(frozen=True, eq=False)
class Band:
    """Mean across runs with its standard error, and the 5th–95th percentile band of runs."""

    mean: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Band:
        """Band over axis 0 (runs)."""
        runs = values.shape[0]
        se = values.std(axis=0, ddof=1) / np.sqrt(runs) if runs > 1 else np.zeros(values.shape[1:])
        low, high = np.percentile(values, [5, 95], axis=0)
        return cls(values.mean(axis=0), se, low, high)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": _list(self.mean), "se": _list(self.se), "p05": _list(self.low), "p95": _list(self.high)}


@dataclass(frozen=True, eq=False)
class SimulationSummary:
    """What a data scientist reads off a simulation of one policy on one scenario."""

    scenario: str
    policy: str
    params: dict[str, Any]
    arms: tuple[str, ...]
    runs: int
    users: np.ndarray               # (P,) checkpoints, users per run
    regret: Band                    # cumulative regret at each checkpoint
    allocation: np.ndarray          # (P, K) share of each window's users per arm, mean over runs
    final_share: np.ndarray         # (K,) share of all users per arm
    p_best: np.ndarray              # (P,) P(empirical best arm = oracle arm)
    users_to_identify: int | None   # first checkpoint from which p_best stays ≥ IDENTIFIED
    discount_spent: Band            # total per run, shape (1,)
    margin_lost: Band | None        # per run, expected margin lost versus the margin-best arm
    lai_robbins: np.ndarray | None  # (P,) asymptotic regret lower bound, stationary Bernoulli only

    def to_dict(self) -> dict[str, Any]:
        final = lambda band: None if band is None else {k: v[-1] for k, v in band.to_dict().items()}  # noqa: E731
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "params": self.params,
            "arms": list(self.arms),
            "runs": self.runs,
            "users": _list(self.users),
            "regret": {"final": final(self.regret), **self.regret.to_dict()},
            "allocation": {"final_share": dict(zip(self.arms, _list(self.final_share))),
                           "over_time": [dict(zip(self.arms, row)) for row in _list(self.allocation)]},
            "best_arm_identification": {"p_best": _list(self.p_best), "users_to_identify": self.users_to_identify,
                                        "threshold": IDENTIFIED},
            "discount_spent": final(self.discount_spent),
            "margin_lost": final(self.margin_lost),
            "lai_robbins": None if self.lai_robbins is None else _list(self.lai_robbins),
        }


def lai_robbins_coefficient(rates: np.ndarray) -> float:
    """Σ_{k: Δₖ>0} Δₖ / KL(μₖ, μ*): regret ≥ (this + o(1))·ln T (Lai & Robbins 1985)."""
    best = rates.max()
    gaps = best - rates
    losers = gaps > 0
    return float(np.sum(gaps[losers] / bernoulli_kl(rates[losers], best)))


def summarise(batch: RunBatch, scenario: Scenario, label: str, params: dict[str, Any]) -> SimulationSummary:
    """Aggregate raw runs into bands and curves."""
    window = np.diff(batch.pulls, axis=1, prepend=0.0)
    allocation = (window / window.sum(axis=2, keepdims=True)).mean(axis=0)
    final = batch.pulls[:, -1, :]
    p_best = batch.identified.mean(axis=0)
    below = np.flatnonzero(p_best < IDENTIFIED)
    first = 0 if not below.size else below[-1] + 1
    lai_robbins = None
    if scenario.reward == "conversion" and scenario.arms.stationary:
        lai_robbins = lai_robbins_coefficient(scenario.arms.rate) * np.log(batch.users)
    return SimulationSummary(
        scenario=scenario.name,
        policy=label,
        params=params,
        arms=scenario.arms.names,
        runs=batch.runs,
        users=batch.users,
        regret=Band.of(batch.regret),
        allocation=allocation,
        final_share=(final / final.sum(axis=1, keepdims=True)).mean(axis=0),
        p_best=p_best,
        users_to_identify=int(batch.users[first]) if first < len(batch.users) else None,
        discount_spent=Band.of(batch.discount[:, None]),
        margin_lost=None if batch.margin_lost is None else Band.of(batch.margin_lost[:, None]),
        lai_robbins=lai_robbins,
    )


def _list(values: np.ndarray) -> Any:
    return np.round(np.asarray(values, dtype=float), 6).tolist()
