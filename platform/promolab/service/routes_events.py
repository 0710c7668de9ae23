"""``POST /v1/events``: exposures, conversions and orders in batches, acknowledged after commit."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pyarrow as pa
from fastapi import APIRouter, Depends, Request

from promolab.service.auth import Principal, sdk_key
from promolab.service.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from promolab.service.schemas import EventBatch, IngestResponse, check_ts, utc_naive
from promolab.service.writer import EVENT_SCHEMA, EXPOSURE_SCHEMA, Overloaded, WriterStopped

router = APIRouter(prefix="/v1", tags=["events"])

RESPONSES = {
    **ERROR_RESPONSES,
    404: {"model": ErrorResponse, "description": "An exposure names an unknown experiment."},
    409: {"model": ErrorResponse, "description": "An exposure to a draft experiment."},
    503: {"model": ErrorResponse, "description": "The writer is overloaded or stopping: retry the same batch."},
}


def build_tables(batch: EventBatch, catalog) -> tuple[pa.Table | None, pa.Table | None]:
    """Arrow tables for the writer; raise ApiError naming the first bad exposure."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    src = batch.source
    ev_id, ev_user, ev_name, ev_value, ev_ts = [], [], [], [], []
    x_key, x_user, x_var, x_ts = [], [], [], []
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
                ev_id.append(e.event_id + ":discount_cost"), ev_user.append(e.user_id)
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
            variants = catalog.experiments[e.experiment].variant_keys
            if e.variant not in variants:
                raise ApiError(422, "invalid_input", f"events[{i}].variant: got {e.variant!r}",
                               f"events[{i}].variant", e.variant, "one of " + ", ".join(variants))
            x_key.append(e.experiment), x_user.append(e.user_id), x_var.append(e.variant), x_ts.append(ts)
    events = exposures = None
    if ev_id:
        events = pa.table({"source": pa.array([src] * len(ev_id), pa.string()), "event_id": ev_id, "user_id": ev_user,
                           "event": ev_name, "value": pa.array(ev_value, pa.float64()),
                           "ts": pa.array(ev_ts, pa.timestamp("us"))}, schema=EVENT_SCHEMA)
    if x_key:
        exposures = pa.table({"experiment_key": x_key, "user_id": x_user, "variant": x_var,
                              "ts": pa.array(x_ts, pa.timestamp("us")),
                              "source": pa.array([src] * len(x_key), pa.string())}, schema=EXPOSURE_SCHEMA)
    return events, exposures


@router.post("/events", response_model=IngestResponse, responses=RESPONSES, summary="Ingest a batch of events")
async def ingest(batch: EventBatch, request: Request, _: Principal = Depends(sdk_key)) -> IngestResponse:
    """Up to 10,000 events. The batch is validated whole (one bad event rejects it,
    nothing stored), committed in one transaction, and acknowledged only after the commit.
    Retrying a batch is safe: events are unique on (source, event_id), exposures on
    (experiment, user)."""
    state = request.app.state.service
    events, exposures = build_tables(batch, state.catalog)
    try:
        future = state.writer.submit(events, exposures)
    except (Overloaded, WriterStopped) as exc:
        raise ApiError(503, "unavailable", f"writer busy ({exc}); retry the same batch", "events",
                       headers={"Retry-After": "1"}) from None
    written = await asyncio.wrap_future(future)
    rows = (events.num_rows if events is not None else 0)
    return IngestResponse(received=len(batch.events), inserted_events=written.events,
                          inserted_exposures=written.exposures, duplicates=rows - written.events)
