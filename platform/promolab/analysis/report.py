"""Sufficient statistics per variant → a report: SRM first, then per metric and variant
the mean, lift with CIs, p-values (raw and adjusted), chance to win, and a verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol

from promolab.analysis.guardrails import check_guardrails, failed_guardrails
from promolab.analysis.sequential import SequentialPlan, always_valid_readout, gst_readout
from promolab.analysis.sql import ColumnMetric
from promolab.errors import InputError
from promolab.stats import (
    JointStats,
    LiftResult,
    MeanStats,
    SrmResult,
    adjust_pvalues,
    chance_to_win,
    cuped_test,
    expected_loss,
    proportion_test,
    ratio_test,
    srm_test,
    welch_test,
)
from promolab.stats.bayesian import normal_chance_to_win, normal_expected_loss


class Estimator(Protocol):
    """Lifts and means from a design-aware estimator; None falls back to the pooled test."""

    def lift(self, metric: ColumnMetric, control: str, variant: str, alpha: float) -> LiftResult | None: ...

    def mean(self, metric: ColumnMetric, variant: str) -> float | None: ...


@dataclass(frozen=True)
class VariantStats:
    """One variant's user count and per-metric sufficient statistics."""

    n: int
    metrics: Mapping[str, MeanStats | JointStats]


@dataclass(frozen=True)
class Lift:
    """A treatment against the control on one metric."""

    absolute: float
    relative: float
    ci_low: float  # relative lift CI
    ci_high: float
    abs_ci_low: float
    abs_ci_high: float
    p_value: float
    p_value_adjusted: float
    chance_to_win: float
    expected_loss: float
    significant: bool
    method: str
    cuped: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantResult:
    variant: str
    n: int
    mean: float
    lift: Lift | None  # None for the control


@dataclass(frozen=True)
class MetricResult:
    name: str
    kind: str
    direction: str
    guardrail: bool
    variants: tuple[VariantResult, ...]

    def variant(self, key: str) -> VariantResult:
        return next(v for v in self.variants if v.variant == key)


@dataclass(frozen=True)
class Verdict:
    """What a marketer should do: ship / keep running / stop / investigate."""

    decision: str
    variant: str | None
    text: str


@dataclass(frozen=True)
class Report:
    control: str
    alpha: float
    correction: str
    srm: SrmResult
    metrics: tuple[MetricResult, ...]
    verdict: Verdict
    experiment: str | None = None
    notes: tuple[str, ...] = ()
    # issue 8 sections (promolab.analysis.guardrails / filtering / segments / economics)
    guardrails: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # variant → GuardrailChecks
    filtering: Any = None  # FilteringSummary
    segments: tuple[Any, ...] = ()  # SegmentDrilldown per --segment column
    economics: Any = None  # EconomicsResult
    unfiltered: "Report | None" = None  # the same analysis without filtering (--no-filter)

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract read by the dashboard, the service and other tools."""
        return {
            "experiment": self.experiment,
            "control": self.control,
            "alpha": self.alpha,
            "correction": self.correction,
            "srm": {
                "ok": self.srm.ok,
                "p_value": self.srm.p_value,
                "statistic": self.srm.statistic,
                "threshold": self.srm.threshold,
                "expected": dict(self.srm.expected),
                "observed": dict(self.srm.observed),
            },
            "metrics": [
                {
                    "name": m.name,
                    "kind": m.kind,
                    "direction": m.direction,
                    "guardrail": m.guardrail,
                    "variants": [
                        {"variant": v.variant, "n": v.n, "mean": v.mean,
                         "lift": None if v.lift is None else _lift_dict(v.lift)}
                        for v in m.variants
                    ],
                }
                for m in self.metrics
            ],
            "verdict": asdict(self.verdict),
            "notes": list(self.notes),
            "guardrails": {v: [c.to_dict() for c in checks] for v, checks in self.guardrails.items()},
            "filtering": None if self.filtering is None else self.filtering.to_dict(),
            "segments": [s.to_dict() for s in self.segments],
            "economics": None if self.economics is None else self.economics.to_dict(),
            "unfiltered": None if self.unfiltered is None else self.unfiltered.to_dict(),
        }


def _lift_dict(lift: Lift) -> dict[str, Any]:
    out = asdict(lift)
    extra = out.pop("extra")
    if out["cuped"] is None:
        del out["cuped"]
    out.update(extra)
    return out


def _test(metric: ColumnMetric, control: MeanStats | JointStats, treatment: MeanStats | JointStats,
          alpha: float) -> tuple[LiftResult, dict[str, float] | None]:
    if metric.kind == "ratio":
        return ratio_test(control, treatment, alpha), None
    if metric.covariate is not None:
        result = cuped_test(control, treatment, alpha)
        return result.lift, {"theta": result.theta, "variance_reduction": result.variance_reduction,
                             "covariate": metric.covariate}
    if metric.kind == "binomial":
        return proportion_test(control, treatment, alpha), None
    return welch_test(control, treatment, alpha), None


def _bayes(metric: ColumnMetric, control: MeanStats | JointStats, treatment: MeanStats | JointStats,
           lift: LiftResult) -> tuple[float, float]:
    if metric.kind == "ratio" or metric.covariate is not None:
        return (normal_chance_to_win(lift.absolute, lift.se_absolute, metric.direction),
                normal_expected_loss(lift.absolute, lift.se_absolute, metric.direction))
    return (chance_to_win(control, treatment, metric.kind, metric.direction),
            expected_loss(control, treatment, metric.kind, metric.direction))


def _mean(metric: ColumnMetric, stats: MeanStats | JointStats) -> float:
    if metric.kind == "ratio":
        return stats.sum_y / stats.sum_x if stats.sum_x else float("nan")
    return stats.y.mean if isinstance(stats, JointStats) else stats.mean


def _good(metric: ColumnMetric, lift: Lift) -> bool:
    return (lift.absolute > 0) == (metric.direction == "increase")


def build_report(
    stats: Mapping[str, VariantStats],
    metrics: list[ColumnMetric],
    control: str,
    weights: Mapping[str, float],
    alpha: float = 0.05,
    correction: str = "holm",
    guardrails: frozenset[str] = frozenset(),
    experiment: str | None = None,
    labels: Mapping[str, str] | None = None,
    sequential: SequentialPlan | None = None,
    estimator: Estimator | None = None,
    margins: Mapping[str, Any] | None = None,
    srm_counts: Mapping[str, int] | None = None,
) -> Report:
    """Run every test, adjust p-values across variants × metrics, and decide.

    ``margins`` (guardrail → ``guardrails.Margin``) adds non-inferiority tests; ``srm_counts``
    checks the split on these counts instead (all exposed users when some were filtered out).

    ``estimator`` replaces the pooled tests and means where it has an answer (the
    period-stratified estimates of a bandit experiment).

    With a sequential plan, significance is the sequential decision instead: the
    group-sequential boundary crossed (``gst``) or the adjusted always-valid p-value
    below α (``msprt``).
    """
    if not 0 < alpha < 1:
        raise InputError("alpha", alpha, "a number in (0, 1)")
    if control not in stats:
        raise InputError("control", control, "a variant present in the data: " + ", ".join(sorted(stats)))
    for name, s in stats.items():
        if s.n < 2:
            raise InputError(f"variant {name!r}", f"n={s.n}", "at least 2 users in every variant")
    treatments = [v for v in stats if v != control]
    if not treatments:
        raise InputError("variants", sorted(stats), "a control and at least one other variant")
    counts = srm_counts if srm_counts is not None else {v: stats[v].n for v in stats}
    srm = srm_test({v: counts[v] for v in stats}, {v: weights.get(v, 0.0) for v in stats})

    raw: dict[tuple[str, str], tuple[LiftResult, dict | None, float, float]] = {}
    for m in metrics:
        c = stats[control].metrics[m.name]
        for v in treatments:
            t = stats[v].metrics[m.name]
            adjusted_lift = estimator.lift(m, control, v, alpha) if estimator is not None else None
            if adjusted_lift is not None:
                raw[(m.name, v)] = (adjusted_lift, None,
                                    normal_chance_to_win(adjusted_lift.absolute, adjusted_lift.se_absolute, m.direction),
                                    normal_expected_loss(adjusted_lift.absolute, adjusted_lift.se_absolute, m.direction))
                continue
            lift, cuped = _test(m, c, t, alpha)
            raw[(m.name, v)] = (lift, cuped, *_bayes(m, c, t, lift))
    tested = [k for k in raw if k[0] not in guardrails]
    adjusted = dict(zip(tested, adjust_pvalues([raw[k][0].p_value for k in tested], correction)))
    readouts = _sequential(sequential, raw, stats, control, tested, alpha, correction) if sequential else {}

    results = []
    for m in metrics:
        rows = []
        for v in [control] + treatments:
            s = stats[v].metrics[m.name]
            lift = None
            if v != control:
                r, cuped, ctw, loss = raw[(m.name, v)]
                p_adj = float(adjusted.get((m.name, v), r.p_value))
                significant = p_adj < alpha
                extra = {}
                if (m.name, v) in readouts:
                    extra["sequential"] = readout = readouts[(m.name, v)]
                    significant = readout["significant"]
                lift = Lift(r.absolute, r.relative, r.ci_low, r.ci_high, r.abs_ci_low, r.abs_ci_high,
                            r.p_value, p_adj, ctw, loss, significant, r.method, cuped, extra)
            mean = estimator.mean(m, v) if estimator is not None else None
            rows.append(VariantResult(v, stats[v].n, _mean(m, s) if mean is None else mean, lift))
        results.append(MetricResult(m.name, m.kind, m.direction, m.name in guardrails, tuple(rows)))
    checks = check_guardrails(stats, metrics, control, guardrails, margins or {}, results, alpha, labels)
    verdict = decide(srm, results, control, labels or {}, checks)
    return Report(control, alpha, correction, srm, tuple(results), verdict, experiment, guardrails=checks)


def _sequential(plan: SequentialPlan, raw: Mapping, stats: Mapping[str, VariantStats], control: str,
                tested: list, alpha: float, correction: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for (metric, variant), (lift, *_rest) in raw.items():
        n_total = stats[control].n + stats[variant].n
        readout = always_valid_readout(plan, lift, n_total, alpha)
        readout["method"] = plan.method
        if plan.method == "gst":
            readout.update(gst_readout(plan, lift, alpha))
            readout["significant"] = readout["crossed"]
        out[(metric, variant)] = readout
    if plan.method == "msprt":
        keys = [k for k in out if k in tested]
        adjusted = adjust_pvalues([out[k]["always_valid_p_value"] for k in keys], correction)
        for k, p in zip(keys, adjusted):
            out[k]["always_valid_p_value_adjusted"] = float(p)
        for k, readout in out.items():
            p = readout.get("always_valid_p_value_adjusted", readout["always_valid_p_value"])
            readout["significant"] = p < alpha
            readout["crossed"] = readout["significant"]
    return out


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %"


def decide(srm: SrmResult, metrics: list[MetricResult], control: str, labels: Mapping[str, str],
           guardrails: Mapping[str, Any] | None = None) -> Verdict:
    """SRM blocks everything; a harmed guardrail blocks a variant; then the primary metric.

    A variant failing a margin guardrail (non-inferiority not shown, ``guardrails``) is never
    shipped; when no other variant wins, the verdict is "do not ship" whatever the primary says.
    """
    if not srm.ok:
        return Verdict("investigate", None,
                       f"Sample ratio mismatch (p = {srm.p_value:.2g}): the split is broken, "
                       "so no result can be trusted. Fix assignment before deciding.")
    primary = next((m for m in metrics if not m.guardrail), None)
    if primary is None:
        return Verdict("keep running", None, "No primary metric to decide on.")
    harmed = {
        v.variant for m in metrics if m.guardrail for v in m.variants
        if v.lift is not None and v.lift.significant and not _good(m, v.lift)  # type: ignore[arg-type]
    }
    name = labels.get(primary.name, primary.name)
    treated = [v for v in primary.variants if v.lift is not None]
    failed = failed_guardrails(guardrails or {})
    winners = [v for v in treated if v.lift.significant and _good(primary, v.lift)
               and v.variant not in harmed and v.variant not in failed]
    if failed and not winners:
        why = "; ".join(f"{v} fails {', '.join(labels.get(c.metric, c.metric) for c in cs)}"
                        for v, cs in sorted(failed.items()))
        return Verdict("do not ship", None,
                       f"Do not ship: a guardrail is not shown to stay within its margin ({why}), "
                       f"whatever {labels.get(primary.name, primary.name)} says.")
    if winners:
        sign = 1 if primary.direction == "increase" else -1
        best = max(winners, key=lambda v: sign * v.lift.relative)
        return Verdict("ship", best.variant,
                       f"Ship {best.variant}: {name} {_pct(best.lift.relative)} "
                       f"(CI {_pct(best.lift.ci_low)} to {_pct(best.lift.ci_high)}) vs {control}.")
    losers = [v for v in treated if v.lift.significant and not _good(primary, v.lift)]
    if treated and len(losers) == len(treated):
        return Verdict("stop", None, f"Stop: every variant does worse than {control} on {name}.")
    if harmed and not winners and any(v.lift.significant and _good(primary, v.lift) for v in treated):
        return Verdict("do not ship", None,
                       f"Do not ship: the winning variant harms a guardrail ({', '.join(sorted(harmed))}).")
    return Verdict("keep running", None,
                   f"Keep running: no variant differs significantly from {control} on {name} yet.")
