"""Statistics on sufficient statistics: tests, CIs, Bayesian read-outs, SRM, power,
multiple testing. Pure functions: no database, no I/O.

(Group-sequential and always-valid methods live in ``promolab.stats.sequential``.)
"""

from promolab.stats.bayesian import chance_to_win, expected_loss
from promolab.stats.frequentist import (
    CupedResult,
    LiftResult,
    cuped_test,
    proportion_test,
    ratio_test,
    welch_test,
)
from promolab.stats.multiple import adjust_pvalues
from promolab.stats.power import (
    PowerResult,
    mde_mean,
    mde_proportion,
    sample_size_mean,
    sample_size_proportion,
)
from promolab.stats.srm import SrmResult, srm_test
from promolab.stats.sufficient import JointStats, MeanStats

__all__ = [
    "MeanStats",
    "JointStats",
    "LiftResult",
    "CupedResult",
    "proportion_test",
    "welch_test",
    "ratio_test",
    "cuped_test",
    "chance_to_win",
    "expected_loss",
    "SrmResult",
    "srm_test",
    "adjust_pvalues",
    "PowerResult",
    "sample_size_proportion",
    "mde_proportion",
    "sample_size_mean",
    "mde_mean",
]
