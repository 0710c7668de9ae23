"""Alerts in the registry: recorded once per open condition, resolved when it passes,
raised again when it recurs, listed and acknowledged (migration 6)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from promolab.analysis.health_checks import Finding
from promolab.errors import InputError
from promolab.spec import experiment_from_dict
from promolab.store import Registry

SPEC = {"key": "ab", "name": "AB", "owner": "o", "control": "a",
        "variants": [{"key": "a", "name": "A", "weight": 1}, {"key": "b", "name": "B", "weight": 1}],
        "metrics": [{"key": "orders", "kind": "binomial", "event": "order"}]}
T0 = datetime(2025, 3, 1, 10)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry.open(tmp_path / "r.duckdb")
    reg.create_experiment(experiment_from_dict(SPEC))
    reg.create_experiment(experiment_from_dict({**SPEC, "key": "other"}))
    return reg


def srm(failed: bool, p: float = 1e-9) -> Finding:
    return Finding("srm", "", failed, f"p = {p}", {"p_value": p, "observed": {"a": 10, "b": 30}})


def harm(failed: bool) -> Finding:
    return Finding("guardrail_harm", "b/refund", failed, "refund harmed", {"bound": 0.01, "inf": float("inf")})


def test_one_alert_per_open_condition(registry: Registry) -> None:
    new = registry.record_alerts("ab", [srm(True), harm(False)], T0)
    assert [(a.id, a.kind, a.subject, a.open) for a in new] == [(1, "srm", "", True)]
    assert new[0].numbers == {"p_value": 1e-9, "observed": {"a": 10, "b": 30}}
    for hour in range(1, 5):  # checked every hour, still failing: not raised again
        assert registry.record_alerts("ab", [srm(True), harm(False)], T0 + timedelta(hours=hour)) == []
    assert [a.id for a in registry.alerts()] == [1]
    # passes: resolved (still listed until acknowledged); fails again: a new alert
    assert registry.record_alerts("ab", [srm(False)], T0 + timedelta(hours=5)) == []
    (resolved,) = registry.alerts()
    assert resolved.resolved_at == T0 + timedelta(hours=5) and not resolved.open
    again = registry.record_alerts("ab", [srm(True), harm(True)], T0 + timedelta(hours=6),
                                   actions={("srm", ""): "paused", ("guardrail_harm", "b/refund"): "paused"})
    assert [(a.id, a.kind, a.action) for a in again] == [(2, "srm", "paused"), (3, "guardrail_harm", "paused")]
    assert again[1].numbers["inf"] is None  # JSON has no infinity
    assert [a.id for a in registry.alerts()] == [3, 2, 1]  # newest first


def test_acknowledge_and_list(registry: Registry) -> None:
    registry.record_alerts("ab", [srm(True)], T0)
    registry.record_alerts("other", [harm(True)], T0 + timedelta(minutes=1))
    assert registry.unacknowledged_alerts() == {"ab": 1, "other": 1}
    acked = registry.acknowledge_alert(1, by="alice")
    assert acked.acknowledged and acked.acknowledged_by == "alice" and acked.acknowledged_at is not None
    again = registry.acknowledge_alert(1, by="bob")  # idempotent: the first acknowledgement stays
    assert again.acknowledged_by == "alice" and again.acknowledged_at == acked.acknowledged_at
    assert [a.id for a in registry.alerts()] == [2]
    assert [a.id for a in registry.alerts(include_acknowledged=True)] == [2, 1]
    assert [a.id for a in registry.alerts("ab", include_acknowledged=True)] == [1]
    assert registry.alerts("ab") == []
    assert registry.unacknowledged_alerts() == {"other": 1}
    # still open though acknowledged: not raised again
    assert registry.record_alerts("ab", [srm(True)], T0 + timedelta(hours=1)) == []
    assert registry.alerts(include_acknowledged=True)[-1].to_dict()["acknowledged_by"] == "alice"


def test_bad_input_changes_nothing(registry: Registry) -> None:
    registry.record_alerts("ab", [srm(True)], T0)
    with pytest.raises(InputError, match=r"^id: got 7, expected the id of a stored alert"):
        registry.acknowledge_alert(7)
    for bad in (0, -1, True, "1"):
        with pytest.raises(InputError, match="^id: got"):
            registry.acknowledge_alert(bad)
    with pytest.raises(InputError, match="^by: got"):
        registry.acknowledge_alert(1, by=" ")
    with pytest.raises(InputError, match=r"^--experiment: got 'nope', expected the key of an experiment"):
        registry.alerts("nope")
    assert not registry.alerts()[0].acknowledged
