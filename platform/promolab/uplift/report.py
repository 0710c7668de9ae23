"""Who should get which offer: the whole analysis of a randomised table, as one report.

1. validate and encode the table; refuse it unless the arms are balanced on the features
   (``balance``);
2. per learner and outcome, cross-fitted τ̂ (``crossfit``) and its out-of-sample
   evaluation per offer: Qini coefficient, AUUC, deciles (``evaluate``);
3. per-user margin after promotion costs (``margin``), its cross-fitted uplift m̂_k(x)
   by the first learner, and the policy "the offer with the highest positive m̂_k, else
   none" (optionally only for a top share of users), valued off-policy against the blanket
   policies (``policy``);
4. the policy distilled into linear scores over φ(x) (``distill``), valued the same way,
   as the deployable ``TargetingPolicy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from promolab.analysis.economics import EconomicsConfig
from promolab.bandits.base import check_int
from promolab.errors import InputError
from promolab.sim.ope_intervals import Resampling
from promolab.uplift.balance import THRESHOLD, BalanceCheck, check_balance, require_randomised
from promolab.uplift.crossfit import MAX_SEED, CrossFit, check_folds, cross_fit
from promolab.uplift.data import UpliftData, uplift_data
from promolab.uplift.distill import distil, nested_scores
from promolab.uplift.evaluate import OfferEvaluation, evaluate_offers
from promolab.uplift.learners import LEARNERS
from promolab.uplift.margin import per_user_margin, reward_label
from promolab.uplift.policy import TargetingEvaluation, check_share, choose, evaluate_targeting, share_threshold
from promolab.uplift.policy_file import TargetingPolicy
from promolab.uplift.regression import check_model

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

LEARNER_NAMES = {"t": "T-learner", "x": "X-learner", "dr": "DR-learner"}
DEFINITIONS = {
    "qini_coefficient": "scikit-uplift qini_auc_score (negative_effect=True): (area − random) / (oracle − random) "
                        "under Radcliffe's Qini curve",
    "auuc": "scikit-uplift uplift_auc_score: the same normalisation under the uplift curve "
            "(Gutierrez & Gérardy 2017)",
    "non_binary_outcomes": "the same formulas with the oracle ordering y·(2t − 1) (scikit-uplift takes 0/1 only)",
    "policy_value": "mean reward per user under the policy, off-policy on cross-fitted held-out rows "
                    "(promolab.sim.ope IPS, SNIPS, DR; each estimate names its interval method and level)",
    "lift": "V(policy) − V(best blanket policy): the mean of paired per-row differences of IPS or DR terms",
}


@dataclass(frozen=True)
class UpliftReport:
    """Uplift models, their out-of-sample evaluation, and the targeting policy they give."""

    n: int
    arms: tuple[str, ...]  # the control first
    counts: tuple[int, ...]
    propensity: tuple[float, ...]
    learners: tuple[str, ...]  # the policy uses the first
    model: str
    folds: int
    seed: int
    share: float | None
    balance: BalanceCheck
    evaluations: tuple[OfferEvaluation, ...]
    targeting: TargetingEvaluation
    policy: TargetingPolicy
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "control": self.arms[0],
            "arms": [{"arm": a, "n": c, "propensity": p} for a, c, p in zip(self.arms, self.counts, self.propensity)],
            "features": self.policy.features.to_dicts(), "learners": list(self.learners), "model": self.model,
            "folds": self.folds, "seed": self.seed, "share": self.share,
            "balance": {**asdict(self.balance), "passed": self.balance.passed},
            "evaluations": [asdict(e) for e in self.evaluations], "targeting": asdict(self.targeting),
            "policy": self.policy.to_dict(), "definitions": DEFINITIONS, "notes": list(self.notes),
        }


def check_learners(learners: Sequence[str]) -> tuple[str, ...]:
    """Distinct names of ``LEARNERS``, at least one."""
    names = tuple(dict.fromkeys(learners))
    if not names:
        raise InputError("learner", "", "one or more of " + ", ".join(LEARNERS))
    for name in names:
        if name not in LEARNERS:
            raise InputError("learner", name, "one or more of " + ", ".join(LEARNERS))
    return names


def _reuse(fits: Mapping[str, CrossFit], data: UpliftData, margin: np.ndarray) -> CrossFit | None:
    """The first learner's fit of an outcome equal to the margin (no costs, margin rate 1)."""
    return next((fit for name, fit in fits.items() if np.array_equal(data.outcomes[name], margin)), None)


def _notes(targeting: TargetingEvaluation) -> tuple[str, ...]:
    notes = []
    for lift in targeting.lifts:
        ci = f"DR lift {lift.dr.value:+.4g} per user, 95 % CI {lift.dr.lower:+.4g} to {lift.dr.upper:+.4g}"
        if lift.conclusion == "worse":
            notes.append(f"{lift.policy} is worse than the blanket policy {lift.baseline} ({ci})")
        elif lift.conclusion == "not shown":
            notes.append(f"{lift.policy} is not shown to beat {lift.baseline} ({ci}): targeting is not shown to pay")
    notes.extend(f"{p.policy}: {warning}" for p in targeting.policies for warning in p.weights.warnings())
    return tuple(notes)


def analyze_uplift(frame: pd.DataFrame, *, treatment: str, control: str, outcomes: Sequence[str],
                   features: Sequence[str], economics: EconomicsConfig | None = None,
                   learners: Sequence[str] = ("x",), model: str | BaseEstimator = "hgb", folds: int = 5,
                   seed: int = 0, share: float | None = None, propensity: Mapping[str, float] | None = None,
                   balance_threshold: float = THRESHOLD, max_rows: int | None = None) -> UpliftReport:
    """The report for a randomised per-user table. ``economics``: the revenue column, margin
    rate and per-arm costs of the policy's reward (default: the first outcome, no costs)."""
    learners = check_learners(learners)
    check_model(model)
    econ = economics or EconomicsConfig(outcomes[0] if outcomes else "")
    if not econ.revenue:
        raise InputError("economics column", econ.revenue, "the column of the policy's revenue (or an outcome)")
    extra = [c for c in (econ.revenue, econ.orders, econ.buyers) if c]
    data = uplift_data(frame, treatment, control, outcomes, features, propensity, max_rows, extra)
    folds = check_folds(folds, data)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_share(share)
    balance = check_balance(data, balance_threshold)
    require_randomised(balance, treatment)

    def fit(y: np.ndarray, label: str, learner: str) -> CrossFit:
        return cross_fit(data, y, label=label, learner=learner, model=model, folds=folds, seed=seed)

    evaluations: list[OfferEvaluation] = []
    first: dict[str, CrossFit] = {}
    for learner in learners:
        for outcome in dict.fromkeys(outcomes):
            result = fit(data.outcomes[outcome], outcome, learner)
            first.setdefault(outcome, result)
            evaluations.extend(evaluate_offers(data, result, data.outcomes[outcome]))

    margin = per_user_margin(econ, data.arms, data.arm, data.outcomes[econ.revenue],
                             data.outcomes.get(econ.orders or ""), data.outcomes.get(econ.buyers or ""))
    margin_fit = _reuse(first, data, margin) or fit(margin, "margin", learners[0])
    predicted = margin_fit.tau
    weights = distil(data.x, predicted)
    linear = nested_scores(data, margin, margin_fit, model, seed)
    budget = "" if share is None else f", top {share:.0%}"
    full_name = f"targeted: {LEARNER_NAMES[learners[0]]}{budget}"
    linear_name = f"distilled: linear scores{budget}"
    label = reward_label(econ)
    targeting = evaluate_targeting(
        margin, data.arm, data.propensity, margin_fit.q, data.arms,
        {full_name: choose(predicted, share_threshold(predicted, share)),
         linear_name: choose(linear, share_threshold(linear, share))}, label, Resampling(seed=seed))
    best = targeting.policy(targeting.best_blanket)
    policy = TargetingPolicy(
        data.features, data.arms, weights, share_threshold(data.x @ weights.T, share), label,
        {"policy": targeting.policy(linear_name).dr, "full_model": targeting.policy(full_name).dr,
         best.policy: best.dr},
        {"fingerprint": data.fingerprint, "rows": data.n, "treatment": treatment, "learner": learners[0],
         "model": model if isinstance(model, str) else type(model).__name__, "folds": folds, "seed": seed})
    return UpliftReport(data.n, data.arms, tuple(int(c) for c in data.counts),
                        tuple(float(p) for p in data.propensity), learners, policy.source["model"], folds, seed, share,
                        balance, tuple(evaluations), targeting, policy, _notes(targeting))
