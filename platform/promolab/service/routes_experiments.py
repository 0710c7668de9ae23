"""Experiments (admin keys): list, read, create, launch/pause/stop/ramp, reports, bandit weights."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from promolab.errors import InputError, PromolabError
from promolab.service.auth import Principal, admin_key
from promolab.service.body import JsonRoute
from promolab.service.errors import ADMIN_RESPONSES, EXPERIMENT_RESPONSES, ApiError, ErrorResponse, not_found
from promolab.service.scheduler import UpdateUnavailable, update_one
from promolab.service.schemas import (
    Change,
    ExperimentOut,
    ExperimentSummaryOut,
    RampRequest,
    StatusOut,
    WeightsOut,
)
from promolab.service.state import Entry, NotServable, serve
from promolab.spec import experiment_from_dict, experiment_to_dict
from promolab.store.registry import TRANSITIONS

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=JsonRoute)

Key = Path(description="Experiment key.", max_length=64)

# OpenAPI links: a response naming an experiment leads to the routes that take its key
# (clients and stateful API testers such as schemathesis follow them).
_KEYED = {
    "GetExperiment": ("/v1/experiments/{key}", "get"),
    "GetReport": ("/v1/experiments/{key}/report", "get"),
    "GetWeights": ("/v1/experiments/{key}/weights", "get"),
    "Launch": ("/v1/experiments/{key}/launch", "post"),
    "Pause": ("/v1/experiments/{key}/pause", "post"),
    "Stop": ("/v1/experiments/{key}/stop", "post"),
    "Ramp": ("/v1/experiments/{key}/ramp", "post"),
    "BanditUpdate": ("/v1/experiments/{key}/bandit-update", "post"),
}
_ASSIGNING = {"Assign": "/v1/assign", "AssignBatch": "/v1/assign/batch"}


def _ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _links(expression: str) -> dict[str, Any]:
    links: dict[str, Any] = {name: {"operationRef": _ref(path, method), "parameters": {"path.key": expression}}
                             for name, (path, method) in _KEYED.items()}
    for name, path in _ASSIGNING.items():
        links[name] = {"operationRef": _ref(path, "post"), "requestBody": {"experiment": expression}}
    return links


def _linked(status: int, expression: str, responses: dict) -> dict:
    """``responses`` plus the links of the success response ``status``."""
    return {**responses, status: {"links": _links(expression)}}


BY_SPEC, BY_KEY = "$response.body#/spec/key", "$response.body#/key"


def _existing(request: Request, key: str):
    state = request.app.state.service
    if key not in state.catalog.statuses:
        raise not_found("key", key)
    return state


def _detail(state, key: str) -> dict[str, Any]:
    reg = state.registry
    return {"status": reg.status(key), "spec": experiment_to_dict(reg.get_experiment(key)),
            "history": [dataclasses.asdict(h) for h in reg.status_history(key)]}


@router.get("", response_model=list[ExperimentSummaryOut], responses=ADMIN_RESPONSES, summary="List experiments")
def list_experiments(request: Request, _: Principal = Depends(admin_key)):
    return [dataclasses.asdict(s) for s in request.app.state.service.registry.list_experiments()]


@router.post("", status_code=201, response_model=ExperimentOut,
             responses=_linked(201, BY_SPEC, {**ADMIN_RESPONSES,
                                              409: {"model": ErrorResponse, "description": "Key already used."}}),
             summary="Create an experiment (draft) from a spec")
def create_experiment(request: Request, spec: dict[str, Any] = Body(..., description=(
        "The experiment spec as JSON: the same fields as an experiments/*.toml file.")),
        principal: Principal = Depends(admin_key)):
    state = request.app.state.service
    try:
        experiment = experiment_from_dict(spec, source="spec")
    except PromolabError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError, RecursionError) as exc:
        # a shape the spec loader did not expect
        raise InputError("spec", type(exc).__name__, f"a valid experiment spec ({exc})") from None
    if experiment.key in state.catalog.statuses:
        raise ApiError(409, "conflict", f"key: {experiment.key!r} is already registered", "key", experiment.key,
                       "a key not already in the registry")
    try:
        serve(experiment, None)  # launching it must be possible: what it would serve is valid
    except NotServable as exc:
        raise ApiError(422, "invalid_spec", f"spec: {exc.reason}", exc.field or "spec", exc.value,
                       exc.expected or "a spec the service can serve") from None

    def add(entries):
        entries[experiment.key] = Entry("draft", experiment)

    state.change(experiment.key, add, lambda: state.registry.create_experiment(experiment, by=principal.by))
    return _detail(state, experiment.key)


@router.get("/{key}", response_model=ExperimentOut, responses=_linked(200, BY_SPEC, EXPERIMENT_RESPONSES),
            summary="One experiment")
def get_experiment(request: Request, key: str = Key, _: Principal = Depends(admin_key)):
    return _detail(_existing(request, key), key)


@router.get("/{key}/report", response_model=dict[str, Any],
            responses={**EXPERIMENT_RESPONSES,
                       503: {"model": ErrorResponse, "description": "Too many reports waiting, or shutting down: retry."},
                       504: {"model": ErrorResponse, "description": "Not ready within the report time limit."}},
            summary="Significance report (the JSON of `promolab report --json`)")
async def get_report(request: Request, key: str = Key, _: Principal = Depends(admin_key),
                     over_time: Literal["day", "hour"] | None = Query(
                         None, description="Instead of the report: its effects per day or hour of first exposure "
                                           "(the JSON of `promolab report KEY --over-time --period P --json`).")):
    """Computed in the report worker process, which reads the registry itself, within the
    server's report time limit (``promolab serve --report-timeout``, default 30 s: past
    it, 504); cancelled when the client disconnects. 409 while there is not enough data."""
    state = _existing(request, key)
    body = await state.reports.report(key, lambda: _client_gone(request), over_time)
    return Response(body, media_type="application/json")  # the worker's JSON, as it wrote it


async def _client_gone(request: Request) -> None:
    """Returns when the client has disconnected (the request has no body left to read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _transition(request: Request, key: str, to: str, change: Change | None, principal: Principal):
    state = _existing(request, key)
    registry = state.registry

    def move(entries):
        e = entries.get(key)
        if e is None or to not in TRANSITIONS.get(e.status, ()):
            return  # the store refuses it (404/409), nothing written
        weights, model = e.weights, e.model
        if to == "running" and e.experiment.kind == "bandit":
            weights = registry.current_weights(key)
        if to == "running" and e.experiment.kind == "contextual":
            current = registry.current_model(key)
            model = current and current[1]
        running = to == "running"
        entries[key] = replace(e, status=to, weights=weights if running else None, model=model if running else None)

    state.change(key, move, lambda: registry.set_status(key, to, by=principal.by,
                                                        reason=change.reason if change else ""))
    return _status(state, key)


def _status(state, key: str) -> dict[str, Any]:
    exp = state.registry.get_experiment(key)
    return {"key": key, "status": state.registry.status(key), "traffic_percent": round(exp.coverage * 100, 10)}


@router.post("/{key}/launch", response_model=StatusOut, responses=_linked(200, BY_KEY, EXPERIMENT_RESPONSES),
             summary="Launch (or resume) an experiment")
def launch(request: Request, key: str = Key, change: Change | None = Body(None),
           principal: Principal = Depends(admin_key)):
    return _transition(request, key, "running", change, principal)


@router.post("/{key}/pause", response_model=StatusOut, responses=_linked(200, BY_KEY, EXPERIMENT_RESPONSES),
             summary="Pause")
def pause(request: Request, key: str = Key, change: Change | None = Body(None),
          principal: Principal = Depends(admin_key)):
    return _transition(request, key, "paused", change, principal)


@router.post("/{key}/stop", response_model=StatusOut, responses=_linked(200, BY_KEY, EXPERIMENT_RESPONSES),
             summary="Stop (final)")
def stop(request: Request, key: str = Key, change: Change | None = Body(None),
         principal: Principal = Depends(admin_key)):
    return _transition(request, key, "stopped", change, principal)


@router.post("/{key}/ramp", response_model=StatusOut, responses=_linked(200, BY_KEY, EXPERIMENT_RESPONSES),
             summary="Change traffic coverage")
def ramp(request: Request, body: RampRequest, key: str = Key, principal: Principal = Depends(admin_key)):
    state = _existing(request, key)
    percent = body.traffic_percent

    def ramp_to(entries):
        e = entries.get(key)
        if e is not None and e.status != "stopped":  # a stopped one: the store refuses it (409)
            entries[key] = replace(e, experiment=replace(e.experiment, coverage=percent / 100.0))

    state.change(key, ramp_to, lambda: state.registry.ramp(key, percent, by=principal.by, reason=body.reason))
    return _status(state, key)


def _weights(state, key: str) -> dict[str, Any]:
    history = state.registry.weight_history(key)
    return {"key": key, "current": state.registry.current_weights(key),
            "history": [{"updated_at": r.updated_at.to_pydatetime(), "variant_key": r.variant_key,
                         "weight": float(r.weight), "policy": r.policy, "reason": r.reason}
                        for r in history.itertuples()]}


@router.get("/{key}/weights", response_model=WeightsOut, responses=_linked(200, BY_KEY, EXPERIMENT_RESPONSES),
            summary="Current weights and weight history")
def weights(request: Request, key: str = Key, _: Principal = Depends(admin_key)):
    return _weights(_existing(request, key), key)


@router.post("/{key}/bandit-update", response_model=WeightsOut,
             responses=_linked(200, BY_KEY, {
                 **EXPERIMENT_RESPONSES,
                 503: {"model": ErrorResponse, "description": "No bandit update function installed."}}),
             summary="Update a running bandit's weights now")
def bandit_update(request: Request, key: str = Key, principal: Principal = Depends(admin_key)):
    state = _existing(request, key)
    try:
        update_one(state, key, reason=f"manual update by {principal.by}")
    except UpdateUnavailable as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
    return _weights(state, key)
