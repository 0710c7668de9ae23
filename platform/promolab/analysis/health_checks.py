"""Health checks of a running experiment, for the service's scheduled watch and ``promolab alerts check``.

One evaluation reads the experiment's report (``analyze_experiment``: the same pipeline and
numbers as ``promolab report``) and turns it into findings; a finding that ``failed`` is an
alert condition (stored, deduplicated and sent by ``promolab.store.alerts`` and the service):

* ``srm``: the split is not the configured one by the *anytime-valid* SRM test of Lindon &
  Malek (2022; ``promolab.stats.srm.sequential_srm_test``) on the report's users per variant
  and planned split: p = 1/BF below the plan's threshold (default 0.001). Unlike the
  report's χ² test, which is right for one read-out but raises a false alarm on ~2 % of
  sound splits when peeked at every hour for two weeks, it holds however often it is checked;
* ``multiple_exposures``: more than ``MULTIPLE_EXPOSURE_SHARE`` of the exposed users were
  seen in more than one variant;
* ``guardrail_harm``: a guardrail is worse in a variant with *always-valid* confidence. The
  test is the asymptotic confidence sequence of Waudby-Smith et al. (2023; see
  ``promolab.stats.sequential.confseq``) on the lift, its tuning N* fixed before launch
  (``plan.target_users``, else 5,000): with estimate d, variance V = se², n users in both
  arms and ρ = ρ(N*, α/m),

      harmed  ⇔  d ∓ √(nV)·√(2(nρ²+1)/(n²ρ²) · ln(√(nρ²+1)/(α/m))) is beyond the tolerated value

  on the metric's bad side (the tolerated value is 0, or the guardrail's non-inferiority
  margin; a relative margin is tested on the relative lift with its delta-method se).
  The sequence holds at every n simultaneously, so checking every hour does not inflate the
  false-alarm rate: P(any alarm | no harm) ≤ α per experiment, with Bonferroni over the m
  (guardrail, variant) pairs (only the harmful side alarms, so in practice ≈ α/2; the A/A
  simulation in the tests measures it). No arm is judged before ``MIN_USERS_PER_ARM``
  users (the sequence is asymptotic);
* ``sample_size``: the users exposed have reached ``plan.target_users`` (time to read out);
* ``boundary_crossed``: a primary metric's sequential read-out (group-sequential boundary
  or mSPRT, corrected as in the report) has crossed: the report can be called.

Safe rollout: an experiment that opted in (``[safety] auto_pause = true``) is paused by the
check that *raises* an ``srm`` or ``guardrail_harm`` alert (of a guardrail in
``safety.guardrails``, or any guardrail when that list is empty): the alert is stored with
``action = "paused"`` and the status history says ``by = "promolab"`` with the alert's
message as the reason; assignment then serves the control to everyone. Resuming is a
person's decision: while the condition stays open its alert is not raised again, so a
resumed experiment is paused again only when the condition passes and recurs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from promolab.analysis.pipeline import analyze_experiment
from promolab.analysis.report import Report
from promolab.errors import StateError
from promolab.spec import Experiment, Safety
from promolab.spec.vocabulary import Direction
from promolab.stats.sequential.confseq import DEFAULT_N_OPT, cs_halfwidth, rho_for_sample_size
from promolab.stats.srm import sequential_srm_test
from promolab.store import Registry
from promolab.store.alerts import Alert
from promolab.store.registry import now_utc

log = logging.getLogger("promolab.analysis.health_checks")

AlertKind = Literal["srm", "multiple_exposures", "guardrail_harm", "sample_size", "boundary_crossed"]
ALERT_KINDS: tuple[str, ...] = ("srm", "multiple_exposures", "guardrail_harm", "sample_size", "boundary_crossed")
PAUSE_KINDS: tuple[str, ...] = ("srm", "guardrail_harm")  # what auto-pause acts on
PAUSED_BY = "promolab"  # the status history's "by" of an automatic pause
MULTIPLE_EXPOSURE_SHARE = 0.01
MIN_USERS_PER_ARM = 100


@dataclass(frozen=True)
class Finding:
    """One check of one experiment (``subject``: the variant/metric it is about, "" for the whole
    experiment); ``failed``: an alert condition; ``numbers``: what the message rests on."""

    kind: AlertKind
    subject: str
    failed: bool
    message: str
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "failed": self.failed, "message": self.message,
                "numbers": dict(self.numbers)}


@dataclass(frozen=True)
class HealthEvaluation:
    """Every finding of one experiment at ``checked_at``."""

    experiment: str
    checked_at: datetime
    users: int
    findings: tuple[Finding, ...]

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.failed)

    def pause_reasons(self, safety: Safety) -> tuple[Finding, ...]:
        """Failed findings that pause an experiment with these ``safety`` rules: SRM, and
        always-valid harm of a guardrail the rules name (every guardrail when they name none);
        none unless ``safety.auto_pause``."""
        if not safety.auto_pause:
            return ()
        return tuple(f for f in self.failed if f.kind in PAUSE_KINDS and (
            f.kind != "guardrail_harm" or not safety.guardrails or f.numbers.get("metric") in safety.guardrails))

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "checked_at": self.checked_at.isoformat(), "users": self.users,
                "findings": [f.to_dict() for f in self.findings]}


def harm_bounds(estimate: np.ndarray | float, variance: np.ndarray | float, n: np.ndarray | float,
                direction: Direction, alpha: float, n_opt: float = DEFAULT_N_OPT) -> np.ndarray | float:
    """The confidence sequence's end nearest to "no harm": the upper end d + h when the metric
    should increase (harm: it is below the tolerated value), the lower end d − h when it should
    decrease (harm: above it); h = ``cs_halfwidth(V, n, α, ρ(N*, α))``. Vectorised over d, V, n."""
    rho = rho_for_sample_size(n_opt, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = cs_halfwidth(np.asarray(variance, float), n, alpha, rho)
    half = np.where(np.asarray(variance, float) > 0, half, np.inf)
    bound = np.asarray(estimate, float) + half if direction == "increase" else np.asarray(estimate, float) - half
    return bound if bound.ndim else float(bound)


def harmed(bound: np.ndarray | float, direction: Direction, tolerated: float = 0.0) -> np.ndarray | bool:
    """Whether the whole sequence lies beyond ``tolerated`` on the metric's bad side."""
    out = np.asarray(bound) < -tolerated if direction == "increase" else np.asarray(bound) > tolerated
    return out if out.ndim else bool(out)


def _srm(report: Report) -> Finding:
    fixed = report.srm
    numbers = {"p_value": 1.0, "log_bayes_factor": 0.0, "test": "sequential (Lindon & Malek 2022)",
               "threshold": fixed.threshold, "chi_square_p_value": fixed.p_value,
               "observed": dict(fixed.observed), "expected": dict(fixed.expected)}
    if sum(fixed.observed.values()) == 0:
        return Finding("srm", "", False, "no users yet", numbers)
    srm = sequential_srm_test(fixed.observed, fixed.expected, fixed.threshold)
    numbers.update(p_value=srm.p_value, log_bayes_factor=srm.log_bayes_factor)
    if srm.ok:
        return Finding("srm", "", False, f"split as planned (anytime-valid SRM p = {srm.p_value:.3g})", numbers)
    observed = ", ".join(f"{v} {n:,}" for v, n in srm.observed.items())
    return Finding("srm", "", True, f"sample ratio mismatch: anytime-valid p = {srm.p_value:.2g} < "
                   f"{srm.threshold:g} (observed {observed}); the split is broken, no result can be trusted", numbers)


def _exposures(report: Report) -> Finding | None:
    x = report.health.exposures
    if x is None:
        return None
    share = x.cross_variant_users / x.users if x.users else 0.0
    numbers = {"users": x.users, "cross_variant_users": x.cross_variant_users, "share": share,
               "threshold": MULTIPLE_EXPOSURE_SHARE, "by_variant": dict(x.cross_variant_by_variant)}
    failed = share > MULTIPLE_EXPOSURE_SHARE
    text = (f"{x.cross_variant_users:,} of {x.users:,} users ({share:.1%}) were exposed to more than one variant "
            f"(over {MULTIPLE_EXPOSURE_SHARE:.0%}); check the assignment integration" if failed
            else f"{x.cross_variant_users:,} users in more than one variant ({share:.2%})")
    return Finding("multiple_exposures", "", failed, text, numbers)


def _guardrails(report: Report, experiment: Experiment) -> list[Finding]:
    specs = {m.key: m for m in experiment.guardrails}
    rows = [m for m in report.metrics if m.guardrail]
    pairs = [(m, v) for m in rows for v in m.variants if v.lift is not None]
    if not pairs:
        return []
    level = report.alpha / len(pairs)
    n_opt = float(experiment.plan.target_users or DEFAULT_N_OPT)
    control = {m.name: m.variant(report.control).n for m in rows}
    out = []
    for m, v in pairs:
        lift, spec = v.lift, specs.get(m.name)
        relative = spec is not None and spec.margin is not None and spec.margin_type == "relative"
        tolerated = float(spec.margin) if spec is not None and spec.margin is not None else 0.0
        estimate, se = (lift.relative, lift.se_relative) if relative else (lift.absolute, lift.se_absolute)
        n = v.n + control[m.name]
        numbers = {"variant": v.variant, "metric": m.name, "estimate": estimate, "se": se, "users": n,
                   "scale": "relative" if relative else "absolute", "tolerated": tolerated, "level": level,
                   "n_opt": n_opt, "bound": None}
        subject = f"{v.variant}/{m.name}"
        if min(v.n, control[m.name]) < MIN_USERS_PER_ARM or not (math.isfinite(se) and se > 0):
            out.append(Finding("guardrail_harm", subject, False, f"{m.title} in {v.variant}: too few users to judge "
                               f"(at least {MIN_USERS_PER_ARM} per arm)", numbers))
            continue
        bound = float(harm_bounds(estimate, se ** 2, n, m.direction, level, n_opt))
        bad = bool(harmed(bound, m.direction, tolerated))
        numbers["bound"] = bound
        fmt = (lambda x: f"{x * 100:+.2f} %") if relative else (lambda x: f"{x:+.4g}")
        side = "upper" if m.direction == "increase" else "lower"
        limit = f"the margin {fmt(-tolerated if m.direction == 'increase' else tolerated)}" if tolerated else "0"
        if bad:
            text = (f"guardrail {m.title} harmed in {v.variant}: lift {fmt(estimate)}, always-valid {side} bound "
                    f"{fmt(bound)} is beyond {limit} (confidence sequence, level {level:.3g})")
        else:
            text = f"guardrail {m.title} in {v.variant}: no harm shown (lift {fmt(estimate)}, {side} bound {fmt(bound)})"
        out.append(Finding("guardrail_harm", subject, bad, text, numbers))
    return out


def _sample_size(users: int, experiment: Experiment) -> Finding | None:
    target = experiment.plan.target_users
    if target is None:
        return None
    progress = users / target
    numbers = {"users": users, "target_users": target, "progress": progress}
    if users >= target:
        return Finding("sample_size", "", True, f"planned sample size reached: {users:,} of {target:,} users; "
                       "the experiment can be read out", numbers)
    return Finding("sample_size", "", False, f"{users:,} of {target:,} planned users ({progress:.0%})", numbers)


def _boundary(report: Report) -> list[Finding]:
    if report.sequential is None:
        return []
    out = []
    for m in report.metrics:
        if m.guardrail:
            continue
        for v in m.variants:
            s = v.lift.sequential if v.lift is not None else None
            if s is None:
                continue
            numbers = {"variant": v.variant, "metric": m.name, "method": s.method, "lift": v.lift.relative,
                       "decision_p_value": s.decision_p_value, "p_value_adjusted": v.lift.p_value_adjusted,
                       "z": s.z, "boundary": s.boundary, "information_fraction": s.information_fraction}
            text = (f"{m.title} in {v.variant}: sequential boundary crossed ({s.method}, lift "
                    f"{v.lift.relative * 100:+.2f} %, adjusted p = {v.lift.p_value_adjusted:.3g})" if s.crossed
                    else f"{m.title} in {v.variant}: boundary not crossed")
            out.append(Finding("boundary_crossed", f"{v.variant}/{m.name}", s.crossed, text, numbers))
    return out


def evaluate_report(report: Report, experiment: Experiment, checked_at: datetime | None = None) -> HealthEvaluation:
    """The findings of ``experiment``'s ``report`` (pure: nothing is read or written)."""
    users = int(sum(report.srm.observed.values()))
    findings: list[Finding] = [_srm(report)]
    for extra in (_exposures(report), _sample_size(users, experiment)):
        if extra is not None:
            findings.append(extra)
    findings += _guardrails(report, experiment)
    findings += _boundary(report)
    return HealthEvaluation(experiment.key, checked_at or now_utc(), users, tuple(findings))


def evaluate_experiment(registry: Registry, key: str, checked_at: datetime | None = None) -> HealthEvaluation:
    """Analyse ``key`` as ``promolab report`` does and evaluate its health."""
    return evaluate_report(analyze_experiment(registry, key), registry.get_experiment(key), checked_at)


@dataclass(frozen=True)
class CheckOutcome:
    """One experiment's scheduled check: its evaluation, the alerts it raised (new ones only:
    open conditions are not raised again), and the error if it could not be evaluated."""

    experiment: str
    evaluation: HealthEvaluation | None
    alerts: tuple[Alert, ...] = ()
    error: str | None = None
    paused: bool = False  # this check paused the experiment (``[safety] auto_pause``)

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "error": self.error, "paused": self.paused,
                "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
                "alerts": [a.to_dict() for a in self.alerts]}


def check_running(registry: Registry, keys: Sequence[str] | None = None,
                  checked_at: datetime | None = None) -> list[CheckOutcome]:
    """Evaluate every running experiment (or ``keys``), record its alerts
    (``Registry.record_alerts``: deduplicated, passed conditions resolved) and pause the ones
    that opted in to auto-pause when a pausing alert is raised (see the module doc). One
    experiment that cannot be evaluated does not stop the others (its outcome carries the error)."""
    at = checked_at or now_utc()
    running = [s.key for s in registry.list_experiments() if s.status == "running"]
    if keys is not None:
        for key in keys:
            registry.get_experiment(key)  # an unknown key: InputError naming it
        running = [k for k in keys if k in running]
    out = []
    for key in running:
        try:
            experiment = registry.get_experiment(key)
            evaluation = evaluate_report(analyze_experiment(registry, key), experiment, at)
        except Exception as exc:  # noqa: BLE001 - reported per experiment, the others go on
            log.warning("health check of %s failed: %s", key, exc)
            out.append(CheckOutcome(key, None, (), f"{type(exc).__name__}: {exc}"))
            continue
        pausing = {(f.kind, f.subject): "paused" for f in evaluation.pause_reasons(experiment.safety)}
        new = registry.record_alerts(key, evaluation.findings, at, actions=pausing)
        out.append(CheckOutcome(key, evaluation, tuple(new), paused=_pause(registry, key, new)))
    return out


def _pause(registry: Registry, key: str, new: Sequence[Alert]) -> bool:
    """Pause ``key`` for the new alerts marked "paused" (only the process that raised them
    gets them: the pause happens once); False when there are none or it is no longer running."""
    acted = [a for a in new if a.action == "paused"]
    if not acted:
        return False
    reason = "auto-pause: " + "; ".join(f"{a.message} (alert {a.id})" for a in acted)
    try:
        registry.set_status(key, "paused", by=PAUSED_BY, reason=reason)
    except StateError as exc:  # stopped or paused by someone in the meantime
        log.warning("auto-pause of %s skipped: %s", key, exc)
        return False
    log.warning("experiment %s paused by promolab: %s", key, reason)
    return True


__all__ = ["ALERT_KINDS", "AlertKind", "CheckOutcome", "Finding", "HealthEvaluation", "MIN_USERS_PER_ARM", "MULTIPLE_EXPOSURE_SHARE",
           "PAUSED_BY", "PAUSE_KINDS", "check_running", "evaluate_experiment", "evaluate_report", "harm_bounds", "harmed"]
