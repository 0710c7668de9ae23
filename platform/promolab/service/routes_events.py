"""``POST /v1/events``: exposures, conversions and orders in batches, acknowledged after commit.

Exposures also feed the first-exposure maps that keep assignment sticky: an exposure of
a user the service already knows (assigned here, or ingested before) to the variant it
knows is not sent to the writer - a user's first exposure is the one stored - and the
other users enter the map when the batch is queued (and leave it again if the batch is
not stored), so the map and the ``exposures`` table agree on every user's variant. An
exposure to *another* variant than the known one (or a second variant of a new user in
the batch) is sent on, so the writer keeps it as evidence in ``exposure_conflicts``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError

from promolab.service.auth import Principal, sdk_key
from promolab.service.body import JsonRoute, is_json, parse_request
from promolab.service.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from promolab.service.schemas import (MAX_FUTURE, MIN_TS_NAIVE, EventBatch, IngestResponse, check_ts,
                                      derived_id, utc_naive)
from promolab.store.exposures import context_json
from promolab.service.writer import EVENT_SCHEMA, EXPOSURE_SCHEMA, Overloaded, WriterStopped


class EventsRoute(JsonRoute):
    """The service's route, with the body validated by pydantic-core straight from the JSON bytes.

    ``EventBatch.model_validate_json`` parses and validates in Rust. On success the batch
    is left where FastAPI looks for the parsed JSON body (``Request.json()``'s cache), so
    FastAPI runs exactly as before (content-type check, dependencies such as the key
    check, then the body parameter), and the already-valid model passes its validation as
    is. On any failure the body is parsed by the service's one parser
    (``body.parse_json``: a body that is not JSON text is refused there) and FastAPI
    validates that document, so bad input gets the same errors as on every route; the
    OpenAPI document is FastAPI's.
    """

    def get_route_handler(self):
        handler = APIRoute.get_route_handler(self)

        async def fast_handler(request: Request):
            if is_json(request.headers.get("content-type")):
                body = await request.body()
                if body:
                    try:
                        request._json = EventBatch.model_validate_json(body)
                    except ValidationError:
                        await parse_request(request)
            return await handler(request)

        return fast_handler


router = APIRouter(prefix="/v1", tags=["events"], route_class=EventsRoute)

RESPONSES = {
    **ERROR_RESPONSES,
    404: {"model": ErrorResponse, "description": "An exposure names an unknown experiment."},
    409: {"model": ErrorResponse, "description": "An exposure to a draft or stopped experiment."},
    503: {"model": ErrorResponse, "description": "The writer is overloaded or stopping: retry the same batch."},
}


def build_tables(batch: EventBatch, catalog, sticky=None,
                 fresh: list | None = None) -> tuple[pa.Table | None, pa.Table | None]:
    """Arrow tables for the writer; raise ApiError naming the first bad event.

    With ``sticky`` (the first-exposure maps), exposures of users already in a map to
    their known variant are left out, one row per (experiment, user, variant) is kept
    (the earliest), and ``fresh`` receives (map, user, variant index of the earliest
    exposure, as the writer's INSERT keeps) for the users not in a map.

    Columnar: one pass collects the columns (times as given), pyarrow converts the
    times to naive UTC and checks their range for the whole batch at once. A batch
    with any problem is handed to :func:`_build_tables_checked`, which checks event by
    event and raises the error for the first bad one."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    src = batch.source
    ev_id, ev_user, ev_name, ev_value, ev_ts = [], [], [], [], []
    x_key, x_user, x_var, x_ts, x_prop, x_ctx = [], [], [], [], [], []
    statuses, experiments = catalog.statuses, catalog.experiments
    for e in batch.events:
        kind = e.type
        if kind == "order":
            ts = e.ts
            ev_id.append(e.event_id), ev_user.append(e.user_id), ev_name.append("order")
            ev_value.append(e.revenue), ev_ts.append(ts)
            if e.discount_cost > 0:
                ev_id.append(derived_id("discount_cost", e.event_id)), ev_user.append(e.user_id)
                ev_name.append("discount_cost"), ev_value.append(e.discount_cost), ev_ts.append(ts)
        elif kind == "conversion":
            ev_id.append(e.event_id), ev_user.append(e.user_id), ev_name.append(e.name)
            ev_value.append(e.value), ev_ts.append(e.ts)
        else:
            status = statuses.get(e.experiment)
            if status is None or status in ("draft", "stopped") or e.variant not in experiments[e.experiment].variant_keys:
                return _build_tables_checked(batch, catalog, sticky, fresh)
            x_key.append(e.experiment), x_user.append(e.user_id), x_var.append(e.variant), x_ts.append(e.ts)
            x_prop.append(e.propensity), x_ctx.append(context_json(e.context))
    now_us = pa.scalar(now, pa.timestamp("us"))
    # aware times → UTC, naive taken as UTC (as utc_naive); no time → now
    ev_times = pa.array(ev_ts, pa.timestamp("us")).fill_null(now_us) if ev_id else None
    x_times = pa.array(x_ts, pa.timestamp("us")).fill_null(now_us) if x_key else None
    for times in (ev_times, x_times):
        if times is not None:
            lo_hi = pc.min_max(times)
            if lo_hi["min"].as_py() < MIN_TS_NAIVE or lo_hi["max"].as_py() > now + MAX_FUTURE:
                return _build_tables_checked(batch, catalog, sticky, fresh)
    if x_key and sticky is not None:
        x_key, x_user, x_var, x_list, x_prop, x_ctx = _first_exposures(
            x_key, x_user, x_var, x_times.to_pylist(), x_prop, x_ctx, catalog, sticky, fresh)
        x_times = pa.array(x_list, pa.timestamp("us"))
    events = exposures = None
    if ev_id:
        events = pa.table({"source": pa.array([src] * len(ev_id), pa.string()), "event_id": ev_id, "user_id": ev_user,
                           "event": ev_name, "value": pa.array(ev_value, pa.float64()),
                           "ts": ev_times}, schema=EVENT_SCHEMA)
    if x_key:
        exposures = pa.table({"experiment_key": x_key, "user_id": x_user, "variant": x_var, "ts": x_times,
                              "source": pa.array([src] * len(x_key), pa.string()),
                              "propensity": pa.array(x_prop, pa.float64()),
                              "context_json": pa.array(x_ctx, pa.string())}, schema=EXPOSURE_SCHEMA)
    return events, exposures


def _build_tables_checked(batch: EventBatch, catalog, sticky=None,
                 fresh: list | None = None) -> tuple[pa.Table | None, pa.Table | None]:
    """As :func:`build_tables`, event by event; raises ApiError naming the first bad event.

    With ``sticky`` (the first-exposure maps), exposures of users already in a map to
    their known variant are left out, one row per (experiment, user, variant) is kept
    (the earliest), and ``fresh`` receives (map, user, variant index of the earliest
    exposure, as the writer's INSERT keeps) for the users not in a map."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    src = batch.source
    ev_id, ev_user, ev_name, ev_value, ev_ts = [], [], [], [], []
    x_key, x_user, x_var, x_ts, x_prop, x_ctx = [], [], [], [], [], []
    for i, e in enumerate(batch.events):
        if e.ts is None:
            ts = now
        else:
            ts = utc_naive(e.ts)
            problem = check_ts(ts, now)
            if problem is not None:
                raise ApiError(422, "invalid_input", f"events[{i}].ts: got {e.ts.isoformat()!r}, expected {problem}",
                               f"events[{i}].ts", e.ts.isoformat(), problem)
        if e.type == "order":
            ev_id.append(e.event_id), ev_user.append(e.user_id), ev_name.append("order")
            ev_value.append(e.revenue), ev_ts.append(ts)
            if e.discount_cost > 0:
                ev_id.append(derived_id("discount_cost", e.event_id)), ev_user.append(e.user_id)
                ev_name.append("discount_cost"), ev_value.append(e.discount_cost), ev_ts.append(ts)
        elif e.type == "conversion":
            ev_id.append(e.event_id), ev_user.append(e.user_id), ev_name.append(e.name)
            ev_value.append(e.value), ev_ts.append(ts)
        else:
            status = catalog.statuses.get(e.experiment)
            if status is None:
                raise ApiError(404, "not_found", f"events[{i}].experiment: no experiment {e.experiment!r}",
                               f"events[{i}].experiment", e.experiment, "the key of an existing experiment")
            if status == "draft":
                raise ApiError(409, "conflict", f"events[{i}].experiment: {e.experiment} is a draft; launch it first",
                               f"events[{i}].experiment", e.experiment, "a launched experiment")
            if status == "stopped":  # the registry's rule too (Registry.record_exposures)
                raise ApiError(409, "conflict", f"events[{i}].experiment: {e.experiment} is stopped; exposures of a "
                               "stopped experiment are not recorded", f"events[{i}].experiment", e.experiment,
                               "a running or paused experiment")
            variants = catalog.experiments[e.experiment].variant_keys
            if e.variant not in variants:
                raise ApiError(422, "invalid_input", f"events[{i}].variant: got {e.variant!r}",
                               f"events[{i}].variant", e.variant, "one of " + ", ".join(variants))
            x_key.append(e.experiment), x_user.append(e.user_id), x_var.append(e.variant), x_ts.append(ts)
            x_prop.append(e.propensity), x_ctx.append(context_json(e.context))
    if x_key and sticky is not None:
        x_key, x_user, x_var, x_ts, x_prop, x_ctx = _first_exposures(x_key, x_user, x_var, x_ts, x_prop, x_ctx,
                                                                     catalog, sticky, fresh)
    events = exposures = None
    if ev_id:
        events = pa.table({"source": pa.array([src] * len(ev_id), pa.string()), "event_id": ev_id, "user_id": ev_user,
                           "event": ev_name, "value": pa.array(ev_value, pa.float64()),
                           "ts": pa.array(ev_ts, pa.timestamp("us"))}, schema=EVENT_SCHEMA)
    if x_key:
        exposures = pa.table({"experiment_key": x_key, "user_id": x_user, "variant": x_var,
                              "ts": pa.array(x_ts, pa.timestamp("us")),
                              "source": pa.array([src] * len(x_key), pa.string()),
                              "propensity": pa.array(x_prop, pa.float64()),
                              "context_json": pa.array(x_ctx, pa.string())}, schema=EXPOSURE_SCHEMA)
    return events, exposures


def _first_exposures(keys, users, variants, times, propensities, contexts, catalog, sticky, fresh):
    # the earliest row per (experiment, user, variant); a user's first exposure is the
    # earliest by (time, variant key), as the writer's arg_min(variant, (ts, variant))
    first: dict[tuple[str, str, str], int] = {}
    for i, kuv in enumerate(zip(keys, users, variants)):
        j = first.get(kuv)
        if j is None or times[i] < times[j]:
            first[kuv] = i
    kept = []
    new: dict[tuple[str, str], int] = {}  # users not in a map: the row of their first exposure
    for (k, u, v), i in first.items():
        m = sticky.get(k)
        if m is None:
            kept.append(i)
            continue
        known = m.get(u)
        if known is None:
            kept.append(i)
            j = new.get((k, u))
            if j is None or (times[i], v) < (times[j], variants[j]):
                new[(k, u)] = i
        elif catalog.experiments[k].variant_keys[known] != v:
            kept.append(i)  # another variant than the stored one: evidence for exposure_conflicts
    if fresh is not None:
        for (k, u), i in new.items():
            fresh.append((sticky.get(k), u, catalog.experiments[k].variant_keys.index(variants[i])))
    kept.sort()
    return ([keys[i] for i in kept], [users[i] for i in kept], [variants[i] for i in kept],
            [times[i] for i in kept], [propensities[i] for i in kept], [contexts[i] for i in kept])


@router.post("/events", response_model=IngestResponse, responses=RESPONSES, summary="Ingest a batch of events")
async def ingest(batch: EventBatch, request: Request, _: Principal = Depends(sdk_key)) -> IngestResponse:
    """Up to 10,000 events. The batch is validated whole (one bad event rejects it,
    nothing stored), committed in one transaction, and acknowledged only after the commit.
    Retrying a batch is safe: events are unique on (source, event_id), exposures on
    (experiment, user)."""
    state = request.app.state.service
    fresh: list = []
    events, exposures = build_tables(batch, state.catalog, state.sticky, fresh)
    try:
        future = state.writer.submit(events, exposures)
    except (Overloaded, WriterStopped) as exc:
        raise ApiError(503, "unavailable", f"writer busy ({exc}); retry the same batch", "events",
                       headers={"Retry-After": "1"}) from None
    for m, user_id, index in fresh:  # before any await: assigns from now on see these users
        m.setdefault(user_id, index)
    try:
        written = await asyncio.wrap_future(future)
    except BaseException:
        for m, user_id, _ in fresh:  # not stored: a retry must be able to store them
            m.discard(user_id)
        raise
    rows = (events.num_rows if events is not None else 0)
    return IngestResponse(received=len(batch.events), inserted_events=written.events,
                          inserted_exposures=written.exposures, duplicates=rows - written.events - written.conflicts,
                          conflicts=written.conflicts)
