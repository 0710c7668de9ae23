"""One writer thread with group commit: the only code in the service that writes data.

DuckDB allows one writer. Request handlers validate a batch, turn it into Arrow tables
and enqueue a :class:`Job`; the writer thread takes every job waiting in the queue (up
to ``max_group_rows`` rows), applies them all inside ONE transaction, commits, and only
then resolves each job's future, so a request is acknowledged only after its rows are
committed (DuckDB writes the WAL on commit; a SIGKILL after the ack loses nothing).

- Idempotent: events are inserted with ``ON CONFLICT DO NOTHING`` on the primary key
  (source, event_id); exposures keep each user's first exposure per experiment, and an
  exposure of a user to another variant than the stored one is kept (once per user and
  variant) in ``exposure_conflicts``, in the same transaction
  (:func:`promolab.store.exposures.insert_exposures`: one more INSERT … SELECT, skipped
  when every user of the batch is new and shows one variant).
- Per job, one INSERT per table, so each request learns how many of its rows were new.
- A group whose transaction fails is retried one job per transaction, so one bad job
  cannot fail (or half-write) the others; the failing job's future gets the exception.
- Exposures recorded by the assign routes are fire-and-forget: ``record_exposure``
  appends one tuple to a buffer under a lock (O(1), no Arrow, no job object) and puts a
  wake-up token in the queue only when the buffer was empty. The writer lingers up to
  ``exposure_linger`` seconds (default 100 ms) for more, unless a job that waits for its
  commit arrives, then turns the whole buffer into one Arrow table and one INSERT, in
  the same transaction as the group's other jobs. Exposures are thus coalesced into a
  few commits per second whatever the assign rate, and an acknowledged batch never
  waits for the linger.
- Back-pressure: ``submit`` raises :class:`Overloaded` when more than ``max_pending_rows``
  rows wait; the route turns that into 503 + Retry-After. Past ``max_pending_rows``
  buffered exposures (the database cannot keep up), further exposures are dropped and
  counted in ``exposures_dropped`` (logged), rather than growing memory without bound.
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
from promolab.store.events import insert_events
from promolab.store.exposures import EXPOSURES_SQL, insert_exposures  # noqa: F401 (EXPOSURES_SQL: re-exported)
from promolab.store.migrations import registered

log = logging.getLogger("promolab.service.writer")

EVENT_SCHEMA = pa.schema([("source", pa.string()), ("event_id", pa.string()), ("user_id", pa.string()),
                          ("event", pa.string()), ("value", pa.float64()), ("ts", pa.timestamp("us"))])
EXPOSURE_SCHEMA = pa.schema([("experiment_key", pa.string()), ("user_id", pa.string()), ("variant", pa.string()),
                             ("ts", pa.timestamp("us")), ("source", pa.string()), ("propensity", pa.float64()),
                             ("context_json", pa.string())])


class Overloaded(Exception):
    """Too many rows are waiting for the writer; retry later."""


class WriterStopped(Exception):
    """The writer is not running (shutting down)."""


@dataclass(frozen=True)
class Written:
    events: int
    exposures: int
    conflicts: int = 0  # event rows whose id was already taken by other content (the first kept)


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
_EXPOSED = object()  # wake-up token: buffered exposures are waiting


class Writer:
    def __init__(self, registry: Registry, max_group_rows: int = 250_000, max_pending_rows: int = 2_000_000,
                 exposure_linger: float = 0.1):
        self.registry = registry
        self.max_group_rows = max_group_rows
        self.max_pending_rows = max_pending_rows
        self.exposure_linger = exposure_linger
        # (experiment, user, variant, ts in µs, propensity or None, context JSON or None)
        self._buffer: list[tuple[str, str, str, int, float | None, str | None]] = []
        self._buffer_lock = threading.Lock()
        self.exposures_dropped = 0
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
        return self._pending + len(self._buffer)

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

    def record_exposure(self, experiment: str, user_id: str, variant: str, ts_us: int,
                        propensity: float | None = None, context_json: str | None = None) -> None:
        """Buffer one first exposure (with the probability its variant was chosen with, and the
        context a contextual policy chose it for) without waiting for its commit (assign routes); O(1)."""
        if not self._accepting:
            raise WriterStopped("the writer is not running")
        with self._buffer_lock:
            buffer = self._buffer
            if len(buffer) >= self.max_pending_rows:
                self.exposures_dropped += 1
                if self.exposures_dropped % 10_000 == 1:
                    log.warning("writer: %d exposures waiting; %d dropped so far", len(buffer), self.exposures_dropped)
                return
            buffer.append((experiment, user_id, variant, ts_us, propensity, context_json))
            wake = len(buffer) == 1
        if wake:
            self._queue.put(_EXPOSED)

    def record_exposures(self, exposures: pa.Table) -> None:
        """Queue a table of exposures without waiting for their commit."""
        self._enqueue(Job(None, exposures, None))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued or buffered before this call is committed."""
        future = self.submit(None, None)
        future.result(timeout)

    # -- the thread ----------------------------------------------------------------------

    def _take_buffer(self) -> pa.Table | None:
        with self._buffer_lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return None
        keys, users, variants, ts, propensity, context = zip(*rows)
        n = len(rows)
        return pa.table({"experiment_key": pa.array(keys, pa.string()), "user_id": pa.array(users, pa.string()),
                         "variant": pa.array(variants, pa.string()), "ts": pa.array(ts, pa.timestamp("us")),
                         "source": pa.array(["assign"] * n, pa.string()),
                         "propensity": pa.array(propensity, pa.float64()),
                         "context_json": pa.array(context, pa.string())}, schema=EXPOSURE_SCHEMA)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is _STOP:
                break
            group: list[Job] = []
            rows = 0
            # only buffered exposures so far: linger for more (an acked job ends the wait)
            deadline = time.monotonic() + (self.exposure_linger if job is _EXPOSED else 0.0)
            if job is not _EXPOSED:
                group.append(job)
                rows = job.rows
            while rows < self.max_group_rows:
                wait = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                if nxt is _EXPOSED:
                    continue
                group.append(nxt)
                rows += nxt.rows
                if nxt.future is not None:
                    deadline = 0.0
            buffered = self._take_buffer()
            if buffered is not None:
                group.insert(0, Job(None, buffered, None))
            if group:
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
            if nxt is not _STOP and nxt is not _EXPOSED:
                rest.append(nxt)
        buffered = self._take_buffer()
        if buffered is not None:
            rest.insert(0, Job(None, buffered, None))
        if rest:
            self._commit_group(rest)

    def _apply(self, con, job: Job) -> Written:
        n_events = n_exposures = n_conflicts = 0
        if job.events is not None and job.events.num_rows:
            rows = job.events.append_column("batch_row", pa.array(range(job.events.num_rows), pa.int64()))
            with registered(con, "writer_events", rows) as table:
                n_events, n_conflicts = insert_events(con, table)
        if job.exposures is not None and job.exposures.num_rows:
            with registered(con, "writer_exposures", job.exposures) as table:
                n_exposures = insert_exposures(con, table)
        return Written(int(n_events), int(n_exposures), int(n_conflicts))

    def _commit_group(self, group: list[Job]) -> None:
        # in queue order, the fire-and-forget exposures merged into one unit where the first
        # of them stands (the assign buffer heads the group): a user's exposure from an assign
        # is stored before a later batch naming another variant, which is then a conflict
        units: list[Job | None] = []
        fire: list[pa.Table] = []
        for j in group:
            if j.future is not None:
                units.append(j)
            elif j.exposures is not None:
                if not fire:
                    units.append(None)
                fire.append(j.exposures)
        if fire:
            units[units.index(None)] = Job(None, pa.concat_tables(fire), None)
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
