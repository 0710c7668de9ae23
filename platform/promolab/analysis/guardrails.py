"""Guardrail checks per variant: a non-inferiority test where the spec sets a margin.

* guardrail with ``margin``: passes when the one-sided test of "worse by at least the
  margin" rejects at level α/2 — i.e. the harmful end of the report's two-sided (1 − α)
  CI lies inside the margin, so the guardrail verdict agrees with the CI shown. A variant
  must pass every guardrail (an intersection–union test: no multiplicity adjustment needed).
* guardrail without a margin: fails only when the variant is significantly worse (the
  behaviour before margins existed).

A failed guardrail makes the verdict "do not ship" for that variant whatever the
primary metric says (``report.decide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from promolab.analysis.metrics import ColumnMetric, Margin
from promolab.analysis.results import MetricResult, good_direction
from promolab.stats import JointStats, MeanStats, cuped_test, ratio_test
from promolab.stats.noninferiority import NonInferiorityResult, noninferiority_from_lift, noninferiority_test


@dataclass(frozen=True)
class GuardrailCheck:
    """One guardrail of one variant."""

    metric: str
    passed: bool
    test: NonInferiorityResult | None  # None: no margin, significance-only check
    text: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "passed": self.passed, "text": self.text}
        if self.test is None:
            out["method"] = "no margin: fails only if significantly worse"
        else:
            out.update(self.test.to_dict())
        return out


def _fmt(value: float, relative: bool) -> str:
    return f"{value * 100:+.2f} %" if relative else f"{value:+.4g}"


def _ni(metric: ColumnMetric, margin: Margin, control: Any, treatment: Any, alpha: float) -> NonInferiorityResult:
    level = alpha / 2
    if isinstance(control, JointStats):
        lift = (ratio_test(control, treatment, alpha) if metric.kind == "ratio"
                else cuped_test(control, treatment, alpha).lift)
        return noninferiority_from_lift(lift, margin.value, margin.kind, metric.direction, level)
    return noninferiority_test(control, treatment, metric.kind, margin.value, margin.kind, metric.direction, level)


def check_guardrails(
    stats: Mapping[str, Mapping[str, MeanStats | JointStats]],
    metrics: Sequence[ColumnMetric],
    control: str,
    results: Sequence[MetricResult],
    alpha: float,
) -> dict[str, tuple[GuardrailCheck, ...]]:
    """Variant → its guardrail checks. ``stats``: variant → metric → sufficient statistics;
    ``results``: the report's rows (for guardrails without a margin)."""
    by_name = {r.name: r for r in results}
    out: dict[str, list[GuardrailCheck]] = {}
    for m in metrics:
        if not m.guardrail:
            continue
        for v in stats:
            if v == control:
                continue
            if m.margin is None:
                lift = by_name[m.name].variant(v).lift
                harmed = lift.significant and not good_direction(m.direction, lift)
                text = (f"{m.title}: significantly worse ({_fmt(lift.relative, True)})" if harmed
                        else f"{m.title}: not significantly worse (no margin set)")
                out.setdefault(v, []).append(GuardrailCheck(m.name, not harmed, None, text))
                continue
            test = _ni(m, m.margin, stats[control][m.name], stats[v][m.name], alpha)
            rel = m.margin.kind == "relative"
            side = "upper" if m.direction == "decrease" else "lower"
            verb = "within" if test.passed else "not shown within"
            text = (f"{m.title}: {verb} the margin {_fmt(test.threshold, rel)} "
                    f"(estimate {_fmt(test.estimate, rel)}, {side} bound {_fmt(test.bound, rel)}, "
                    f"one-sided p = {test.p_value:.3g})")
            out.setdefault(v, []).append(GuardrailCheck(m.name, test.passed, test, text))
    return {v: tuple(checks) for v, checks in out.items()}


def failed_guardrails(checks: Mapping[str, Sequence[GuardrailCheck]]) -> dict[str, list[GuardrailCheck]]:
    """Variant → its failed margin guardrails (what turns a verdict into "do not ship")."""
    return {v: bad for v, cs in checks.items() if (bad := [c for c in cs if c.test is not None and not c.passed])}
