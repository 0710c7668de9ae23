"""Uplift modelling and targeting: who should get which offer.

From a randomised per-user table (a control and K offers): cross-fitted meta-learners of
each offer's effect τ_k(x) (``learners``, ``crossfit``), their out-of-sample Qini / AUUC /
decile evaluation (``curves``, ``evaluate``), the policy "the offer with the highest
predicted incremental margin after its cost, else none" valued off-policy against blanket
policies (``margin``, ``policy``), and its distillation into a linear, JSON-serialised
``TargetingPolicy`` the service can evaluate per user (``distill``, ``policy_file``).
``analyze_uplift`` runs it all (``report``).

Names load their submodule on first use: ``from promolab.uplift import load_policy``
imports numpy and the policy file module, not scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promolab.lazy import lazy_exports

if TYPE_CHECKING:
    from promolab.uplift.balance import BalanceCheck, FeatureBalance, check_balance
    from promolab.uplift.crossfit import CrossFit, cross_fit
    from promolab.uplift.curves import auuc, qini_coefficient, qini_curve, uplift_curve
    from promolab.uplift.data import UpliftData, read_table, uplift_data
    from promolab.uplift.estimators import EstimatorRows, gradient_boosting
    from promolab.uplift.evaluate import DecileRow, OfferEvaluation, evaluate_offers
    from promolab.uplift.folds import fold_ids
    from promolab.uplift.learners import LEARNERS
    from promolab.uplift.margin import parse_offer_costs, per_user_margin
    from promolab.uplift.policy import Lift, PolicyValue, TargetingEvaluation, choose, evaluate_targeting
    from promolab.uplift.policy_file import TargetingPolicy, load_policy, policy_from_dict
    from promolab.uplift.regression import MODELS, regressions
    from promolab.uplift.report import UpliftReport, analyze_uplift

_SOURCES: dict[str, str] = {
    "BalanceCheck": "balance", "FeatureBalance": "balance", "check_balance": "balance",
    "CrossFit": "crossfit", "cross_fit": "crossfit", "fold_ids": "folds",
    "EstimatorRows": "estimators", "gradient_boosting": "estimators",
    "auuc": "curves", "qini_coefficient": "curves", "qini_curve": "curves", "uplift_curve": "curves",
    "UpliftData": "data", "read_table": "data", "uplift_data": "data",
    "DecileRow": "evaluate", "OfferEvaluation": "evaluate", "evaluate_offers": "evaluate",
    "LEARNERS": "learners", "MODELS": "regression", "regressions": "regression",
    "parse_offer_costs": "margin", "per_user_margin": "margin",
    "Lift": "policy", "PolicyValue": "policy", "TargetingEvaluation": "policy", "choose": "policy",
    "evaluate_targeting": "policy",
    "TargetingPolicy": "policy_file", "load_policy": "policy_file", "policy_from_dict": "policy_file",
    "UpliftReport": "report", "analyze_uplift": "report",
}

__all__ = list(_SOURCES)

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, globals())
