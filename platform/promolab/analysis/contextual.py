"""The read-out of a contextual experiment: the policy against its randomised holdout, and
what each offer would have earned had every user got it.

Variants of a contextual experiment are chosen from each user's attributes, so comparing
the users who got one offer with those who got another compares different customers. Two
comparisons are unbiased by design:

- **policy vs holdout**: a ``holdout`` share of users, drawn by hash independently of
  everything else, is split by the configured weights; the rest follow the policy. The
  difference in the reward metric between the two groups is the policy's effect against a
  randomised split (a two-sample test on the groups, ``proportion_test`` / ``welch_test``).
- **each offer, off-policy**: with the propensity logged at each decision, the
  self-normalised IPS mean (``stats.snips_mean``) of variant k estimates the mean reward
  had every user been given k.

The sample-ratio check of a contextual experiment is run on the holdout, the only users
split by the configured weights (``holdout_counts``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from promolab.analysis.results import Verdict
from promolab.analysis.sql import experiment_metrics, per_user_ctes
from promolab.assign.scalar import holdout_prefix, uniform_one
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.vocabulary import Direction
from promolab.stats import MeanStats, WeightedMean, WeightedStats, proportion_test, snips_mean, welch_test
from promolab.stats.frequentist import LiftResult
from promolab.stats.srm import SrmResult
from promolab.store import Registry


@dataclass(frozen=True)
class PolicyReadout:
    """Policy vs holdout on the reward metric, and each variant's IPS-estimated mean reward."""

    metric: str
    policy_users: int
    holdout_users: int
    policy_vs_holdout: LiftResult | None  # None until both groups have 2 users
    variants: dict[str, WeightedMean | None]  # SNIPS mean reward had everyone got the variant
    unlogged: int  # exposed users without a logged propensity (left out of the IPS means)
    holdout_counts: dict[str, int]  # holdout users per variant: the split the SRM check tests

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "policy_users": self.policy_users, "holdout_users": self.holdout_users,
                "policy_vs_holdout": None if self.policy_vs_holdout is None else asdict(self.policy_vs_holdout),
                "variants": {k: None if v is None else asdict(v) for k, v in self.variants.items()},
                "unlogged": self.unlogged, "holdout_counts": dict(self.holdout_counts)}


def in_holdout(experiment: Experiment, user_ids: list[str]) -> np.ndarray:
    """Which users the assignment put in the holdout (the same hash draw as ``decide_one``)."""
    config = experiment.contextual
    if config is None:
        raise InputError("experiment", experiment.key, "a contextual experiment (kind = 'contextual')")
    prefix = holdout_prefix(experiment)
    return np.array([uniform_one(prefix, u.encode()) < config.holdout for u in user_ids], dtype=bool)


def contextual_readout(registry: Registry, experiment: Experiment, alpha: float) -> PolicyReadout:
    """The read-out of a contextual experiment from its exposures, propensities and rewards."""
    config = experiment.contextual
    if config is None:
        raise InputError("experiment", experiment.key, "a contextual experiment (kind = 'contextual')")
    metric = next(m for m in experiment_metrics(experiment, cuped=False) if m.name == config.reward)
    frame = registry.query(
        per_user_ctes(experiment) + f'SELECT p.user_id, p.variant, p."{metric.name}" AS reward, x.propensity '
        "FROM per_user_table p JOIN exposures x ON x.user_id = p.user_id AND x.experiment_key = ? "
        "ORDER BY p.user_id", [experiment.key])
    reward = frame["reward"].to_numpy(dtype=float)
    holdout = in_holdout(experiment, frame["user_id"].tolist())
    groups = [MeanStats(int(m.sum()), float(reward[m].sum()), float(reward[m] @ reward[m]))
              for m in (holdout, ~holdout)]
    test = proportion_test if metric.kind == "binomial" else welch_test
    lift = test(groups[0], groups[1], alpha) if min(g.n for g in groups) >= 2 else None
    propensity = frame["propensity"].to_numpy(dtype=float)
    logged = ~np.isnan(propensity)
    variants = {}
    for key in experiment.variant_keys:
        rows = logged & (frame["variant"].to_numpy() == key)
        variants[key] = snips_mean(WeightedStats.of(reward[rows], propensity[rows]), alpha)
    assigned = frame["variant"].to_numpy()
    counts = {key: int((holdout & (assigned == key)).sum()) for key in experiment.variant_keys}
    return PolicyReadout(metric.name, groups[1].n, groups[0].n, lift, variants, int((~logged).sum()), counts)


def policy_verdict(srm: SrmResult, readout: PolicyReadout, direction: Direction, title: str) -> Verdict:
    """The verdict of a contextual experiment: SRM on the holdout blocks everything, then the
    policy-vs-holdout test on the reward metric decides (never a per-variant lift: those
    compare different customers)."""
    if not srm.ok:
        return Verdict("investigate", None,
                       f"Sample ratio mismatch in the holdout (p = {srm.p_value:.2g} < {srm.threshold:g}): the "
                       "randomised comparison is broken, so no result can be trusted. Fix assignment first.")
    lift = readout.policy_vs_holdout
    if lift is None:
        return Verdict("keep running", None, "Keep running: too few users in the policy or the holdout to compare.")
    change = (f"{title} {lift.absolute:+.4g} per user vs the randomised holdout "
              f"(CI {lift.abs_ci_low:+.4g} to {lift.abs_ci_high:+.4g}, p = {lift.p_value:.2g})")
    significant = not lift.abs_ci_low <= 0 <= lift.abs_ci_high  # the CI at the plan's alpha excludes 0
    better = (lift.absolute > 0) == (direction == "increase")
    if significant and better:
        return Verdict("ship", None, f"Keep the targeting policy: {change}.")
    if significant:
        return Verdict("stop", None, f"Stop the targeting policy: {change}.")
    return Verdict("keep running", None, f"Keep running: the policy is not shown to differ from the holdout: {change}.")
