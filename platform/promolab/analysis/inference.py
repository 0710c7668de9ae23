"""Sufficient statistics per variant → SRM, one ``Lift`` per treatment × metric, guardrail
checks and a verdict. No I/O: the pipeline feeds it, and segments reuse it per segment.

Tests per metric kind (``promolab.stats``): binomial → Wald z on the difference of
proportions; mean → Welch t; ratio → delta method (Deng et al. 2018); a metric with a
covariate → CUPED (Deng et al. 2013) with a Welch t on the adjusted means. p-values of
the non-guardrail rows form one family, adjusted with the plan's correction; with a
sequential plan the family is the rows' sequential p-values (``analysis.sequential``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from promolab.analysis.guardrails import GuardrailCheck, check_guardrails, failed_guardrails
from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.results import CupedAdjustment, Lift, MetricResult, VariantResult, Verdict, good_direction
from promolab.analysis.sequential import SequentialPlan, sequential_readouts
from promolab.analysis.sufficient import VariantStats
from promolab.errors import InputError
from promolab.spec.vocabulary import CORRECTIONS, DEFAULT_SRM_THRESHOLD, Correction
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
class Inference:
    """The statistical core of a report."""

    srm: SrmResult
    metrics: tuple[MetricResult, ...]
    guardrails: Mapping[str, tuple[GuardrailCheck, ...]]
    verdict: Verdict


def metric_test(metric: ColumnMetric, control: MeanStats | JointStats, treatment: MeanStats | JointStats,
                alpha: float) -> tuple[LiftResult, CupedAdjustment | None]:
    """The report's test of one metric (see the module docstring)."""
    if metric.kind == "ratio":
        return ratio_test(control, treatment, alpha), None
    if metric.covariate is not None:
        result = cuped_test(control, treatment, alpha)
        return result.lift, CupedAdjustment(metric.covariate, result.theta, result.variance_reduction)
    if metric.kind == "binomial":
        return proportion_test(control, treatment, alpha), None
    return welch_test(control, treatment, alpha), None


def _bayes(metric: ColumnMetric, control: MeanStats | JointStats, treatment: MeanStats | JointStats,
           lift: LiftResult, exact: bool) -> tuple[float, float]:
    if not exact or metric.kind == "ratio" or metric.covariate is not None:
        return (normal_chance_to_win(lift.absolute, lift.se_absolute, metric.direction),
                normal_expected_loss(lift.absolute, lift.se_absolute, metric.direction))
    return (chance_to_win(control, treatment, metric.kind, metric.direction),
            expected_loss(control, treatment, metric.kind, metric.direction))


def metric_mean(metric: ColumnMetric, stats: MeanStats | JointStats) -> float:
    """The unadjusted per-variant mean (Σy/Σx for a ratio)."""
    if metric.kind == "ratio":
        return stats.sum_y / stats.sum_x if stats.sum_x else float("nan")
    return stats.y.mean if isinstance(stats, JointStats) else stats.mean


def check_inputs(stats: Mapping[str, VariantStats], control: str, alpha: float, correction: str,
                 srm_threshold: float) -> list[str]:
    """The treatments, after checking the plan's numbers and that every variant has 2+ users."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError("plan.alpha", alpha, "a number in (0, 1)")
    if correction not in CORRECTIONS:
        raise InputError("plan.correction", correction, " | ".join(CORRECTIONS))
    if isinstance(srm_threshold, bool) or not isinstance(srm_threshold, (int, float)) or not 0 < srm_threshold < 1:
        raise InputError("plan.srm_threshold", srm_threshold, "a number in (0, 1)")
    if control not in stats:
        raise InputError("plan.control", control, "a variant present in the data: " + ", ".join(sorted(stats)))
    for name, s in stats.items():
        if s.n < 2:
            raise InputError(f"variant {name!r}", f"n={s.n}", "at least 2 users in every variant")
    treatments = [v for v in stats if v != control]
    if not treatments:
        raise InputError("variants", sorted(stats), "a control and at least one other variant")
    return treatments


def infer(
    stats: Mapping[str, VariantStats],
    metrics: Sequence[ColumnMetric],
    control: str,
    weights: Mapping[str, float],
    alpha: float = 0.05,
    correction: Correction = "holm",
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    sequential: SequentialPlan | None = None,
    estimator: Estimator | None = None,
    srm_counts: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> Inference:
    """Run every test, correct across the family, check guardrails and decide.

    ``srm_counts`` checks the split on these counts instead of the analysed users (all
    exposed users when some were filtered out). ``estimator`` replaces the pooled tests
    and means where it has an answer (a bandit's period-stratified estimates). With a
    sequential plan (at its current information fraction) significance is the corrected
    sequential decision. ``names`` (variant key → name) words the verdict.
    """
    treatments = check_inputs(stats, control, alpha, correction, srm_threshold)
    for m in metrics:
        for v, s in stats.items():
            if s.metrics[m.name].n < 2:
                raise InputError(f"metric {m.name} in variant {v!r}", f"n={s.metrics[m.name].n}",
                                 f"at least 2 users whose conversion window has closed "
                                 f"({s.n - s.metrics[m.name].n:,} still open)")
    counts = srm_counts if srm_counts is not None else {v: stats[v].n for v in stats}
    srm = srm_test({v: counts[v] for v in stats}, {v: weights.get(v, 0.0) for v in stats}, srm_threshold)

    tests: dict[tuple[str, str], tuple[LiftResult, CupedAdjustment | None, float, float]] = {}
    for m in metrics:
        c = stats[control].metrics[m.name]
        for v in treatments:
            t = stats[v].metrics[m.name]
            design = estimator.lift(m, control, v, alpha) if estimator is not None else None
            lift, cuped = (design, None) if design is not None else metric_test(m, c, t, alpha)
            tests[(m.name, v)] = (lift, cuped, *_bayes(m, c, t, lift, exact=design is None))
    family = [(m.name, v) for m in metrics if not m.guardrail for v in treatments]
    if sequential is not None:
        readouts = sequential_readouts(sequential, {k: r[0] for k, r in tests.items()},
                                       {(m, v): stats[control].metrics[m].n + stats[v].metrics[m].n
                                        for m, v in tests}, family, alpha,
                                       correction)
        decision = "gst repeated p" if sequential.method == "gst" else "msprt always-valid p"
    else:
        fixed = dict(zip(family, adjust_pvalues([tests[k][0].p_value for k in family], correction)))
        readouts = {k: (None, float(fixed.get(k, r[0].p_value))) for k, r in tests.items()}
        decision = "fixed-horizon p"

    results = []
    for m in metrics:
        rows = []
        for v in [control] + treatments:
            lift = None
            if v != control:
                r, cuped, ctw, loss = tests[(m.name, v)]
                readout, p_adj = readouts[(m.name, v)]
                lift = Lift(r.absolute, r.relative, r.ci_low, r.ci_high, r.abs_ci_low, r.abs_ci_high, r.p_value,
                            p_adj, ctw, loss, p_adj < alpha, r.method, r.se_absolute, r.se_relative, decision,
                            cuped, readout)
            mean = estimator.mean(m, v) if estimator is not None else None
            counted = stats[v].metrics[m.name]
            rows.append(VariantResult(v, counted.n, metric_mean(m, counted) if mean is None else mean, lift,
                                      stats[v].n - counted.n))
        results.append(MetricResult(m.name, m.kind, m.direction, m.guardrail, tuple(rows), m.label))
    checks = check_guardrails({v: s.metrics for v, s in stats.items()}, metrics, control, results, alpha)
    return Inference(srm, tuple(results), checks, decide(srm, results, control, checks, names))


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %"


def decide(srm: SrmResult, metrics: Sequence[MetricResult], control: str,
           guardrails: Mapping[str, Sequence[GuardrailCheck]] | None = None,
           names: Mapping[str, str] | None = None) -> Verdict:
    """SRM blocks everything; a harmed guardrail blocks a variant; then the primary metric.

    A variant failing a margin guardrail (non-inferiority not shown) is never shipped;
    when no other variant wins, the verdict is "do not ship" whatever the primary says.
    The message names variants by ``names`` (key → the spec's name) where given.
    """
    said = dict(names or {})
    if not srm.ok:
        return Verdict("investigate", None,
                       f"Sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold:g}): the split is broken, "
                       "so no result can be trusted. Fix assignment before deciding.")
    primary = next((m for m in metrics if not m.guardrail), None)
    if primary is None:
        return Verdict("keep running", None, "No primary metric to decide on.")
    titles = {m.name: m.title for m in metrics}
    harmed = {v.variant for m in metrics if m.guardrail for v in m.variants
              if v.lift is not None and v.lift.significant and not good_direction(m.direction, v.lift)}
    name = primary.title
    treated = [v for v in primary.variants if v.lift is not None]
    failed = failed_guardrails(guardrails or {})
    winners = [v for v in treated if v.lift.significant and good_direction(primary.direction, v.lift)
               and v.variant not in harmed and v.variant not in failed]
    if failed and not winners:
        why = "; ".join(f"{said.get(v, v)} fails {', '.join(titles.get(c.metric, c.metric) for c in cs)}"
                        for v, cs in sorted(failed.items()))
        return Verdict("do not ship", None,
                       f"Do not ship: a guardrail is not shown to stay within its margin ({why}), "
                       f"whatever {name} says.")
    if winners:
        sign = 1 if primary.direction == "increase" else -1
        best = max(winners, key=lambda v: sign * v.lift.relative)
        return Verdict("ship", best.variant,
                       f"Ship {said.get(best.variant, best.variant)}: {name} {_pct(best.lift.relative)} "
                       f"(CI {_pct(best.lift.ci_low)} to {_pct(best.lift.ci_high)}) vs {said.get(control, control)}.")
    losers = [v for v in treated if v.lift.significant and not good_direction(primary.direction, v.lift)]
    if treated and len(losers) == len(treated):
        return Verdict("stop", None, f"Stop: every variant does worse than {said.get(control, control)} on {name}.")
    if harmed and any(v.lift.significant and good_direction(primary.direction, v.lift) for v in treated):
        return Verdict("do not ship", None,
                       f"Do not ship: the winning variant harms a guardrail ({', '.join(said.get(v, v) for v in sorted(harmed))}).")
    return Verdict("keep running", None,
                   f"Keep running: no variant differs significantly from {said.get(control, control)} on {name} yet.")
