"""Experiments (admin keys): list, read, create, launch/pause/stop/ramp, reports, bandit weights."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Request

from promolab.analysis import analyze_experiment
from promolab.errors import InputError, PromolabError
from promolab.jsonable import to_plain
from promolab.service.auth import Principal, admin_key
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
from promolab.spec import experiment_from_dict, experiment_to_dict

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

Key = Path(description="Experiment key.", max_length=64)


def _existing(request: Request, key: str):
    state = request.app.state.service
    if key not in state.catalog.statuses:
        raise not_found("key", key)
    return state


def _detail(state, key: str) -> dict[str, Any]:
    reg = state.registry
    return {"status": reg.status(key), "spec": experiment_to_dict(reg.get_experiment(key)),
            "history": [dataclasses.asdict(h) for h in reg.status_history(key)]}


def report_json(report) -> dict[str, Any]:
    """Exactly what ``promolab report --json`` prints (NaN/inf as null)."""
    return to_plain(report.to_dict())


@router.get("", response_model=list[ExperimentSummaryOut], responses=ADMIN_RESPONSES, summary="List experiments")
def list_experiments(request: Request, _: Principal = Depends(admin_key)):
    return [dataclasses.asdict(s) for s in request.app.state.service.registry.list_experiments()]


@router.post("", status_code=201, response_model=ExperimentOut,
             responses={**ADMIN_RESPONSES, 409: {"model": ErrorResponse, "description": "Key already used."}},
             summary="Create an experiment (draft) from a spec")
def create_experiment(request: Request, spec: dict[str, Any] = Body(..., description=(
        "The experiment spec as JSON: the same fields as an experiments/*.toml file.")),
        principal: Principal = Depends(admin_key)):
    state = request.app.state.service
    try:
        experiment = experiment_from_dict(spec, source="spec")
    except PromolabError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a shape the spec loader did not expect
        raise InputError("spec", type(exc).__name__, f"a valid experiment spec ({exc})") from None
    if experiment.key in state.catalog.statuses:
        raise ApiError(409, "conflict", f"key: {experiment.key!r} is already registered", "key", experiment.key,
                       "a key not already in the registry")
    state.registry.create_experiment(experiment, by=principal.by)
    state.refresh()
    return _detail(state, experiment.key)


@router.get("/{key}", response_model=ExperimentOut, responses=EXPERIMENT_RESPONSES, summary="One experiment")
def get_experiment(request: Request, key: str = Key, _: Principal = Depends(admin_key)):
    return _detail(_existing(request, key), key)


@router.get("/{key}/report", response_model=dict[str, Any], responses=EXPERIMENT_RESPONSES,
            summary="Significance report (the JSON of `promolab report --json`)")
def get_report(request: Request, key: str = Key, _: Principal = Depends(admin_key)):
    state = _existing(request, key)
    try:
        report = analyze_experiment(state.registry, key)
    except InputError as exc:  # not enough data yet (no exposures, a variant with < 2 users, ...)
        raise ApiError(409, "conflict", str(exc), exc.field, exc.value, exc.expected) from None
    return report_json(report)


def _transition(request: Request, key: str, to: str, change: Change | None, principal: Principal):
    state = _existing(request, key)
    state.registry.set_status(key, to, by=principal.by, reason=change.reason if change else "")
    state.refresh()
    return _status(state, key)


def _status(state, key: str) -> dict[str, Any]:
    exp = state.registry.get_experiment(key)
    return {"key": key, "status": state.registry.status(key), "traffic_percent": round(exp.coverage * 100, 10)}


@router.post("/{key}/launch", response_model=StatusOut, responses=EXPERIMENT_RESPONSES,
             summary="Launch (or resume) an experiment")
def launch(request: Request, key: str = Key, change: Change | None = Body(None),
           principal: Principal = Depends(admin_key)):
    return _transition(request, key, "running", change, principal)


@router.post("/{key}/pause", response_model=StatusOut, responses=EXPERIMENT_RESPONSES, summary="Pause")
def pause(request: Request, key: str = Key, change: Change | None = Body(None),
          principal: Principal = Depends(admin_key)):
    return _transition(request, key, "paused", change, principal)


@router.post("/{key}/stop", response_model=StatusOut, responses=EXPERIMENT_RESPONSES, summary="Stop (final)")
def stop(request: Request, key: str = Key, change: Change | None = Body(None),
         principal: Principal = Depends(admin_key)):
    return _transition(request, key, "stopped", change, principal)


@router.post("/{key}/ramp", response_model=StatusOut, responses=EXPERIMENT_RESPONSES,
             summary="Change traffic coverage")
def ramp(request: Request, body: RampRequest, key: str = Key, principal: Principal = Depends(admin_key)):
    state = _existing(request, key)
    state.registry.ramp(key, body.traffic_percent, by=principal.by, reason=body.reason)
    state.refresh()
    return _status(state, key)


def _weights(state, key: str) -> dict[str, Any]:
    history = state.registry.weight_history(key)
    return {"key": key, "current": state.registry.current_weights(key),
            "history": [{"updated_at": r.updated_at.to_pydatetime(), "variant_key": r.variant_key,
                         "weight": float(r.weight), "policy": r.policy, "reason": r.reason}
                        for r in history.itertuples()]}


@router.get("/{key}/weights", response_model=WeightsOut, responses=EXPERIMENT_RESPONSES,
            summary="Current weights and weight history")
def weights(request: Request, key: str = Key, _: Principal = Depends(admin_key)):
    return _weights(_existing(request, key), key)


@router.post("/{key}/bandit-update", response_model=WeightsOut,
             responses={**EXPERIMENT_RESPONSES,
                        503: {"model": ErrorResponse, "description": "No bandit update function installed."}},
             summary="Update a running bandit's weights now")
def bandit_update(request: Request, key: str = Key, principal: Principal = Depends(admin_key)):
    state = _existing(request, key)
    try:
        update_one(state, key, reason=f"manual update by {principal.by}")
    except UpdateUnavailable as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
    return _weights(state, key)
