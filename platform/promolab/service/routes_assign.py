"""``POST /v1/assign`` and ``POST /v1/assign/batch``: which variant each user sees.

Assignment runs in memory: a user's first-exposure variant if they have one, else the
hash into the cached running experiments' current weights (``promolab.service.assigner``);
exposures are buffered for the writer without waiting for their commit, so an assign
never waits on the database.

``POST /v1/assign`` is normally answered by the lean ASGI path in
``promolab.service.fastpath`` (same answers, no FastAPI/pydantic per request); the route
below documents it in the OpenAPI schema and answers every request the lean path hands
over (anything it does not accept as plainly valid, so errors are FastAPI's own).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request, Response

from promolab.errors import InputError
from promolab.service.auth import Principal, sdk_key
from promolab.service.body import JsonRoute
from promolab.service.assigner import assign_user, assign_users
from promolab.service.errors import ERROR_RESPONSES, ErrorResponse, not_found
from promolab.service.schemas import AssignBatchRequest, AssignBatchResponse, AssignRequest, AssignResponse

router = APIRouter(prefix="/v1", tags=["assign"], route_class=JsonRoute)
RESPONSES = {**ERROR_RESPONSES, 404: {"model": ErrorResponse, "description": "No such experiment."}}



def response_body(catalog, user_id: str, result) -> bytes:
    """The JSON of one user's answer, from the catalog's pre-encoded assignment entries."""
    fragments = catalog.fragments
    return b"".join((b'{"user_id":', json.dumps(user_id).encode(), b',"assignments":[',
                     b",".join(fragments[key][i] for key, i in result), b"]}"))


def _attr_error(exc: InputError, prefix: str) -> InputError:
    """A targeting rule's or a contextual policy's complaint about the user, named as the request field."""
    field = exc.field
    for origin in ("targeting.", "context."):
        if field.startswith(origin):
            field = "attributes." + field[len(origin):]
    return InputError(f"{prefix}{field}", exc.value, exc.expected)


@router.post("/assign", response_model=AssignResponse, responses=RESPONSES, summary="Assign one user")
async def assign(body: AssignRequest, request: Request, _: Principal = Depends(sdk_key)) -> Response:
    """The user's variant and payload in one experiment or every running one.

    Users outside an experiment (coverage, layer, targeting) and drafts or stopped
    experiments get no entry in ``assignments``: serve the default experience. A paused
    experiment (by a person, or by promolab's auto-pause) gives everyone its control, marked
    ``"paused": true``, and records no exposure.
    """
    state = request.app.state.service
    catalog = state.catalog
    if body.experiment is not None and body.experiment not in catalog.statuses:
        raise not_found("experiment", body.experiment)
    try:
        result = assign_user(state, catalog, body.user_id, body.attributes, body.experiment, body.track)
    except InputError as exc:
        raise _attr_error(exc, "") from None
    return Response(response_body(catalog, body.user_id, result), media_type="application/json")


@router.post("/assign/batch", response_model=AssignBatchResponse, responses=RESPONSES,
             summary="Assign a batch of users")
async def assign_batch(body: AssignBatchRequest, request: Request, _: Principal = Depends(sdk_key)) -> Response:
    """Up to 1,000 users at once, each as ``POST /v1/assign`` would answer."""
    state = request.app.state.service
    catalog = state.catalog
    if body.experiment is not None and body.experiment not in catalog.statuses:
        raise not_found("experiment", body.experiment)
    results = assign_users(state, catalog, [(u.user_id, u.attributes) for u in body.users], body.experiment,
                           body.track)
    for i, res in enumerate(results):
        if isinstance(res, InputError):
            raise _attr_error(res, f"users[{i}].")
    body_out = b'{"results":[' + b",".join(response_body(catalog, u.user_id, res)
                                          for u, res in zip(body.users, results)) + b"]}"
    return Response(body_out, media_type="application/json")
