"""Health alerts in the registry: recorded by the scheduled checks, listed, acknowledged.

An alert is one failed condition of one experiment: its ``kind`` (srm, guardrail_harm, …),
its ``subject`` (the variant/metric it is about, "" for the whole experiment), when it was
raised, the message and the numbers it rests on (JSON), and whether someone acknowledged
it (by whom, when). ``action`` says what promolab did about it ("paused" under auto-pause).

Deduplication: a condition is *open* from the check that raises it until a later check of
the same (experiment, kind, subject) passes (``resolved_at``). While it stays open it is
not raised again, however often it is checked (acknowledged or not); once resolved, a
recurrence is a new alert. The check-and-insert is one transaction, so several service
processes checking at once raise a condition once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol

from promolab.errors import InputError
from promolab.jsonable import to_plain
from promolab.store.migrations import first_row

if TYPE_CHECKING:
    from promolab.store.registry import Registry

COLUMNS = ("id, experiment_key, kind, subject, raised_at, message, numbers_json, action, resolved_at, acknowledged, "
           "acknowledged_by, acknowledged_at")


class Condition(Protocol):
    """What a check reports (``promolab.analysis.health_checks.Finding`` is one)."""

    kind: str
    subject: str
    failed: bool
    message: str
    numbers: Mapping[str, Any]


@dataclass(frozen=True)
class Alert:
    id: int
    experiment: str
    kind: str
    subject: str
    raised_at: datetime
    message: str
    numbers: dict[str, Any]
    action: str | None
    resolved_at: datetime | None
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None

    @property
    def open(self) -> bool:
        """The condition still held at the last check."""
        return self.resolved_at is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of ``promolab alerts --json`` and of each webhook POST (``alert``)."""
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {"id": self.id, "experiment": self.experiment, "kind": self.kind, "subject": self.subject,
                "raised_at": iso(self.raised_at), "message": self.message, "numbers": self.numbers,
                "action": self.action, "resolved_at": iso(self.resolved_at), "acknowledged": self.acknowledged,
                "acknowledged_by": self.acknowledged_by, "acknowledged_at": iso(self.acknowledged_at)}


def _alert(row: tuple) -> Alert:
    (id_, key, kind, subject, raised, message, numbers, action, resolved, ack, ack_by, ack_at) = row
    return Alert(int(id_), key, kind, subject, raised, message, json.loads(numbers), action, resolved, bool(ack),
                 ack_by, ack_at)


def record_alerts(registry: Registry, key: str, conditions: Iterable[Condition], at: datetime,
                  actions: Mapping[tuple[str, str], str] | None = None) -> list[Alert]:
    """Store the failed ``conditions`` of ``key`` that are not open already, resolve the open
    alerts whose condition passed this time, in one transaction; returns the new alerts.
    ``actions``: (kind, subject) → what is done about that condition if its alert is new
    (e.g. "paused")."""
    actions = actions or {}
    conditions = list(conditions)
    new: list[Alert] = []
    with registry.transaction() as con:
        open_ = {(kind, subject): id_ for id_, kind, subject in con.execute(
            "SELECT id, kind, subject FROM alerts WHERE experiment_key = ? AND resolved_at IS NULL", [key]).fetchall()}
        next_id = int(first_row(con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM alerts"))[0])
        for c in conditions:
            slot = (c.kind, c.subject)
            if not c.failed:
                if slot in open_:
                    con.execute("UPDATE alerts SET resolved_at = ? WHERE id = ?", [at, open_.pop(slot)])
                continue
            if slot in open_:
                continue
            numbers, action = to_plain(dict(c.numbers)), actions.get(slot)
            con.execute("INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, FALSE, NULL, NULL)",
                        [next_id, key, c.kind, c.subject, at, c.message, json.dumps(numbers), action])
            new.append(Alert(next_id, key, c.kind, c.subject, at, c.message, numbers, action, None, False, None, None))
            open_[slot] = next_id
            next_id += 1
    return new


def list_alerts(registry: Registry, experiment: str | None = None, include_acknowledged: bool = False) -> list[Alert]:
    """Alerts newest first: unacknowledged ones, or all with ``include_acknowledged``; of one
    ``experiment`` (an unknown key is an InputError) or of every experiment."""
    where, params = [], []
    if experiment is not None:
        if experiment not in registry.experiment_keys():
            raise InputError("--experiment", experiment, "the key of an experiment in the registry "
                             f"({', '.join(registry.experiment_keys()) or 'none registered'})")
        where.append("experiment_key = ?")
        params.append(experiment)
    if not include_acknowledged:
        where.append("NOT acknowledged")
    sql = f"SELECT {COLUMNS} FROM alerts" + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY raised_at DESC, id DESC"
    with registry._guard() as con:
        rows = con.execute(sql, params).fetchall()
    return [_alert(r) for r in rows]


def acknowledge_alert(registry: Registry, alert_id: int, by: str, at: datetime) -> Alert:
    """Mark alert ``alert_id`` acknowledged by ``by`` (idempotent: a second acknowledgement
    keeps the first one's name and time)."""
    if isinstance(alert_id, bool) or not isinstance(alert_id, int) or alert_id < 1:
        raise InputError("id", alert_id, "the id of a stored alert (see promolab alerts)")
    if not isinstance(by, str) or not by.strip():
        raise InputError("by", by, "who acknowledges the alert (a non-empty name)")
    with registry.transaction() as con:
        row = first_row(con.execute(f"SELECT {COLUMNS} FROM alerts WHERE id = ?", [alert_id]))
        if row is None:
            raise InputError("id", alert_id, "the id of a stored alert (see promolab alerts --all)")
        if not row[9]:
            con.execute("UPDATE alerts SET acknowledged = TRUE, acknowledged_by = ?, acknowledged_at = ? "
                        "WHERE id = ?", [by, at, alert_id])
            row = first_row(con.execute(f"SELECT {COLUMNS} FROM alerts WHERE id = ?", [alert_id]))
    return _alert(row)


def unacknowledged_counts(registry: Registry) -> dict[str, int]:
    """Experiment → its unacknowledged alerts (only experiments that have some)."""
    with registry._guard() as con:
        rows = con.execute("SELECT experiment_key, COUNT(*) FROM alerts WHERE NOT acknowledged "
                           "GROUP BY experiment_key ORDER BY experiment_key").fetchall()
    return {k: int(n) for k, n in rows}


__all__ = ["Alert", "Condition", "acknowledge_alert", "list_alerts", "record_alerts", "unacknowledged_counts"]
