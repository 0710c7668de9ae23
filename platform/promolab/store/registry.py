"""The experiment registry: one DuckDB file, one owned connection per process.

Every write runs in a transaction, so a batch is stored whole or not at all. Events are
idempotent on (source, event_id); exposures keep each user's first exposure per
experiment (sticky assignment), and exposures of a user to another variant are kept in
``exposure_conflicts`` (see :mod:`promolab.store.exposures`).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from promolab.errors import InputError, StateError
from promolab.spec import Experiment, experiment_from_dict, experiment_to_dict
from promolab.store.exposures import CROSS_VARIANT_USERS_SQL, insert_exposures
from promolab.store.migrations import first_row, migrate, registered

DEFAULT_DB = "promolab.duckdb"
DB_ENV = "PROMOLAB_DB"

STATUSES = ("draft", "running", "paused", "stopped")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("running", "stopped"),
    "running": ("paused", "stopped"),
    "paused": ("running", "stopped"),
    "stopped": (),
}


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """The registry file: the explicit path, else $PROMOLAB_DB, else ./promolab.duckdb."""
    return Path(path or os.environ.get(DB_ENV) or DEFAULT_DB).resolve()


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class ExperimentSummary:
    key: str
    name: str
    kind: str
    status: str
    owner: str
    coverage: float
    created_at: datetime
    launched_at: datetime | None
    exposures: int


@dataclass(frozen=True)
class StatusChange:
    from_status: str | None
    to_status: str
    coverage: float
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """Rows offered, newly stored, and skipped as already present (idempotent retries)."""

    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


@dataclass(frozen=True)
class ExposureHealth:
    """Cross-variant exposure evidence of one experiment.

    ``users``: users with a stored (first) exposure. ``cross_variant_users``: those also
    exposed to at least one other variant. ``cross_variant_by_stored_variant``: per
    stored variant (the one in ``exposures``), how many of its users are cross-variant.
    ``conflicts_by_variant``: per variant, how many users were exposed to it besides
    their stored variant (rows of ``exposure_conflicts``). Both dicts name every variant
    of the spec, in spec order.
    """

    experiment_key: str
    users: int
    cross_variant_users: int
    cross_variant_by_stored_variant: dict[str, int]
    conflicts_by_variant: dict[str, int]

    @property
    def cross_variant_seen_by_variant(self) -> dict[str, int]:
        """Per variant, the cross-variant users who saw it (as stored or as another variant)."""
        return {v: n + self.conflicts_by_variant.get(v, 0) for v, n in self.cross_variant_by_stored_variant.items()}

    @property
    def cross_variant_share(self) -> float:
        """Share of exposed users seen in more than one variant (0 without exposures)."""
        return self.cross_variant_users / self.users if self.users else 0.0

    @property
    def healthy(self) -> bool:
        """No user was exposed to more than one variant."""
        return self.cross_variant_users == 0


class Registry:
    """A DuckDB-backed registry of experiments, exposures and events."""

    _open: dict[Path, "Registry"] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = resolve_db_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise StateError(f"{self.path}: cannot open the registry ({exc})") from exc
        self._lock = threading.RLock()
        migrate(self.con, str(self.path))

    @classmethod
    def open(cls, path: str | os.PathLike | None = None) -> "Registry":
        """The process's one connection to this file (opened on first use)."""
        resolved = resolve_db_path(path)
        with cls._open_lock:
            reg = cls._open.get(resolved)
            if reg is None:
                reg = cls._open[resolved] = cls(resolved)
            return reg

    @classmethod
    def close_if_open(cls, path: str | os.PathLike) -> None:
        """Close this process's connection to ``path`` if it has one."""
        reg = cls._open.get(resolve_db_path(path))
        if reg is not None:
            reg.close()

    def close(self) -> None:
        with self._open_lock:
            if self._open.get(self.path) is self:
                del self._open[self.path]
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN … COMMIT, or ROLLBACK on any error: nothing is half-written."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run a read query and return a DataFrame."""
        with self._lock:
            return self.con.execute(sql, params or []).df()

    # -- experiments -------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment, by: str = "cli") -> None:
        """Register a validated experiment as a draft; a duplicate key is refused."""
        e = experiment
        with self.transaction() as con:
            if first_row(con.execute("SELECT 1 FROM experiments WHERE key = ?", [e.key])):
                raise InputError("key", e.key, "a key not already in the registry")
            ts = now_utc()
            layer = e.layer
            con.execute(
                "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)",
                [e.key, e.name, e.hypothesis, e.owner, e.kind, e.control, e.coverage,
                 layer.key if layer else None, layer.start if layer else None, layer.end if layer else None,
                 json.dumps(experiment_to_dict(e)), ts, ts],
            )
            con.executemany(
                "INSERT INTO variants VALUES (?, ?, ?, ?, ?, ?)",
                [[e.key, v.key, v.name, v.weight, json.dumps(v.payload), i] for i, v in enumerate(e.variants)],
            )
            con.executemany(
                "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[e.key, m.key, m.label, m.kind, m.event, m.aggregate, m.numerator, m.denominator,
                  m.direction, m.cap, m.covariate, m in e.guardrails, i]
                 for i, m in enumerate(e.metrics + e.guardrails)],
            )
            con.execute(
                "INSERT INTO status_history VALUES (?, NULL, 'draft', ?, ?, ?, 'created')",
                [e.key, e.coverage, by, ts],
            )

    def _row(self, key: str) -> tuple:
        with self._lock:
            row = first_row(self.con.execute(
                "SELECT spec_json, status, coverage FROM experiments WHERE key = ?", [key]
            ))
        if row is None:
            raise InputError("experiment", key, "the key of an experiment in the registry "
                             f"({', '.join(self.experiment_keys()) or 'none registered'})")
        return row

    def experiment_keys(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.con.execute("SELECT key FROM experiments ORDER BY key").fetchall()]

    def get_experiment(self, key: str) -> Experiment:
        """The stored spec, with the current traffic coverage."""
        spec_json, _, coverage = self._row(key)
        return replace(experiment_from_dict(json.loads(spec_json)), coverage=coverage)

    def status(self, key: str) -> str:
        return self._row(key)[1]

    def list_experiments(self) -> list[ExperimentSummary]:
        rows = self.query(
            """
            SELECT e.key, e.name, e.kind, e.status, e.owner, e.coverage, e.created_at,
                   (SELECT MIN(changed_at) FROM status_history h
                     WHERE h.experiment_key = e.key AND h.to_status = 'running') AS launched_at,
                   (SELECT COUNT(*) FROM exposures x WHERE x.experiment_key = e.key) AS exposures
            FROM experiments e ORDER BY e.created_at, e.key
            """
        )
        return [
            ExperimentSummary(r.key, r.name, r.kind, r.status, r.owner, float(r.coverage),
                              r.created_at.to_pydatetime(),
                              None if pd.isna(r.launched_at) else r.launched_at.to_pydatetime(),
                              int(r.exposures))
            for r in rows.itertuples()
        ]

    def set_status(self, key: str, to_status: str, by: str = "cli", reason: str = "") -> None:
        """Move an experiment along draft → running ⇄ paused → stopped; refuse anything else."""
        if to_status not in STATUSES:
            raise InputError("status", to_status, "one of " + ", ".join(STATUSES))
        with self.transaction() as con:
            row = first_row(con.execute("SELECT status, coverage FROM experiments WHERE key = ?", [key]))
            if row is None:
                raise InputError("experiment", key, "the key of an experiment in the registry")
            current, coverage = row
            if to_status not in TRANSITIONS[current]:
                allowed = ", ".join(TRANSITIONS[current]) or "none (stopped is final)"
                raise StateError(
                    f"experiment {key}: cannot go from {current} to {to_status}; allowed from {current}: {allowed}"
                )
            ts = now_utc()
            con.execute("UPDATE experiments SET status = ?, updated_at = ? WHERE key = ?", [to_status, ts, key])
            con.execute(
                "INSERT INTO status_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [key, current, to_status, coverage, by, ts, reason],
            )

    def ramp(self, key: str, percent: float, by: str = "cli", reason: str = "") -> None:
        """Change traffic coverage; users already included keep their variant."""
        if not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise InputError("traffic_percent", percent, "a number in [0, 100]")
        with self.transaction() as con:
            row = first_row(con.execute("SELECT status FROM experiments WHERE key = ?", [key]))
            if row is None:
                raise InputError("experiment", key, "the key of an experiment in the registry")
            if row[0] == "stopped":
                raise StateError(f"experiment {key}: cannot ramp a stopped experiment")
            ts = now_utc()
            con.execute("UPDATE experiments SET coverage = ?, updated_at = ? WHERE key = ?",
                        [percent / 100.0, ts, key])
            con.execute(
                "INSERT INTO status_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [key, row[0], row[0], percent / 100.0, by, ts, reason or f"ramp to {percent:g} %"],
            )

    def status_history(self, key: str) -> list[StatusChange]:
        self._row(key)
        rows = self.query(
            "SELECT * FROM status_history WHERE experiment_key = ? ORDER BY changed_at, rowid", [key]
        )
        return [
            StatusChange(None if pd.isna(r.from_status) else r.from_status, r.to_status, float(r.coverage),
                         r.changed_by, r.changed_at.to_pydatetime(), r.reason)
            for r in rows.itertuples()
        ]

    # -- bandit weights ------------------------------------------------------------------

    def record_weights(self, key: str, weights: dict[str, float], policy: str, reason: str = "",
                       at: datetime | None = None) -> datetime:
        """Store one weight change (all variants at one time stamp); weights must sum to 1."""
        experiment = self.get_experiment(key)
        if set(weights) != set(experiment.variant_keys):
            raise InputError("weights", sorted(weights), "one weight per variant: " + ", ".join(experiment.variant_keys))
        if any(not (w >= 0) for w in weights.values()) or abs(sum(weights.values()) - 1) > 1e-9:
            raise InputError("weights", weights, "non-negative weights summing to 1")
        ts = at or now_utc()
        with self.transaction() as con:
            con.executemany(
                "INSERT INTO bandit_weights VALUES (?, ?, ?, ?, ?, ?)",
                [[key, ts, v, float(w), policy, reason] for v, w in weights.items()],
            )
        return ts

    def weight_history(self, key: str) -> pd.DataFrame:
        """Columns updated_at, variant_key, weight, policy, reason; oldest first."""
        self._row(key)
        return self.query(
            "SELECT updated_at, variant_key, weight, policy, reason FROM bandit_weights "
            "WHERE experiment_key = ? ORDER BY updated_at, variant_key", [key]
        )

    def current_weights(self, key: str) -> dict[str, float]:
        """The latest stored weights, else the spec's configured weights."""
        experiment = self.get_experiment(key)
        rows = self.query(
            "SELECT variant_key, weight FROM bandit_weights WHERE experiment_key = ? AND updated_at = "
            "(SELECT MAX(updated_at) FROM bandit_weights WHERE experiment_key = ?)", [key, key]
        )
        if rows.empty:
            return dict(zip(experiment.variant_keys, experiment.weights))
        return dict(zip(rows.variant_key, rows.weight.astype(float)))

    # -- data ------------------------------------------------------------------------

    def record_exposures(self, experiment_key: str, batch: pd.DataFrame, source: str = "cli") -> IngestResult:
        """Store first exposures (columns user_id, variant, ts); a user's first variant sticks."""
        experiment = self.get_experiment(experiment_key)
        if self.status(experiment_key) == "draft":
            raise StateError(f"experiment {experiment_key}: is a draft; launch it before recording exposures")
        bad = sorted(set(batch["variant"].astype(str)) - set(experiment.variant_keys))
        if bad:
            raise InputError("variant", bad[0], "one of " + ", ".join(experiment.variant_keys))
        frame = pd.DataFrame({"experiment_key": experiment_key, "user_id": batch["user_id"].astype(str),
                              "variant": batch["variant"].astype(str), "ts": batch["ts"], "source": source})
        with self.transaction() as con:
            with registered(con, "exposure_batch", frame) as table:
                inserted = insert_exposures(con, table)
        return IngestResult(len(batch), inserted)

    def exposure_health(self, key: str) -> ExposureHealth:
        """Users with exposures and those exposed to more than one variant (see ExposureHealth)."""
        variants = self.get_experiment(key).variant_keys
        with self._lock:
            users = self.con.execute("SELECT COUNT(*) FROM exposures WHERE experiment_key = ?", [key]).fetchall()[0][0]
            crossed = self.con.execute(
                "SELECT COUNT(DISTINCT user_id) FROM exposure_conflicts WHERE experiment_key = ?", [key]
            ).fetchall()[0][0]
            by_stored = self.con.execute(
                "SELECT x.variant_key, COUNT(*) FROM exposures x WHERE x.experiment_key = ? AND x.user_id IN "
                "(SELECT user_id FROM exposure_conflicts c WHERE c.experiment_key = ?) GROUP BY x.variant_key",
                [key, key],
            ).fetchall()
            by_conflict = self.con.execute(
                "SELECT variant_key, COUNT(*) FROM exposure_conflicts WHERE experiment_key = ? GROUP BY variant_key",
                [key],
            ).fetchall()
        zeros = dict.fromkeys(variants, 0)
        return ExposureHealth(key, int(users), int(crossed),
                              {**zeros, **{v: int(n) for v, n in sorted(by_stored)}},
                              {**zeros, **{v: int(n) for v, n in sorted(by_conflict)}})

    def exposure_conflicts(self, key: str) -> pd.DataFrame:
        """Every exposure to another variant than the user's stored one: columns user_id,
        stored_variant, first_exposed_at (of the stored exposure), variant_key, exposed_at, source."""
        self._row(key)
        return self.query(
            "SELECT c.user_id, x.variant_key AS stored_variant, x.first_exposed_at, c.variant_key, c.exposed_at, "
            "c.source FROM exposure_conflicts c LEFT JOIN exposures x "
            "ON x.experiment_key = c.experiment_key AND x.user_id = c.user_id "
            "WHERE c.experiment_key = ? ORDER BY c.user_id, c.exposed_at, c.variant_key", [key]
        )

    def cross_variant_users(self, key: str) -> set[str]:
        """Ids of the users of ``key`` exposed to more than one variant."""
        self._row(key)
        with self._lock:
            return {r[0] for r in self.con.execute(CROSS_VARIANT_USERS_SQL, [key]).fetchall()}

    def ingest_events(self, batch: pd.DataFrame, source: str = "cli") -> IngestResult:
        """Store events (columns event_id, user_id, event, value, ts); known ids are skipped."""
        with self.transaction() as con:
            before = con.execute("SELECT COUNT(*) FROM events").fetchall()[0][0]
            with registered(con, "event_batch", batch):
                con.execute(
                    """
                    INSERT INTO events
                    SELECT ?, event_id, any_value(user_id), any_value(event), any_value(value), any_value(ts)
                    FROM event_batch GROUP BY event_id
                    ON CONFLICT DO NOTHING
                    """,
                    [source],
                )
            after = con.execute("SELECT COUNT(*) FROM events").fetchall()[0][0]
        return IngestResult(len(batch), after - before)

    def set_attributes(self, batch: pd.DataFrame) -> int:
        """Upsert user attributes from a wide frame: a user_id column plus one column per attribute."""
        long = batch.melt(id_vars="user_id", var_name="attribute", value_name="value")
        numeric = pd.to_numeric(long["value"], errors="coerce")
        frame = pd.DataFrame({
            "user_id": long["user_id"].astype(str),
            "attribute": long["attribute"].astype(str),
            "value_num": numeric,
            "value_text": long["value"].astype(str).where(numeric.isna()),
        })
        with self.transaction() as con:
            with registered(con, "attribute_batch", frame):
                con.execute("INSERT OR REPLACE INTO user_attributes SELECT * FROM attribute_batch")
        return len(frame)
