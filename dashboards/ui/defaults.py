"""What each page shows before the user changes anything: one definition, used by the pages and
by the prefetch that computes those views while the user reads the first page."""

from __future__ import annotations

from promolab.spec import Experiment
from promolab.spec.vocabulary import SPENDING_NAMES

LOOKS = 5  # looks of the Sequential page when the spec plans none
UPLIFT_LEARNERS = ("x",)
UPLIFT_MODEL = "ridge"
UPLIFT_SHARES = (None, 0.1, 0.2, 0.3, 0.5, 0.75)  # the budget choices; None: no budget


def cuped(experiment: Experiment) -> bool:
    """CUPED is on when the spec declares a pre-period covariate."""
    return any(m.covariate for m in experiment.metrics + experiment.guardrails)


def sequential_design(experiment: Experiment) -> tuple[int, str]:
    """(looks, spending): the spec's plan, else 5 looks with the first spending function."""
    looks = min(max(experiment.plan.looks or LOOKS, 2), 30)
    spending = experiment.plan.spending if experiment.plan.spending in SPENDING_NAMES else next(iter(SPENDING_NAMES))
    return looks, spending


def targeting_rank(experiment: Experiment) -> int:
    """Contextual experiments first, then A/B tests with offers, then what the Targeting page
    cannot analyse."""
    if experiment.kind == "contextual":
        return 0
    return 1 if experiment.kind == "ab" and len(experiment.variant_keys) >= 2 else 2
