"""``POST /v1/assign`` and ``POST /v1/assign/batch``: which variant each user sees.

Assignment runs in memory (a pure function of the cached running experiments), single
requests are micro-batched on the event loop, and the exposures are handed to the writer
without waiting for their commit, so an assign never waits on the database.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request, Response

from promolab.errors import InputError
from promolab.service.auth import Principal, sdk_key
from promolab.service.batcher import evaluate_items, record_exposures
from promolab.service.errors import ERROR_RESPONSES, ErrorResponse, not_found
from promolab.service.schemas import AssignBatchRequest, AssignBatchResponse, AssignRequest, AssignResponse

router = APIRouter(prefix="/v1", tags=["assign"])

RESPONSES = {**ERROR_RESPONSES, 404: {"model": ErrorResponse, "description": "No such experiment."}}


def _payloads(catalog, user_id: str, result) -> dict:
    return {"user_id": user_id, "assignments": [
        {"experiment": key, "variant": catalog.experiments[key].variants[i].key, "payload": catalog.payloads[key][i]}
        for key, i in result
    ]}


def _attr_error(exc: InputError, prefix: str) -> InputError:
    field = exc.field.replace("targeting.", "attributes.", 1) if exc.field.startswith("targeting.") else exc.field
    return InputError(f"{prefix}{field}", exc.value, exc.expected)


@router.post("/assign", response_model=AssignResponse, responses=RESPONSES, summary="Assign one user")
async def assign(body: AssignRequest, request: Request, _: Principal = Depends(sdk_key)) -> Response:
    """The user's variant and payload in one experiment or every running one.

    Users outside an experiment (coverage, layer, targeting) or experiments not running
    get no entry in ``assignments``: serve the default experience.
    """
    state = request.app.state.service
    catalog = state.catalog
    if body.experiment is not None and body.experiment not in catalog.statuses:
        raise not_found("experiment", body.experiment)
    try:
        result = await state.batcher.assign(body.user_id, body.attributes, body.experiment, body.track)
    except InputError as exc:
        raise _attr_error(exc, "") from None
    return Response(json.dumps(_payloads(catalog, body.user_id, result)), media_type="application/json")


@router.post("/assign/batch", response_model=AssignBatchResponse, responses=RESPONSES,
             summary="Assign a batch of users")
async def assign_batch(body: AssignBatchRequest, request: Request, _: Principal = Depends(sdk_key)) -> Response:
    """Up to 1,000 users at once, each as ``POST /v1/assign`` would answer."""
    state = request.app.state.service
    catalog = state.catalog
    if body.experiment is not None and body.experiment not in catalog.statuses:
        raise not_found("experiment", body.experiment)
    results = evaluate_items(state, [(u.user_id, u.attributes, body.experiment) for u in body.users])
    for i, res in enumerate(results):
        if isinstance(res, InputError):
            raise _attr_error(res, f"users[{i}].")
    if body.track:
        record_exposures(state, [(u.user_id, res) for u, res in zip(body.users, results)])
    out = {"results": [_payloads(catalog, u.user_id, res) for u, res in zip(body.users, results)]}
    return Response(json.dumps(out), media_type="application/json")
