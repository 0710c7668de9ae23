"""The FastAPI application: ``create_app(db_path)``; run it with ``promolab serve``.

Each service process shares the registry file with the CLI, the dashboard and other
service processes (:mod:`promolab.store.access`: the file is opened per operation). In
memory it holds an in-memory catalog of experiments for assignment with each
experiment's first-exposure map (sticky assignment), kept in step with the other
processes' changes (``sync``); one writer thread with group commit; optionally a bandit
scheduler; and a report worker process (``reports``) that computes reports from the file,
within a time limit, so reports never hold the server.
``POST /v1/assign`` is served by a lean ASGI path (``fastpath``) in front of FastAPI.
Several processes (``promolab serve --workers N``, or several ``serve`` behind one
balancer) serve one registry: assignment is a pure function of the served state, so
they agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from contextlib import asynccontextmanager
from typing import Sequence

from fastapi import FastAPI

from promolab.errors import InputError
from promolab.service import errors
from promolab.service.fastpath import FastAssign, replay_receive
from promolab.service.reports import DEFAULT_TIMEOUT as DEFAULT_REPORT_TIMEOUT
from promolab.service.reports import ReportRunner
from promolab.service.routes_assign import router as assign_router
from promolab.service.routes_events import router as events_router
from promolab.service.routes_experiments import router as experiments_router
from promolab.service.routes_misc import router as misc_router
from promolab.service.scheduler import DEFAULT_HEALTH_PERIOD, BanditScheduler, HealthScheduler
from promolab.service.schemas import MAX_BODY_BYTES
from promolab.service.state import BanditUpdate, ServiceState
from promolab.service.sync import DEFAULT_SYNC_INTERVAL, RegistrySync
from promolab.service.webhooks import WebhookSender, check_webhook_url
from promolab.service.writer import Writer
from promolab.store import Registry

log = logging.getLogger("promolab.service")

API_VERSION = "1"
DESCRIPTION = """Assignment, event ingestion, experiments and reports for promolab.

Authenticate with `Authorization: Bearer <key>`: SDK keys (`pl_sdk_…`) may assign, send
events and read `/v1/config`; admin keys (`pl_admin_…`) may use every route. Create keys
with `promolab keys create --kind sdk|admin`.

Limits: 10,000 events per batch, 1,000 users per assign batch, 8 MiB per body (JSON text:
UTF-8, no lone surrogate escapes, at most 200 levels deep), event timestamps at most 24 h in
the future, revenue and values finite and >= 0, reports computed within the server's report
time limit (default 30 s).
"""


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, before anything parses them."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def _refuse(self, send, status: int, message: str) -> None:
        import json

        body = json.dumps({"error": errors.detail("too_large" if status == 413 else "bad_request", message, "body",
                                                  None, f"a body of at most {self.limit} bytes"),
                           "problems": []}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await self._refuse(send, 400, "body: invalid Content-Length")
            if n > self.limit:
                return await self._refuse(send, 413, f"body: {n} bytes is over the limit of {self.limit}")
            return await self.app(scope, receive, send)
        if not chunked:
            return await self.app(scope, receive, send)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.limit:
                return await self._refuse(send, 413, f"body: over the limit of {self.limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await self.app(scope, replay_receive(b"".join(chunks), receive), send)


class ServiceApp(FastAPI):
    """FastAPI, with ``POST /v1/assign`` answered by :class:`FastAssign` when it can."""

    fast: FastAssign | None = None

    async def __call__(self, scope, receive, send) -> None:
        fast = self.fast
        if fast is not None and scope["type"] == "http" and scope["path"] == "/v1/assign" \
                and scope["method"] == "POST":
            return await fast(scope, receive, send, super().__call__)
        await super().__call__(scope, receive, send)


def create_app(
    db_path: str | os.PathLike | None = None,
    *,
    bandit_period: float | None = None,
    bandit_update: BanditUpdate | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    close_registry: bool = True,
    fast_assign: bool = True,
    report_timeout: float = DEFAULT_REPORT_TIMEOUT,
    sync_interval: float = DEFAULT_SYNC_INTERVAL,
    health_period: float | None = DEFAULT_HEALTH_PERIOD,
    webhooks: Sequence[str] = (),
) -> FastAPI:
    """The service on the registry at ``db_path`` (default: $PROMOLAB_DB or ./promolab.duckdb).

    ``bandit_period``: seconds between scheduled bandit updates (None: no schedule).
    ``bandit_update``: the update function (default ``promolab.bandit_update.update_weights``).
    ``fast_assign``: serve ``POST /v1/assign`` by the lean ASGI path (False: FastAPI only).
    ``report_timeout``: seconds a report may take (past it: 504, and the report is cancelled).
    ``sync_interval``: seconds between reads of other processes' changes to the registry
    (:mod:`promolab.service.sync`).
    ``health_period``: seconds between scheduled health checks of every running experiment
    (default hourly; None: none); their new alerts are logged and POSTed to ``webhooks``
    (http(s) URLs; :mod:`promolab.service.webhooks`).
    """
    if health_period is not None and not (isinstance(health_period, (int, float)) and 0 < health_period < float("inf")):
        raise InputError("health_period", health_period, "a number of seconds > 0")
    webhooks = tuple(check_webhook_url(u) for u in webhooks)  # a bad URL: one line, before anything starts
    if not (isinstance(report_timeout, (int, float)) and 0 < report_timeout < float("inf")):
        raise ValueError(f"report_timeout: got {report_timeout!r}, expected a number of seconds > 0")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        registry = Registry.open(db_path)
        writer = Writer(registry)
        writer.start()
        position = registry.exposure_position()  # before the maps are read: a row stored between is read again
        state = ServiceState(registry, writer, bandit_update)
        state.sync = RegistrySync(state, position, sync_interval)
        sync_task = asyncio.get_running_loop().create_task(state.sync.run(), name="promolab-registry-sync")
        state.scheduler = None
        if bandit_period:
            state.scheduler = BanditScheduler(state, bandit_period)
            state.scheduler.start()
        state.webhooks = WebhookSender(webhooks).start() if webhooks else None
        state.health = None
        if health_period:
            state.health = HealthScheduler(state, health_period, state.webhooks)
            state.health.start()
        state.reports = ReportRunner(state, report_timeout)
        restore = _on_shutdown_signal(state.reports.begin_shutdown)
        app.state.service = state
        if not len(state.keys):
            log.warning("no API keys in %s: create one with `promolab keys create --kind admin --db %s`",
                        registry.path, registry.path)
        log.info("promolab service on %s: %d experiments, %d running; first-exposure maps: %d users, ~%.1f MB",
                 registry.path, len(state.catalog.statuses), len(state.catalog.running), state.sticky.users,
                 state.sticky.nbytes / 2**20)
        if fast_assign:
            app.fast = FastAssign(state, max_body_bytes)
        try:
            yield
        finally:
            app.fast = None
            restore()
            sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync_task
            await state.reports.close()
            if state.scheduler is not None:
                state.scheduler.stop()
            if state.health is not None:
                state.health.stop()
            if state.webhooks is not None:
                state.webhooks.stop()
            writer.stop()
            if close_registry:
                registry.close()

    app = ServiceApp(
        title="promolab",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        debug=False,
    )
    errors.install(app)
    app.include_router(assign_router)
    app.include_router(events_router)
    app.include_router(misc_router)
    app.include_router(experiments_router)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


def _on_shutdown_signal(callback):
    """Run ``callback`` on the event loop as soon as SIGTERM or SIGINT arrives, then the
    Python handler that was there (uvicorn's, which starts its graceful shutdown); returns the
    function that puts the previous handlers back.

    uvicorn's graceful shutdown waits for every open request; this lets the reports in
    flight end at once (503) instead of holding the shutdown for their time limit. Signal
    handlers can only be set from the main thread: elsewhere (a test client) this does nothing.
    """
    loop = asyncio.get_running_loop()
    previous: dict[int, object] = {}

    def handler(signum, frame):
        loop.call_soon_threadsafe(callback)
        previous[signum](signum, frame)

    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev = signal.getsignal(sig)
            if callable(prev):  # a server's handler (uvicorn's); the default would end the process anyway
                previous[sig] = prev
                signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass

    def restore() -> None:
        for sig, prev in previous.items():
            try:
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, prev)
            except (ValueError, TypeError):
                pass

    return restore


BANDIT_PERIOD_ENV = "PROMOLAB_BANDIT_PERIOD"
REPORT_TIMEOUT_ENV = "PROMOLAB_REPORT_TIMEOUT"
HEALTH_PERIOD_ENV = "PROMOLAB_HEALTH_PERIOD"  # seconds; 0 turns the scheduled health checks off
WEBHOOKS_ENV = "PROMOLAB_WEBHOOKS"  # alert webhook URLs, separated by spaces
MAX_WORKERS = 64


def _seconds_from_env(name: str) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise InputError(name, text, "a number of seconds > 0")
    return value


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory promolab.service.app:app_from_env`` (what ``promolab serve
    --workers N`` runs in each process): $PROMOLAB_DB, $PROMOLAB_BANDIT_PERIOD,
    $PROMOLAB_REPORT_TIMEOUT, $PROMOLAB_HEALTH_PERIOD (0: off), $PROMOLAB_WEBHOOKS."""
    timeout = _seconds_from_env(REPORT_TIMEOUT_ENV)
    health = os.environ.get(HEALTH_PERIOD_ENV, "").strip()
    health_period = None if health in ("0", "0.0") else _seconds_from_env(HEALTH_PERIOD_ENV) or DEFAULT_HEALTH_PERIOD
    return create_app(os.environ.get("PROMOLAB_DB"), bandit_period=_seconds_from_env(BANDIT_PERIOD_ENV),
                      report_timeout=DEFAULT_REPORT_TIMEOUT if timeout is None else timeout,
                      health_period=health_period, webhooks=os.environ.get(WEBHOOKS_ENV, "").split())


__all__ = ["create_app", "app_from_env"]
