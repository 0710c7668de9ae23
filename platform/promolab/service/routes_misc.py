"""Client config (SDK keys), API keys (admin), health and readiness (no key)."""

from __future__ import annotations

import dataclasses
import os

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from promolab.errors import StateError
from promolab.service.auth import Principal, admin_key, sdk_key
from promolab.service.body import JsonRoute
from promolab.service.errors import ADMIN_RESPONSES, ERROR_RESPONSES, ErrorResponse, detail, error_response
from promolab.service.schemas import ConfigOut, Health, KeyCreate, KeyCreated, KeyOut
from promolab.store.keys import create_key, list_keys, revoke_key

router = APIRouter(route_class=JsonRoute)


@router.get("/v1/config", response_model=ConfigOut, tags=["client"], summary="Running experiments for local evaluation",
            responses={**ERROR_RESPONSES, 304: {"description": "Unchanged since the ETag sent in If-None-Match."}})
async def config(request: Request, if_none_match: str | None = Header(None), _: Principal = Depends(sdk_key)):
    """Every running experiment's spec and current bandit weights (null: the spec's
    weights). Send the ``ETag`` back as ``If-None-Match`` to get 304 when unchanged."""
    catalog = request.app.state.service.catalog
    headers = {"ETag": catalog.etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and catalog.etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(catalog.body, media_type="application/json", headers=headers)


@router.get("/v1/keys", response_model=list[KeyOut], tags=["keys"], responses=ADMIN_RESPONSES, summary="List API keys")
def keys(request: Request, _: Principal = Depends(admin_key)):
    return [dataclasses.asdict(k) for k in list_keys(request.app.state.service.registry)]


@router.post("/v1/keys", status_code=201, response_model=KeyCreated, tags=["keys"],
             responses={**ADMIN_RESPONSES, 201: {"links": {"RevokeKey": {
                 "operationRef": "#/paths/~1v1~1keys~1{key_id}/delete",
                 "parameters": {"path.key_id": "$response.body#/key_id"}}}}},
             summary="Create an API key (shown once)")
def new_key(request: Request, body: KeyCreate, _: Principal = Depends(admin_key)):
    state = request.app.state.service
    with state.locked():
        token, record = create_key(state.registry, body.kind, body.name)
        state.keys.reload()
    return {**dataclasses.asdict(record), "key": token}


@router.delete("/v1/keys/{key_id}", status_code=204, tags=["keys"],
               responses={**ADMIN_RESPONSES, 404: {"model": ErrorResponse, "description": "No such key."},
                          409: {"model": ErrorResponse, "description": "The last active admin key."}},
               summary="Revoke an API key")
def delete_key(request: Request, key_id: str = Path(max_length=64), _: Principal = Depends(admin_key)):
    """Requests with the key get 401 from now on. The last active admin key cannot be
    revoked (409): create another admin key first, so the service always keeps one."""
    state = request.app.state.service
    with state.locked():  # check and revoke as one: two admins cannot revoke each other at once
        active = {k.key_id: k.kind for k in list_keys(state.registry) if k.revoked_at is None}
        if key_id not in active:
            return error_response(404, detail("not_found", "key_id: no active key with this id", "key_id", key_id,
                                              "the id of an active key (GET /v1/keys)"))
        try:
            revoke_key(state.registry, key_id)  # refuses the last active admin key
        except StateError as exc:
            return error_response(409, detail("conflict", str(exc), "key_id", key_id,
                                              "an SDK key, or an admin key while another admin key is active"))
        state.keys.reload()
    return Response(status_code=204)


@router.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
async def healthz():
    return {"status": "ok"}


@router.get("/readyz", response_model=Health, tags=["health"], summary="Readiness: database and writer",
            responses={503: {"model": ErrorResponse, "description": "Not ready."}})
def readyz(request: Request, response: Response):
    """Ready when the registry file opens and the writer runs; ``X-Promolab-Pid`` names the
    process that answered (several serve one port with ``serve --workers N``)."""
    response.headers["X-Promolab-Pid"] = str(os.getpid())
    state = request.app.state.service
    try:
        state.registry.query("SELECT 1")
        ok = state.writer.alive
    except Exception:
        ok = False
    if not ok:
        return error_response(503, detail("unavailable", "not ready"))
    return {"status": "ready"}
