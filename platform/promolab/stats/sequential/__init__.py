"""Sequential analysis: peek at a running experiment without inflating the error rate.

* group-sequential designs with Lan-DeMets alpha spending (``gst_boundaries``, ``gst_look``),
  and repeated p-values (``gst_repeated_p_value``) for multiple-testing corrections across
  group-sequential tests;
* always-valid inference: the mixture SPRT (``msprt_test``) and asymptotic confidence
  sequences (``confidence_sequence``).
"""

from promolab.stats.sequential.boundaries import (
    GroupSequentialDesign,
    GstLookResult,
    GstPower,
    classical_boundaries,
    crossing_probabilities,
    equally_spaced,
    gst_boundaries,
    gst_look,
    gst_repeated_p_value,
)
from promolab.stats.sequential.confseq import ConfidenceSequenceResult, confidence_sequence, rho_for_sample_size
from promolab.stats.sequential.msprt import MsprtResult, msprt_test, tau2_for_horizon
from promolab.stats.sequential.spending import (
    HwangShihDeCaniSpending,
    ObrienFlemingSpending,
    PocockSpending,
    PowerSpending,
    spending_function,
)

__all__ = [
    "ConfidenceSequenceResult",
    "GroupSequentialDesign",
    "GstLookResult",
    "GstPower",
    "HwangShihDeCaniSpending",
    "MsprtResult",
    "ObrienFlemingSpending",
    "PocockSpending",
    "PowerSpending",
    "classical_boundaries",
    "confidence_sequence",
    "crossing_probabilities",
    "equally_spaced",
    "gst_boundaries",
    "gst_look",
    "gst_repeated_p_value",
    "msprt_test",
    "rho_for_sample_size",
    "spending_function",
    "tau2_for_horizon",
]
