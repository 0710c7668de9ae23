"""Health checks of a running experiment (``promolab.analysis.health_checks``): SRM, multiple
exposures, always-valid guardrail harm, sample-size progress, a crossed sequential boundary;
and the A/A simulation showing that checking guardrails every hour keeps the false-alarm
rate at or below alpha (where naive hourly peeking at a fixed-horizon test does not)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from health_data import KEY, watch_registry, watch_spec  # noqa: E402

from promolab.analysis import analyze_experiment  # noqa: E402
from promolab.analysis.health_checks import (  # noqa: E402
    MIN_USERS_PER_ARM,
    PAUSED_BY,
    check_running,
    evaluate_experiment,
    evaluate_report,
    harm_bounds,
    harmed,
)
from promolab.spec import Safety  # noqa: E402
from promolab.store import events_batch  # noqa: E402
from promolab.stats.sequential.confseq import cs_halfwidth, rho_for_sample_size  # noqa: E402


def _failed(evaluation) -> dict[tuple[str, str], object]:
    return {(f.kind, f.subject): f for f in evaluation.failed}


def test_a_healthy_experiment_raises_nothing(tmp_path: Path) -> None:
    evaluation = evaluate_experiment(watch_registry(tmp_path / "r.duckdb"), KEY)
    assert evaluation.failed == () and evaluation.users == 4000
    kinds = [f.kind for f in evaluation.findings]
    assert kinds == ["srm", "multiple_exposures", "sample_size", "guardrail_harm"]
    progress = next(f for f in evaluation.findings if f.kind == "sample_size")
    assert progress.numbers == {"users": 4000, "target_users": 100_000, "progress": 0.04}


def test_a_harmed_guardrail_is_found_with_the_confidence_sequence(tmp_path: Path) -> None:
    registry = watch_registry(tmp_path / "r.duckdb", refund_b=0.15)
    report = analyze_experiment(registry, KEY)
    evaluation = evaluate_report(report, registry.get_experiment(KEY))
    harm = _failed(evaluation)[("guardrail_harm", "b/refund")]
    assert evaluation.pause_reasons(Safety()) == ()  # not opted in
    assert [f.kind for f in evaluation.pause_reasons(Safety(auto_pause=True))] == ["guardrail_harm"]
    assert [f.kind for f in evaluation.pause_reasons(Safety(True, ("refund",)))] == ["guardrail_harm"]
    # the bound is the report's lift and se through the confidence sequence (N* = target_users)
    lift = report.metric("refund").variant("b").lift
    n = report.metric("refund").variant("a").n + report.metric("refund").variant("b").n
    half = cs_halfwidth(lift.se_absolute ** 2, n, 0.05, rho_for_sample_size(100_000, 0.05))
    assert harm.numbers["bound"] == pytest.approx(lift.absolute - half, rel=1e-12)
    assert harm.numbers["bound"] > 0 and "harmed in b" in harm.message


def test_harm_respects_the_direction_and_the_tolerated_margin() -> None:
    # a refund rate (decrease is good) up by 0.02 with se 0.002 at n = 20,000: harmed beyond 0,
    # not beyond a margin of 0.05; a conversion (increase is good) down by as much: harmed too
    up = harm_bounds(0.02, 0.002 ** 2, 20_000, "decrease", 0.05)
    assert harmed(up, "decrease") and not harmed(up, "decrease", tolerated=0.05)
    down = harm_bounds(-0.02, 0.002 ** 2, 20_000, "increase", 0.05)
    assert down == pytest.approx(-up) and harmed(down, "increase")
    assert not harmed(harm_bounds(0.02, 0.002 ** 2, 20_000, "increase", 0.05), "increase")
    assert harm_bounds(0.5, 0.0, 20_000, "decrease", 0.05) == -np.inf  # no variance: no evidence


def test_srm_and_sample_size(tmp_path: Path) -> None:
    registry = watch_registry(tmp_path / "r.duckdb", share_b=0.6, spec=watch_spec(target_users=3000))
    failed = _failed(evaluate_experiment(registry, KEY))
    assert set(failed) == {("srm", ""), ("sample_size", "")}
    assert failed[("srm", "")].numbers["p_value"] < 1e-6
    assert failed[("sample_size", "")].message.startswith("planned sample size reached: 4,000 of 3,000")


def test_too_few_users_are_not_judged(tmp_path: Path) -> None:
    registry = watch_registry(tmp_path / "r.duckdb", users=150, refund_b=0.9)
    harm = next(f for f in evaluate_experiment(registry, KEY).findings if f.kind == "guardrail_harm")
    assert not harm.failed and f"at least {MIN_USERS_PER_ARM} per arm" in harm.message


def test_a_crossed_sequential_boundary(tmp_path: Path) -> None:
    spec = watch_spec(analysis={"sequential": "msprt", "target_users": 20_000})
    registry = watch_registry(tmp_path / "r.duckdb", spec=spec, users=6000)
    # b's users order twice as often: the mSPRT read-out crosses
    rng = np.random.default_rng(0)
    ids = [f"u{i:06d}" for i in range(6000)]
    variants = dict(registry.query("SELECT user_id, variant_key FROM exposures").itertuples(index=False))
    extra = [(f"x{i}", u, "order", 30.0, str(pd.Timestamp.now() - pd.Timedelta(hours=1)))
             for i, u in enumerate(ids) if variants[u] == "b" and rng.random() < 0.1]
    registry.ingest_events(events_batch(pd.DataFrame(extra, columns=["event_id", "user_id", "event", "value", "ts"])))
    crossed = _failed(evaluate_experiment(registry, KEY))[("boundary_crossed", "b/orders")]
    assert crossed.numbers["method"] == "msprt" and crossed.numbers["p_value_adjusted"] < 0.05


def test_auto_pause_pauses_once_with_the_reason_and_only_when_opted_in(tmp_path: Path) -> None:
    opted = watch_registry(tmp_path / "opted.duckdb", refund_b=0.15,
                           spec=watch_spec(safety={"auto_pause": True}))
    (outcome,) = check_running(opted)
    assert outcome.paused and [(a.kind, a.action) for a in outcome.alerts] == [("guardrail_harm", "paused")]
    last = opted.status_history(KEY)[-1]
    assert (last.to_status, last.changed_by) == ("paused", PAUSED_BY)
    assert last.reason.startswith("auto-pause: guardrail refund harmed in b") and "(alert 1)" in last.reason
    # a person resumes it: the open alert is not raised again, so it is not paused again
    opted.set_status(KEY, "running", by="alice", reason="refunds explained")
    (again,) = check_running(opted)
    assert not again.paused and again.alerts == () and opted.status(KEY) == "running"

    plain = watch_registry(tmp_path / "plain.duckdb", refund_b=0.15)
    (outcome,) = check_running(plain)
    assert not outcome.paused and [a.action for a in outcome.alerts] == [None] and plain.status(KEY) == "running"


def test_auto_pause_acts_only_on_the_guardrails_it_names(tmp_path: Path) -> None:
    guards = watch_spec()["guardrails"] + [{"key": "unsubscribe", "kind": "binomial", "event": "unsubscribe",
                                            "direction": "decrease"}]
    spec = watch_spec(guardrails=guards, safety={"auto_pause": True, "guardrails": ["unsubscribe"]})
    registry = watch_registry(tmp_path / "r.duckdb", refund_b=0.15, spec=spec)
    (outcome,) = check_running(registry)
    assert [(a.kind, a.subject, a.action) for a in outcome.alerts] == [("guardrail_harm", "b/refund", None)]
    assert not outcome.paused and registry.status(KEY) == "running"


def test_an_srm_pauses_an_opted_in_experiment(tmp_path: Path) -> None:
    spec = watch_spec(safety={"auto_pause": True})
    registry = watch_registry(tmp_path / "r.duckdb", share_b=0.6, spec=spec)
    (outcome,) = check_running(registry)
    assert outcome.paused and registry.status(KEY) == "paused"
    assert {a.kind: a.action for a in outcome.alerts}["srm"] == "paused"
    assert "sample ratio mismatch" in registry.status_history(KEY)[-1].reason


def test_aa_hourly_guardrail_checks_keep_the_alarm_rate_at_or_below_alpha() -> None:
    """4,000 A/A experiments, 100 users an hour for two weeks (336 hourly checks each), a 5 %
    refund-like guardrail: the share with any harm alarm is at most alpha (it is ~1 %: only
    the harmful side alarms and the sequence is conservative); hourly peeking at the
    fixed-horizon z-test alarms in about a fifth of them."""
    alpha, sims, hours, per_hour, p = 0.05, 4000, 24 * 14, 100, 0.05
    rng = np.random.default_rng(2024)
    new_a = rng.binomial(per_hour, 0.5, (sims, hours))
    n_a, n_b = np.cumsum(new_a, 1), np.cumsum(per_hour - new_a, 1)
    x_a, x_b = np.cumsum(rng.binomial(new_a, p), 1), np.cumsum(rng.binomial(per_hour - new_a, p), 1)
    p_a, p_b = x_a / n_a, x_b / n_b
    d, v = p_b - p_a, p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b
    judged = np.minimum(n_a, n_b) >= MIN_USERS_PER_ARM
    bound = harm_bounds(d, v, n_a + n_b, "decrease", alpha, n_opt=hours * per_hour)
    rate = float((harmed(bound, "decrease") & judged).any(1).mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = float(((d / np.sqrt(v) > norm.ppf(1 - alpha / 2)) & judged).any(1).mean())
    print(f"\nA/A hourly guardrail checks: always-valid alarm rate {rate:.2%} (alpha {alpha:.0%}); "
          f"naive hourly z-test {naive:.2%}")
    se = np.sqrt(alpha * (1 - alpha) / sims)
    assert rate <= alpha + 2 * se
    assert naive > 2 * alpha  # the simulation can see inflation
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()  # the table quotes this run
    assert f"| always-valid guardrail check (promolab) | {100 * rate:.2f} % (α = 5 %) |" in readme
    assert f"| naive fixed-horizon z-test, peeked hourly | {100 * naive:.1f} % |" in readme
