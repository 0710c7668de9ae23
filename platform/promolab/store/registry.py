"""The experiment registry: one DuckDB file, opened per operation (see
:mod:`promolab.store.access`), so the service, the dashboard and the CLI share it.

Every write runs in a transaction, so a batch is stored whole or not at all. Events are
idempotent on (source, event_id), and a repeated id with other content is counted as a
conflict, the first stored row kept (see :mod:`promolab.store.events`); exposures keep
each user's first exposure per experiment (sticky assignment), and exposures of a user
to another variant are kept in ``exposure_conflicts`` (see :mod:`promolab.store.exposures`).

Opening checks the file before anything is written to it (:mod:`promolab.store.preflight`,
:mod:`promolab.store.files`):
a damaged, truncated, foreign or non-DuckDB file, or a folder that cannot be created, is
one :class:`RegistryFileError` line naming the file, and the file is left as it was. A
file this process may not write is opened read-only: reads work, writes are refused in
one line, and a schema older than this code's cannot be upgraded (one line says so).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

import duckdb

from promolab.errors import InputError, StateError
from promolab.spec import Experiment, experiment_from_dict, experiment_to_dict
from promolab.store import alerts as _alerts
from promolab.store import files, preflight
from promolab.store.access import FileAccess, connect_waiting, locked
from promolab.store.events import insert_events
from promolab.store.exposures import CROSS_VARIANT_USERS_SQL, insert_exposures
from promolab.store.preflight import RegistryFileError
from promolab.store.location import DB_ENV, DEFAULT_DB, missing_hint, resolve_db_path  # noqa: F401 (re-exported)
from promolab.store.migrations import CONTROL_TABLES, LATEST_VERSION, first_row, migrate, registered, schema_version

if TYPE_CHECKING:  # pandas is imported where a method builds or returns a DataFrame: reading
    import pandas as pd  # experiments, statuses and weights (the CLI's read path) does not need it

STATUSES = ("draft", "running", "paused", "stopped")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("running", "stopped"),
    "running": ("paused", "stopped"),
    "paused": ("running", "stopped"),
    "stopped": (),
}


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
    """Rows offered (``received``), newly stored (``inserted``) and not stored.

    A row not stored is a ``duplicate`` (the same content as the stored row of its key:
    an idempotent retry, or a repeat within the batch) or, for events, a ``conflict``:
    its event id (per source) was already taken, in the registry or earlier in the same
    batch, by a row with another user, event or value. The first stored
    row is kept; conflicting rows are dropped and counted, never merged. Exposures
    report ``conflicts`` 0: a user exposed to another variant is recorded in
    ``exposure_conflicts`` instead (see :class:`ExposureHealth`).
    """

    received: int
    inserted: int
    conflicts: int = 0

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted - self.conflicts


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


def _check(path: Path, read_only: bool | None, must_exist: bool = False) -> str | None:
    """Check (create, migrate) the file; None if it may be written, else why it is read-only
    (see :meth:`Registry.__init__`)."""
    con, reason = _connect(path, read_only, must_exist)
    con.close()
    return reason


def _connect(path: Path, read_only: bool | None, must_exist: bool = False
             ) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """A checked connection and, when read-only, why."""
    if not preflight.inspect_path(path):
        if read_only or must_exist:
            raise RegistryFileError(f"{path}: {missing_hint()}")
        preflight.prepare_folder(path)
        con = connect_waiting(path, read_only=False)
        try:
            migrate(con, str(path))
        except BaseException:
            con.close()
            raise
        return con, None
    may_write = preflight.writable(path)
    if read_only is False and not may_write:
        raise RegistryFileError(f"{path}: no write permission on the file or its folder; "
                                "it can only be opened read-only")
    reason = "as requested" if read_only else None if may_write else "no write permission"
    try:
        probe = connect_waiting(path, read_only=True)
    except RegistryFileError as exc:
        if reason is None and isinstance(exc.__cause__, duckdb.ConnectionException):
            # this process already has the file open for writing (another connection): the
            # read-only probe cannot join it, so check on a connection that can
            probe = None
        else:
            raise
    con = probe or connect_waiting(path, read_only=False)
    try:
        files.check_length(con, path)
        version = schema_version(con, str(path))
        present = set(files.user_tables(con))
        files.check_tables(con, path, [t for t in CONTROL_TABLES if t in present])
        if reason is not None:
            if version == 0:
                raise RegistryFileError(f"{path}: has no promolab schema yet; open it once with write access "
                                        "to create it")
            if version < LATEST_VERSION:
                raise RegistryFileError(f"{path}: schema version {version} is older than this promolab's "
                                        f"({LATEST_VERSION}); open it once with write access to upgrade")
            return con, reason
        if version < LATEST_VERSION:  # current: nothing to write, and the probe's connection will do
            if probe is not None:
                probe.close()
                con = connect_waiting(path, read_only=False)
            migrate(con, str(path))
    except BaseException:
        con.close()
        raise
    return con, None


class Registry:
    """A DuckDB-backed registry of experiments, exposures and events."""

    _open: dict[Path, "Registry"] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool | None = None,
                 must_exist: bool = False):
        """Open (creating or migrating) the registry at ``path``.

        ``read_only``: None (default) opens read-only exactly when this process may not
        write the file or its folder (``os.access``), else for writing; True opens
        read-only; False requires write access. Read-only, every read works and every
        write is refused with a StateError naming the file; a schema older than
        LATEST_VERSION cannot be upgraded, so it is refused. Any file problem is one
        RegistryFileError line, and a file that is refused is not modified.
        ``must_exist``: refuse a missing file (saying where it looked) instead of creating
        it - what commands that only read use.
        """
        self.path = resolve_db_path(path)
        self.access = FileAccess.of(self.path)
        with self.access.lock:
            self.access.close()  # this process's lingering connection (and its lock) first
            with locked(self.path, exclusive=True):
                self._read_only_reason = _check(self.path, read_only, must_exist)

    @property
    def read_only(self) -> bool:
        """Opened read-only (explicitly, or because the file is not writable)."""
        return self._read_only_reason is not None

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, read_only: bool | None = None,
             must_exist: bool = False) -> "Registry":
        """The process's one connection to this file (opened on first use; ``read_only`` as in
        the constructor). An open writable registry also serves ``read_only=True``; asking
        for writing when this process has the file open read-only is a StateError."""
        resolved = resolve_db_path(path)
        with cls._open_lock:
            reg = cls._open.get(resolved)
            if reg is None:
                reg = cls._open[resolved] = cls(resolved, read_only, must_exist)
            elif read_only is False and reg.read_only:
                raise RegistryFileError(f"{resolved}: is open read-only in this process; close it "
                                        "(Registry.close_if_open) before opening it for writing")
            return reg

    @classmethod
    def close_if_open(cls, path: str | os.PathLike) -> None:
        """Close this process's connection to ``path`` if it has one."""
        reg = cls._open.get(resolve_db_path(path))
        if reg is not None:
            reg.close()

    def close(self) -> None:
        """Forget this process's registry object and close the file if no operation uses it
        (it is closed after each operation anyway; see :mod:`promolab.store.access`)."""
        with self._open_lock:
            if self._open.get(self.path) is self:
                del self._open[self.path]
        self.access.close()

    @contextmanager
    def hold(self, write: bool = False) -> Iterator[None]:
        """Keep the file open across the operations inside the block: they see one state and
        pay one open. ``write``: hold it for writing, so a read-then-write is atomic across
        processes. Hold it no longer than a command or a report needs."""
        with self.access.hold(write and not self.read_only):
            yield

    def verify(self) -> None:
        """Read every table in full (DuckDB checks each block's checksum): a RegistryFileError
        naming the first damaged table. Opening reads only the small control tables."""
        with self._guard() as con:
            files.check_tables(con, self.path, files.user_tables(con))

    def _file_error(self, exc: duckdb.Error) -> StateError | None:
        """The one-line error for a DuckDB error caused by the file (damaged, read-only), else None."""
        if self.read_only and "read-only" in str(exc):
            return self._read_only_error()
        return files.damage_error(self.path, exc)

    def _read_only_error(self) -> StateError:
        return StateError(f"{self.path}: is open read-only ({self._read_only_reason}); "
                          "this change needs write access")

    def _require_writable(self) -> None:
        if self.read_only:
            raise self._read_only_error()

    @contextmanager
    def _guard(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file's connection for one operation (for writing if ``write``); a damaged-file
        DuckDB error becomes one line."""
        with self.access.use(write and not self.read_only) as con:
            try:
                yield con
            except duckdb.Error as exc:
                error = self._file_error(exc)
                if error is None:
                    raise
                raise error from exc

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN … COMMIT, or ROLLBACK on any error: nothing is half-written."""
        with self._guard(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:  # a damaged file can fail the rollback too; report the first error
                    pass
                raise
            con.execute("COMMIT")

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run a read query and return a DataFrame (DuckDB's ``.df()`` imports pandas)."""
        with self._guard() as con:
            return con.execute(sql, params or []).df()

    # -- experiments -------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment, by: str = "cli", at: datetime | None = None) -> None:
        """Register a validated experiment as a draft; a duplicate key is refused. ``at`` (default
        now) dates the creation: a replayed history (the demo) records when it happened."""
        self._require_writable()
        e = experiment
        with self.transaction() as con:
            if first_row(con.execute("SELECT 1 FROM experiments WHERE key = ?", [e.key])):
                raise InputError("key", e.key, "a key not already in the registry")
            ts = at or now_utc()
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
        with self._guard() as con:
            row = first_row(con.execute(
                "SELECT spec_json, status, coverage FROM experiments WHERE key = ?", [key]
            ))
        if row is None:
            raise InputError("experiment", key, "the key of an experiment in the registry "
                             f"({', '.join(self.experiment_keys()) or 'none registered'})")
        return row

    def experiment_keys(self) -> list[str]:
        with self._guard() as con:
            return [r[0] for r in con.execute("SELECT key FROM experiments ORDER BY key").fetchall()]

    def get_experiment(self, key: str) -> Experiment:
        """The stored spec, with the current traffic coverage."""
        spec_json, _, coverage = self._row(key)
        return replace(experiment_from_dict(json.loads(spec_json)), coverage=coverage)

    def status(self, key: str) -> str:
        return self._row(key)[1]

    def list_experiments(self) -> list[ExperimentSummary]:
        with self._guard() as con:
            rows = con.execute(
                """
                SELECT e.key, e.name, e.kind, e.status, e.owner, e.coverage, e.created_at,
                       (SELECT MIN(changed_at) FROM status_history h
                         WHERE h.experiment_key = e.key AND h.to_status = 'running') AS launched_at,
                       (SELECT COUNT(*) FROM exposures x WHERE x.experiment_key = e.key) AS exposures
                FROM experiments e ORDER BY e.created_at, e.key
                """
            ).fetchall()
        return [
            ExperimentSummary(key, name, kind, status, owner, float(coverage), created_at, launched_at, int(exposures))
            for key, name, kind, status, owner, coverage, created_at, launched_at, exposures in rows
        ]

    def set_status(self, key: str, to_status: str, by: str = "cli", reason: str = "",
                   at: datetime | None = None) -> None:
        """Move an experiment along draft → running ⇄ paused → stopped; refuse anything else.
        ``at`` (default now) dates the change, for replayed histories."""
        if to_status not in STATUSES:
            raise InputError("status", to_status, "one of " + ", ".join(STATUSES))
        self._require_writable()
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
            ts = at or now_utc()
            con.execute("UPDATE experiments SET status = ?, updated_at = ? WHERE key = ?", [to_status, ts, key])
            con.execute(
                "INSERT INTO status_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [key, current, to_status, coverage, by, ts, reason],
            )

    def ramp(self, key: str, percent: float, by: str = "cli", reason: str = "") -> None:
        """Change traffic coverage; users already included keep their variant."""
        if not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise InputError("traffic_percent", percent, "a number in [0, 100]")
        self._require_writable()
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
        with self._guard() as con:
            rows = con.execute(
                "SELECT from_status, to_status, coverage, changed_by, changed_at, reason FROM status_history "
                "WHERE experiment_key = ? ORDER BY changed_at, rowid", [key]
            ).fetchall()
        return [StatusChange(from_status, to_status, float(coverage), changed_by, changed_at, reason)
                for from_status, to_status, coverage, changed_by, changed_at, reason in rows]

    # -- health alerts (see promolab.store.alerts) ---------------------------------------

    def record_alerts(self, key: str, conditions, at: datetime | None = None,
                      actions: Mapping[tuple[str, str], str] | None = None) -> list[_alerts.Alert]:
        """Store ``key``'s failed conditions not already open, resolve those that passed; the new
        alerts. ``actions``: (kind, subject) → what is done about that condition if its alert is new."""
        self._require_writable()
        return _alerts.record_alerts(self, key, conditions, at or now_utc(), actions)

    def alerts(self, experiment: str | None = None, include_acknowledged: bool = False) -> list[_alerts.Alert]:
        """Unacknowledged alerts (all with ``include_acknowledged``), newest first."""
        return _alerts.list_alerts(self, experiment, include_acknowledged)

    def acknowledge_alert(self, alert_id: int, by: str = "cli") -> _alerts.Alert:
        """Mark an alert acknowledged by ``by``; an unknown id is an InputError."""
        self._require_writable()
        return _alerts.acknowledge_alert(self, alert_id, by, now_utc())

    def unacknowledged_alerts(self) -> dict[str, int]:
        """Experiment → number of unacknowledged alerts."""
        return _alerts.unacknowledged_counts(self)

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
        self._require_writable()
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

    def record_model(self, key: str, policy: str, users: int, model_json: str, reason: str = "",
                     at: datetime | None = None) -> tuple[int, datetime]:
        """Store the next model of a contextual experiment (its served form, as JSON); returns
        (version, time). Versions count from 1 per experiment."""
        experiment = self.get_experiment(key)
        if experiment.kind != "contextual":
            raise InputError("experiment", key, "a contextual experiment (kind = 'contextual')")
        ts = at or now_utc()
        self._require_writable()
        with self.transaction() as con:
            version = int(con.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM contextual_models "
                                      "WHERE experiment_key = ?", [key]).fetchall()[0][0])
            con.execute("INSERT INTO contextual_models VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [key, version, ts, policy, int(users), model_json, reason])
        return version, ts

    def current_model(self, key: str) -> tuple[int, str] | None:
        """(version, model JSON) of a contextual experiment's latest model; None before the first."""
        with self._guard() as con:
            row = first_row(con.execute(
                "SELECT version, model_json FROM contextual_models WHERE experiment_key = ? "
                "ORDER BY version DESC LIMIT 1", [key]))
        return None if row is None else (int(row[0]), str(row[1]))

    def model_history(self, key: str) -> pd.DataFrame:
        """Columns version, updated_at, policy, users, reason (no model bodies); oldest first."""
        return self.query("SELECT version, updated_at, policy, users, reason FROM contextual_models "
                          "WHERE experiment_key = ? ORDER BY version", [key])

    def current_weights(self, key: str) -> dict[str, float]:
        """The latest stored weights, else the spec's configured weights."""
        experiment = self.get_experiment(key)
        with self._guard() as con:
            rows = con.execute(
                "SELECT variant_key, weight FROM bandit_weights WHERE experiment_key = ? AND updated_at = "
                "(SELECT MAX(updated_at) FROM bandit_weights WHERE experiment_key = ?)", [key, key]
            ).fetchall()
        if not rows:
            return dict(zip(experiment.variant_keys, experiment.weights))
        return {variant: float(weight) for variant, weight in rows}

    # -- data ------------------------------------------------------------------------

    def record_exposures(self, experiment_key: str, batch: pd.DataFrame, source: str = "cli") -> IngestResult:
        """Store first exposures (columns user_id, variant, ts and optionally propensity, as built
        by ``exposures_batch``); a user's first variant sticks.

        Refused with a StateError: a draft (launch it first) and a stopped experiment (its
        analysis is final; a late exposure would change it). A paused experiment still
        takes exposures that happened while it ran."""
        experiment = self.get_experiment(experiment_key)
        status = self.status(experiment_key)
        if status == "draft":
            raise StateError(f"experiment {experiment_key}: is a draft; launch it before recording exposures")
        if status == "stopped":
            raise StateError(f"experiment {experiment_key}: is stopped; exposures of a stopped experiment "
                             "are not recorded")
        self._require_writable()
        import pandas as pd

        bad = sorted(set(batch["variant"].astype(str)) - set(experiment.variant_keys))
        if bad:
            raise InputError("variant", bad[0], "one of " + ", ".join(experiment.variant_keys))
        propensity = batch["propensity"].astype(float) if "propensity" in batch else float("nan")
        frame = pd.DataFrame({"experiment_key": experiment_key, "user_id": batch["user_id"].astype(str),
                              "variant": batch["variant"].astype(str), "ts": batch["ts"], "source": source,
                              "propensity": propensity,
                              "context_json": batch["context_json"] if "context_json" in batch else None})
        with self.transaction() as con:
            with registered(con, "exposure_batch", frame) as table:
                inserted = insert_exposures(con, table)
        return IngestResult(len(batch), inserted)

    def exposure_health(self, key: str) -> ExposureHealth:
        """Users with exposures and those exposed to more than one variant (see ExposureHealth)."""
        variants = self.get_experiment(key).variant_keys
        with self._guard() as con:
            users = con.execute("SELECT COUNT(*) FROM exposures WHERE experiment_key = ?", [key]).fetchall()[0][0]
            crossed = con.execute(
                "SELECT COUNT(DISTINCT user_id) FROM exposure_conflicts WHERE experiment_key = ?", [key]
            ).fetchall()[0][0]
            by_stored = con.execute(
                "SELECT x.variant_key, COUNT(*) FROM exposures x WHERE x.experiment_key = ? AND x.user_id IN "
                "(SELECT user_id FROM exposure_conflicts c WHERE c.experiment_key = ?) GROUP BY x.variant_key",
                [key, key],
            ).fetchall()
            by_conflict = con.execute(
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

    def exposure_position(self) -> int:
        """Where :meth:`exposures_after` starts to see only rows stored from now on."""
        with self._guard() as con:
            return int(con.execute("SELECT COUNT(*) FROM exposures").fetchall()[0][0])

    def exposures_after(self, position: int) -> tuple[list[tuple[str, str, str]], int]:
        """First exposures stored since ``position`` (0: all), as (experiment, user, variant),
        and the position to ask from next time.

        ``exposures`` is append-only (rows are never updated or deleted) and writers take
        turns on the file, so a row's ``rowid`` is its place in commit order: a service
        process reads what other processes stored since it last looked (DuckDB prunes the
        row groups before ``position``)."""
        with self._guard() as con:
            rows = con.execute("SELECT experiment_key, user_id, variant_key, rowid FROM exposures "
                               "WHERE rowid >= ? ORDER BY rowid", [position]).fetchall()
        end = rows[-1][3] + 1 if rows else position
        return [(k, u, v) for k, u, v, _ in rows], int(end)

    def control_fingerprint(self) -> tuple:
        """Changes whenever experiments, statuses, coverage, bandit weights or API keys change
        (counts and latest change times): what another process checks to know its cached
        view of them is stale."""
        with self._guard() as con:
            return tuple(con.execute(
                "SELECT (SELECT COUNT(*) FROM experiments), (SELECT MAX(updated_at) FROM experiments), "
                "(SELECT COUNT(*) FROM status_history), (SELECT COUNT(*) FROM bandit_weights), "
                "(SELECT COUNT(*) FROM contextual_models), "
                "(SELECT MAX(updated_at) FROM bandit_weights), (SELECT COUNT(*) FROM api_keys), "
                "(SELECT COUNT(revoked_at) FROM api_keys)"
            ).fetchall()[0])

    def data_fingerprint(self) -> tuple:
        """:meth:`control_fingerprint` plus the row counts of the data tables and of alerts raised
        and acknowledged: changes when anything a report or a dashboard banner reads changes
        (a cache keys on it)."""
        with self._guard() as con:
            counts = con.execute(
                "SELECT (SELECT COUNT(*) FROM exposures), (SELECT COUNT(*) FROM events), "
                "(SELECT COUNT(*) FROM exposure_conflicts), (SELECT COUNT(*) FROM user_attributes), "
                "(SELECT COUNT(*) FROM alerts), (SELECT COUNT(acknowledged_at) FROM alerts)"
            ).fetchall()[0]
            return self.control_fingerprint() + tuple(counts)

    def cross_variant_users(self, key: str) -> set[str]:
        """Ids of the users of ``key`` exposed to more than one variant."""
        self._row(key)
        with self._guard() as con:
            return {r[0] for r in con.execute(CROSS_VARIANT_USERS_SQL, [key]).fetchall()}

    def ingest_events(self, batch: pd.DataFrame, source: str = "cli") -> IngestResult:
        """Store events (columns event_id, user_id, event, value, ts, as built by ``events_batch``).

        Idempotent on (source, event_id): a known id is not stored again. A repeated id with
        other content keeps the first stored row (the registry's, else the batch's first)
        and is counted in ``IngestResult.conflicts``."""
        import pandas as pd

        self._require_writable()
        frame = pd.DataFrame({"source": source, "event_id": batch["event_id"], "user_id": batch["user_id"],
                              "event": batch["event"], "value": batch["value"], "ts": batch["ts"],
                              "batch_row": range(len(batch))})
        with self.transaction() as con:
            with registered(con, "event_batch", frame) as table:
                inserted, conflicts = insert_events(con, table)
        return IngestResult(len(batch), inserted, conflicts)

    def set_attributes(self, batch: pd.DataFrame, source: str | None = None) -> int:
        """Upsert user attributes from a wide frame: a user_id column plus one column per attribute.

        A missing user_id column, a blank user id (empty, spaces, null) or a user on two rows
        (which value would win is not for the registry to guess) refuses the whole batch with
        an InputError naming the column and row, 1 = the first data row (``source``: the file,
        if any, prefixes the message). Returns the number of values stored."""
        import pandas as pd

        from promolab.store.batches import no_blank

        if "user_id" not in batch.columns:
            raise InputError("columns", sorted(map(str, batch.columns)), "a user_id column plus one column "
                             "per attribute", source=source)
        ids = no_blank(batch, "user_id", source)
        repeated = ids.duplicated()
        if repeated.any():
            row = int(repeated.to_numpy().nonzero()[0][0])
            first = int((ids == ids.iloc[row]).to_numpy().nonzero()[0][0])
            raise InputError(f"user_id (row {row + 1})", ids.iloc[row],
                             f"each user once per batch ({ids.iloc[row]} is also on row {first + 1})", source=source)
        batch = batch.assign(user_id=ids)
        self._require_writable()
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
