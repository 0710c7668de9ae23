"""Local-evaluation client for the promolab service, in the manner of GrowthBook's SDKs.

The client fetches the running experiments' configuration once (``GET /v1/config``, with
``If-None-Match`` so an unchanged config costs a 304), assigns users in-process with
``promolab.assign`` (no round trip: assignment is a pure function of the spec, the
weights and the user), and sends exposures and events to ``POST /v1/events`` from a
background thread in batches, retrying failed sends with back-off. Retries are safe:
the service stores each (source, event id) once and each user's first exposure once.

    from promolab.client import PromolabClient

    with PromolabClient("http://127.0.0.1:8000", "pl_sdk_…") as client:
        variant = client.variant("checkout-coupon", "user-42", {"country": "US"})
        client.order("user-42", revenue=59.90, discount_cost=5.99)
    # leaving the block (or close()) flushes everything queued

The client and the service build their state from the same config document with the
same function (``promolab.service.evaluate``), so they assign every user identically.

Sticky assignment: a user keeps the variant of their first exposure when weights change
(a bandit update, a ramp). The client keeps its own first-exposure map
(``promolab.service.sticky.StickyMap``, ~9 bytes per user once compacted) for the users
*it* has assigned, and answers them from it before hashing into the current weights, so
for those users it agrees with the service and with ``promolab.adaptive.sticky_assign``.
The service is authoritative for users first seen elsewhere (another client, another
process, ``POST /v1/assign``): this client does not know their stored variant, and after
a weight change it may hash them into a different one; when that matters, assign such
users with ``POST /v1/assign`` (or keep one client per user population). Maps live as
long as the client (they survive config refreshes, so a paused and resumed experiment
keeps its users).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import httpx

from promolab.errors import InputError
from promolab.service.evaluate import Decision, Running, decide_each, decide_one, running_from_config
from promolab.service.sticky import StickyMap

log = logging.getLogger("promolab.client")

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Assignment:
    experiment: str
    variant: str
    payload: dict[str, Any]
    paused: bool = False  # the experiment is paused: its control, for everyone, not logged


def _iso(ts: datetime | str | None) -> str | None:
    if ts is None or isinstance(ts, str):
        return ts
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.isoformat()


class PromolabClient:
    """Assign locally, report in the background. Thread-safe; call :meth:`close` at exit."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        source: str = "python-client",
        http: httpx.Client | None = None,
        track_exposures: bool = True,
        flush_interval: float = 0.5,
        max_batch: int = 5_000,
        max_queue: int = 1_000_000,
        timeout: float = 10.0,
        max_backoff: float = 5.0,
    ):
        self.source = source
        self.track_exposures = track_exposures
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_backoff = max_backoff
        self._own_http = http is None
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {key}"}
        self._etag: str | None = None
        self._running: dict[str, Running] = {}
        self._payloads: dict[str, tuple[dict[str, Any], ...]] = {}
        self._sticky: dict[str, StickyMap] = {}  # experiment → first variant of users assigned here
        self._sticky_lock = threading.Lock()
        self._queue: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closing = False
        self._flushing = 0
        self._abandon = threading.Event()
        self.sent = 0  # events acknowledged by the service
        self.rejected: list[dict[str, Any]] = []  # 4xx answers (bad data is not retried)
        self.refresh()
        self._thread = threading.Thread(target=self._sender, name="promolab-client-sender", daemon=True)
        self._thread.start()

    # -- configuration ------------------------------------------------------------------

    def refresh(self) -> bool:
        """Fetch the config if it changed (ETag); True when new experiments or weights arrived."""
        headers = dict(self._headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        r = self._http.get("/v1/config", headers=headers)
        if r.status_code == 304:
            return False
        r.raise_for_status()
        running = running_from_config(r.json())
        self._running = {x.key: x for x in running}
        self._payloads = {x.key: tuple(dict(v.payload) for v in x.experiment.variants) for x in running}
        self._etag = r.headers.get("ETag")
        return True

    @property
    def experiments(self) -> list[str]:
        """The running experiments (paused ones are served too: their control, for everyone)."""
        return [k for k, r in self._running.items() if not r.paused]

    # -- assignment ---------------------------------------------------------------------

    def assign(self, user_id: str, attributes: Mapping[str, Any] | None = None,
               experiment: str | None = None) -> dict[str, Assignment]:
        """The user's assignments in one or all running experiments (absent: not in it; a paused
        experiment: its control for everyone, not logged). Unusable
        attributes for a named contextual experiment raise InputError; for all experiments that
        experiment leaves the user out, as the service does."""
        chosen = [self._running[experiment]] if experiment in self._running else (
            [] if experiment is not None else list(self._running.values()))
        user_id = str(user_id)
        found: list[tuple[Running, Decision, bool]] = []
        for running in chosen:
            if running.paused:
                found.append((running, Decision(running.control_index), False))
                continue
            m = self._sticky.get(running.key)
            value = m.get(user_id) if m is not None else None
            if value is not None:
                found.append((running, Decision(value), False))
                continue
            try:
                decision = decide_one(running, user_id, attributes)
            except InputError:
                if experiment is not None:
                    raise
                continue  # every experiment: one the attributes cannot serve leaves the user out (as the service)
            if decision.index >= 0:
                found.append((running, decision, True))
        out = {}
        for running, decision, new in found:
            value = decision.index
            if new:
                value, new = self._remember(running, user_id, value)
            variant = running.experiment.variants[value].key
            out[running.key] = Assignment(running.key, variant, self._payloads[running.key][value], running.paused)
            if new and self.track_exposures:
                self._expose(running.key, user_id, variant, decision)
        return out

    def _map(self, running: Running) -> StickyMap:
        m = self._sticky.get(running.key)
        if m is None:
            m = self._sticky.setdefault(running.key, StickyMap(len(running.experiment.variants)))
        return m

    def _remember(self, running: Running, user_id: str, value: int) -> tuple[int, bool]:
        """(the user's first variant, whether it is ``value`` stored just now)."""
        with self._sticky_lock:
            m = self._map(running)
            stored = m.get(user_id)
            if stored is not None:
                return stored, False
            m.setdefault(user_id, value)
            return value, True

    def variant(self, experiment: str, user_id: str, attributes: Mapping[str, Any] | None = None) -> str | None:
        """The variant key for one user, or None (not in the experiment / not running)."""
        a = self.assign(user_id, attributes, experiment).get(experiment)
        return None if a is None else a.variant

    def assign_many(self, experiment: str, user_ids: Sequence[str],
                    attributes: Sequence[Mapping[str, Any] | None] | None = None) -> list[str | None]:
        """Variant key (or None) per user, vectorised; exposures are queued as for ``assign``."""
        running = self._running.get(experiment)
        if running is None:
            return [None] * len(user_ids)
        if running.paused:
            return [running.experiment.control] * len(user_ids)
        ids = [str(u) for u in user_ids]
        decisions = decide_each(running, ids, attributes)
        for d in decisions:
            if isinstance(d, InputError):
                raise d
        idx = [d.index for d in decisions]
        keys = running.experiment.variant_keys
        new: list[tuple[str, str, Decision]] = []
        with self._sticky_lock:
            m = self._map(running)
            for j, u in enumerate(ids):
                stored = m.get(u)
                if stored is not None:
                    idx[j] = stored
                elif idx[j] >= 0:
                    m.setdefault(u, idx[j])
                    new.append((u, keys[idx[j]], decisions[j]))
        if self.track_exposures:
            for u, v, d in new:
                self._expose(experiment, u, v, d)
        return [None if i < 0 else keys[i] for i in idx]

    # -- events -------------------------------------------------------------------------

    def _expose(self, experiment: str, user_id: str, variant: str, decision: Decision) -> None:
        """Queue a first exposure (called once per user and experiment, by the sticky map), with
        the probability its variant was chosen with and a contextual decision's features."""
        event_id = "x:" + hashlib.sha1(f"{experiment}\x00{user_id}".encode()).hexdigest()
        event = {"type": "exposure", "event_id": event_id, "user_id": user_id, "experiment": experiment,
                 "variant": variant, "ts": _iso(datetime.now(timezone.utc)), "propensity": decision.propensity}
        if decision.context is not None:
            event["context"] = json.loads(decision.context)
        self._enqueue(event)

    def conversion(self, user_id: str, name: str = "conversion", value: float = 1.0, *,
                   event_id: str | None = None, ts: datetime | str | None = None) -> str:
        """Queue a named event; returns its event id (retries reuse it)."""
        return self._enqueue({"type": "conversion", "event_id": event_id or uuid.uuid4().hex, "user_id": user_id,
                              "name": name, "value": value, "ts": _iso(ts) or _iso(datetime.now(timezone.utc))})

    def order(self, user_id: str, revenue: float, discount_cost: float = 0.0, *,
              event_id: str | None = None, ts: datetime | str | None = None) -> str:
        """Queue an order (revenue and the promotion's discount cost)."""
        return self._enqueue({"type": "order", "event_id": event_id or uuid.uuid4().hex, "user_id": user_id,
                              "revenue": revenue, "discount_cost": discount_cost,
                              "ts": _iso(ts) or _iso(datetime.now(timezone.utc))})

    def track(self, event: Mapping[str, Any]) -> str:
        """Queue a raw event as ``POST /v1/events`` takes it (type, event_id, user_id, ...)."""
        ev = dict(event)
        ev.setdefault("event_id", uuid.uuid4().hex)
        return self._enqueue(ev)

    def _enqueue(self, event: dict[str, Any]) -> str:
        with self._cond:
            if self._closing:
                raise RuntimeError("client is closed")
            if len(self._queue) >= self.max_queue:
                raise RuntimeError(f"client queue full ({self.max_queue} events): is the service reachable?")
            self._queue.append(event)
            if len(self._queue) >= self.max_batch:
                self._cond.notify_all()
        return event["event_id"]

    # -- the sender thread --------------------------------------------------------------

    def _sender(self) -> None:
        while True:
            with self._cond:
                if len(self._queue) < self.max_batch and not self._closing and not self._flushing:
                    self._cond.wait(self.flush_interval)
                if not self._queue:
                    if self._closing:
                        return
                    continue
                n = min(len(self._queue), self.max_batch)
                batch = [self._queue.popleft() for _ in range(n)]
                self._in_flight = n
            self._send(batch)
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()

    def _send(self, batch: list[dict[str, Any]]) -> None:
        delay = 0.1
        body = {"source": self.source, "events": batch}
        while True:
            try:
                r = self._http.post("/v1/events", json=body, headers=self._headers)
            except httpx.TransportError as exc:
                status, reason = None, repr(exc)
            else:
                status, reason = r.status_code, r.text[:200]
                if r.status_code < 300:
                    self.sent += len(batch)
                    return
                if r.status_code not in RETRY_STATUS:
                    log.error("events rejected (%s): %s", r.status_code, reason)
                    self.rejected.append({"status": r.status_code, "response": r.text[:1000], "events": len(batch)})
                    return
            log.warning("sending %d events failed (%s %s); retrying in %.1f s", len(batch), status, reason, delay)
            if self._abandon.wait(delay):
                log.error("client closed: %d events not sent", len(batch))
                return
            delay = min(delay * 2, self.max_backoff)

    def flush(self, timeout: float = 30.0) -> bool:
        """Send everything queued now; True when all was acknowledged (or rejected) in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            try:
                self._cond.notify_all()
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.notify_all()
                    self._cond.wait(min(remaining, 0.05))
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Flush (up to ``timeout`` seconds) and stop the sender; True if nothing was left."""
        done = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if not done:
            self._abandon.set()
        self._thread.join(timeout=5)
        if self._own_http:
            self._http.close()
        return done

    def __enter__(self) -> "PromolabClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
