"""Statistics on sufficient statistics: tests, CIs, Bayesian read-outs, SRM, power,
multiple testing. Pure functions: no database, no I/O.

(Group-sequential and always-valid methods live in ``promolab.stats.sequential``.)

The names below are loaded from their submodule on first use (PEP 562): ``from
promolab.stats import sample_size_proportion`` imports ``promolab.stats.power`` and
what it needs, not the Bayesian integrals or the multiple-testing module, so a command
that uses one of them starts in a fraction of the time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promolab.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy table below resolves to, for type checkers and IDEs
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
    from promolab.stats.srm import SequentialSrmResult, SrmResult, sequential_srm_test, srm_test
    from promolab.stats.sufficient import JointStats, MeanStats
    from promolab.stats.weighted import WeightedMean, WeightedStats, snips_mean

# public name → submodule of promolab.stats that defines it
_SOURCES: dict[str, str] = {
    "MeanStats": "sufficient",
    "WeightedStats": "weighted",
    "WeightedMean": "weighted",
    "snips_mean": "weighted",
    "JointStats": "sufficient",
    "LiftResult": "frequentist",
    "CupedResult": "frequentist",
    "proportion_test": "frequentist",
    "welch_test": "frequentist",
    "ratio_test": "frequentist",
    "cuped_test": "frequentist",
    "chance_to_win": "bayesian",
    "expected_loss": "bayesian",
    "SrmResult": "srm",
    "srm_test": "srm",
    "SequentialSrmResult": "srm",
    "sequential_srm_test": "srm",
    "adjust_pvalues": "multiple",
    "PowerResult": "power",
    "sample_size_proportion": "power",
    "mde_proportion": "power",
    "sample_size_mean": "power",
    "mde_mean": "power",
}

__all__ = list(_SOURCES)


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, globals())
