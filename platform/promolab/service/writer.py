"""One writer thread with group commit: the only code in the service that writes data.

DuckDB allows one writer. Request handlers validate a batch, turn it into Arrow tables
and enqueue a :class:`Job`; the writer thread takes every job waiting in the queue (up
to ``max_group_rows`` rows), applies them all inside ONE transaction, commits, and only
then resolves each job's future, so a request is acknowledged only after its rows are
committed (DuckDB writes the WAL on commit; a SIGKILL after the ack loses nothing).

- Idempotent: events are inserted with ``ON CONFLICT DO NOTHING`` on the primary key
  (source, event_id); exposures keep each user's first exposure per experiment.
- Per job, one INSERT per table, so each request learns how many of its rows were new.
- A group whose transaction fails is retried one job per transaction, so one bad job
  cannot fail (or half-write) the others; the failing job's future gets the exception.
- Exposures recorded by the assign routes are fire-and-forget jobs (no future): they
  are coalesced into one INSERT per group.
- Back-pressure: ``submit`` raises :class:`Overloaded` when more than ``max_pending_rows``
  rows wait; the route turns that into 503 + Retry-After.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

from promolab.store import Registry

log = logging.getLogger("promolab.service.writer")

EVENTS_SQL = """
INSERT INTO events
SELECT source, event_id, any_value(user_id), any_value(event), any_value(value), any_value(ts)
FROM {table} GROUP BY source, event_id
ON CONFLICT DO NOTHING
"""
EXPOSURES_SQL = """
INSERT INTO exposures
SELECT experiment_key, user_id, arg_min(variant, ts), MIN(ts), arg_min(source, ts)
FROM {table} GROUP BY experiment_key, user_id
ON CONFLICT DO NOTHING
"""

EVENT_SCHEMA = pa.schema([("source", pa.string()), ("event_id", pa.string()), ("user_id", pa.string()),
                          ("event", pa.string()), ("value", pa.float64()), ("ts", pa.timestamp("us"))])
EXPOSURE_SCHEMA = pa.schema([("experiment_key", pa.string()), ("user_id", pa.string()), ("variant", pa.string()),
                             ("ts", pa.timestamp("us")), ("source", pa.string())])


class Overloaded(Exception):
    """Too many rows are waiting for the writer; retry later."""


class WriterStopped(Exception):
    """The writer is not running (shutting down)."""


@dataclass(frozen=True)
class Written:
    events: int
    exposures: int


@dataclass
class Job:
    events: pa.Table | None = None
    exposures: pa.Table | None = None
    future: Future | None = None
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = (self.events.num_rows if self.events is not None else 0) + (
            self.exposures.num_rows if self.exposures is not None else 0)


_STOP = object()


class Writer:
    def __init__(self, registry: Registry, max_group_rows: int = 250_000, max_pending_rows: int = 2_000_000):
        self.registry = registry
        self.max_group_rows = max_group_rows
        self.max_pending_rows = max_pending_rows
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="promolab-writer", daemon=True)
        self._accepting = False
        self.commits = 0
        self.jobs_committed = 0
        self.rows_committed = 0

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._accepting = True
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, commit everything queued, and end the thread."""
        self._accepting = False
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._accepting and self._thread.is_alive()

    @property
    def pending_rows(self) -> int:
        return self._pending

    # -- submitting ----------------------------------------------------------------------

    def _enqueue(self, job: Job) -> None:
        if not self.alive:
            raise WriterStopped("the writer is not running")
        with self._pending_lock:
            if job.future is not None and self._pending + job.rows > self.max_pending_rows:
                raise Overloaded(f"{self._pending} rows waiting")
            self._pending += job.rows
        self._queue.put(job)

    def submit(self, events: pa.Table | None, exposures: pa.Table | None) -> Future:
        """Queue a validated batch; the future resolves to :class:`Written` after commit."""
        job = Job(events, exposures, Future())
        self._enqueue(job)
        return job.future

    def record_exposures(self, exposures: pa.Table) -> None:
        """Queue exposures without waiting for their commit (assign routes)."""
        self._enqueue(Job(None, exposures, None))

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is _STOP:
                break
            group = [job]
            rows = job.rows
            while rows < self.max_group_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                group.append(nxt)
                rows += nxt.rows
            self._commit_group(group)
            with self._pending_lock:
                self._pending -= rows
        # drain whatever was queued after the stop marker (stop() waits for it)
        rest = []
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is not _STOP:
                rest.append(nxt)
        if rest:
            self._commit_group(rest)

    def _apply(self, con, job: Job) -> Written:
        n_events = n_exposures = 0
        if job.events is not None and job.events.num_rows:
            con.register("writer_events", job.events)
            try:
                n_events = con.execute(EVENTS_SQL.format(table="writer_events")).fetchall()[0][0]
            finally:
                con.unregister("writer_events")
        if job.exposures is not None and job.exposures.num_rows:
            con.register("writer_exposures", job.exposures)
            try:
                n_exposures = con.execute(EXPOSURES_SQL.format(table="writer_exposures")).fetchall()[0][0]
            finally:
                con.unregister("writer_exposures")
        return Written(int(n_events), int(n_exposures))

    def _commit_group(self, group: list[Job]) -> None:
        acked = [j for j in group if j.future is not None]
        fire = [j.exposures for j in group if j.future is None and j.exposures is not None]
        units: list[Job] = list(acked)
        if fire:
            units.append(Job(None, pa.concat_tables(fire), None))
        t0 = time.perf_counter()
        try:
            with self.registry.transaction() as con:
                results = [self._apply(con, j) for j in units]
        except Exception:
            if len(units) > 1:
                log.warning("group commit of %d jobs failed; retrying one job per transaction", len(units))
                for j in units:
                    self._commit_one(j)
                return
            self._fail(units[0])
            return
        self._count(units, t0)
        for j, r in zip(units, results):
            if j.future is not None:
                j.future.set_result(r)

    def _commit_one(self, job: Job) -> None:
        t0 = time.perf_counter()
        try:
            with self.registry.transaction() as con:
                result = self._apply(con, job)
        except Exception:
            self._fail(job)
            return
        self._count([job], t0)
        if job.future is not None:
            job.future.set_result(result)

    def _fail(self, job: Job) -> None:
        import sys

        exc = sys.exc_info()[1]
        log.exception("writer: a job of %d rows was not stored", job.rows)
        if job.future is not None:
            job.future.set_exception(exc)

    def _count(self, units: list[Job], t0: float) -> None:
        self.commits += 1
        self.jobs_committed += len(units)
        self.rows_committed += sum(j.rows for j in units)
        log.debug("commit: %d jobs, %d rows in %.1f ms", len(units), sum(j.rows for j in units),
                  (time.perf_counter() - t0) * 1e3)
