"""The report: one typed object that every surface formats (CLI text and ``--json``, the
service's report route, each dashboard page). Nothing here computes a number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from promolab.analysis.contextual import PolicyReadout
from promolab.analysis.economics import EconomicsResult
from promolab.analysis.filtering import FilteringSummary
from promolab.analysis.guardrails import GuardrailCheck
from promolab.analysis.health import Health
from promolab.analysis.results import MetricResult, Verdict
from promolab.analysis.segments import SegmentDrilldown
from promolab.analysis.sequential import SequentialPlan
from promolab.spec.vocabulary import Correction
from promolab.stats import SrmResult

RELATIVE_CI_METHOD = "Fieller interval for the ratio of means (same variances and critical value as the test)"


@dataclass(frozen=True)
class Report:
    control: str
    alpha: float
    correction: Correction
    srm: SrmResult
    metrics: tuple[MetricResult, ...]
    verdict: Verdict
    experiment: str | None = None
    notes: tuple[str, ...] = ()
    health: Health = Health(None, (), ())
    guardrails: Mapping[str, tuple[GuardrailCheck, ...]] = field(default_factory=dict)  # variant → checks
    filtering: FilteringSummary | None = None
    segments: tuple[SegmentDrilldown, ...] = ()
    economics: EconomicsResult | None = None
    sequential: SequentialPlan | None = None  # the plan at the observed information fraction
    unfiltered: "Report | None" = None  # the same analysis without abuse filtering
    contextual: PolicyReadout | None = None  # a contextual experiment: policy vs holdout, IPS means

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.name == name)

    @property
    def blocked(self) -> bool:
        """No go/stop read-out may be shown: the split is broken (SRM)."""
        return not self.srm.ok

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract read by the dashboard, the service and other tools."""
        return {
            "experiment": self.experiment,
            "control": self.control,
            "alpha": self.alpha,
            "correction": self.correction,
            "relative_ci": RELATIVE_CI_METHOD,
            "srm": {
                "ok": self.srm.ok,
                "p_value": self.srm.p_value,
                "statistic": self.srm.statistic,
                "threshold": self.srm.threshold,
                "expected": dict(self.srm.expected),
                "observed": dict(self.srm.observed),
            },
            "health": self.health.to_dict(),
            "metrics": [m.to_dict() for m in self.metrics],
            "verdict": asdict(self.verdict),
            "notes": list(self.notes),
            "sequential": None if self.sequential is None else asdict(self.sequential),
            "guardrails": {v: [c.to_dict() for c in checks] for v, checks in self.guardrails.items()},
            "filtering": None if self.filtering is None else self.filtering.to_dict(),
            "segments": [s.to_dict() for s in self.segments],
            "economics": None if self.economics is None else self.economics.to_dict(),
            "unfiltered": None if self.unfiltered is None else self.unfiltered.to_dict(),
            "contextual": None if self.contextual is None else self.contextual.to_dict(),
        }
