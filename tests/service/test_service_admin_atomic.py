"""Admin routes validate the whole new state first, then write it in one transaction.

Whatever the service needs to serve ``/v1/config`` and ``/v1/assign`` for the new state is
built before anything is written; a change the service could not serve is refused with a
4xx and leaves the registry, the served config and assignment exactly as they were.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from promolab.errors import InputError
from promolab.service import create_app

from .conftest import SIMPLE_SPEC, bearer, spec


def _raw_spec(**changes) -> bytes:
    return json.dumps(spec(SIMPLE_SPEC, **changes)).encode()


def _history(client, key: str) -> list:
    reg = client.app.state.service.registry
    return [(h.from_status, h.to_status, h.coverage) for h in reg.status_history(key)]


def _served(client, keys) -> tuple[int, str, str]:
    r = client.get("/v1/config", headers=bearer(keys["sdk"]))
    return r.status_code, r.headers.get("etag"), r.text


@pytest.fixture
def unservable(monkeypatch):
    """Keys whose experiments the service cannot compile for assignment (as if their stored
    spec held a weight the assignment code refuses)."""
    import promolab.service.evaluate as evaluate

    broken: set[str] = set()
    real = evaluate.compile_experiment

    def compile_experiment(experiment, weights):
        if experiment.key in broken:
            raise InputError(f"{experiment.key}.variants.weight", "[inf, 1.0]", "finite non-negative numbers")
        return real(experiment, weights)

    monkeypatch.setattr(evaluate, "compile_experiment", compile_experiment)
    return broken


@pytest.mark.parametrize("token", ["1e999", "Infinity", "-Infinity", "NaN"])
def test_create_refuses_a_weight_that_cannot_be_served(client, keys, token):
    body = _raw_spec(key="infw").replace(b'"weight": 1', b'"weight": ' + token.encode(), 1)
    before = _served(client, keys)
    r = client.post("/v1/experiments", content=body,
                    headers={**bearer(keys["admin"]), "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] in ("invalid_spec", "invalid_input")
    assert "weight" in r.json()["error"]["field"]
    assert "infw" not in client.app.state.service.registry.experiment_keys()
    assert client.get("/v1/experiments/infw", headers=bearer(keys["admin"])).status_code == 404
    assert _served(client, keys) == before


def test_launch_of_an_unservable_experiment_changes_nothing(client, keys, unservable):
    unservable.add("draft-ab")
    before = _served(client, keys)
    history = _history(client, "draft-ab")
    r = client.post("/v1/experiments/draft-ab/launch", headers=bearer(keys["admin"]))
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "conflict" and "draft-ab" in err["message"] and "weight" in err["message"]
    reg = client.app.state.service.registry
    assert reg.status("draft-ab") == "draft"
    assert _history(client, "draft-ab") == history
    assert _served(client, keys) == before
    r = client.post("/v1/assign", json={"user_id": "u1", "experiment": "draft-ab"}, headers=bearer(keys["sdk"]))
    assert r.status_code == 200 and r.json()["assignments"] == []
    # fixed (here: the compiler accepts it again), the same launch goes through
    unservable.clear()
    r = client.post("/v1/experiments/draft-ab/launch", headers=bearer(keys["admin"]))
    assert r.status_code == 200 and r.json()["status"] == "running"
    assert reg.status("draft-ab") == "running"
    assert "draft-ab" in [e["spec"]["key"] for e in client.get("/v1/config", headers=bearer(keys["sdk"])).json()[
        "experiments"]]


def test_ramp_of_an_unservable_running_experiment_changes_nothing(client, keys, unservable):
    reg = client.app.state.service.registry
    coverage = reg.get_experiment("checkout-coupon").coverage
    history = _history(client, "checkout-coupon")
    before = _served(client, keys)
    unservable.add("checkout-coupon")
    r = client.post("/v1/experiments/checkout-coupon/ramp", json={"traffic_percent": 80},
                    headers=bearer(keys["admin"]))
    assert r.status_code == 409, r.text
    assert reg.get_experiment("checkout-coupon").coverage == coverage
    assert _history(client, "checkout-coupon") == history
    assert _served(client, keys) == before
    # taking it out of service is always possible, and the rest keeps being served
    r = client.post("/v1/experiments/checkout-coupon/pause", headers=bearer(keys["admin"]))
    assert r.status_code == 200 and reg.status("checkout-coupon") == "paused"
    served = client.get("/v1/config", headers=bearer(keys["sdk"])).json()
    assert [(e["spec"]["key"], e["status"]) for e in served["experiments"]] == [
        ("checkout-coupon", "paused"), ("promo-bandit", "running")]  # paused: control for everyone


def test_a_stored_running_experiment_that_cannot_be_served_does_not_take_the_service_down(db, unservable):
    """A registry already holding such an experiment (written before these checks) starts:
    the others are served, that one is left out (and logged) until it is fixed or stopped."""
    path, keys = db
    unservable.add("checkout-coupon")
    with TestClient(create_app(path), raise_server_exceptions=False) as client:
        r = client.get("/v1/config", headers=bearer(keys["sdk"]))
        assert r.status_code == 200
        assert [e["spec"]["key"] for e in r.json()["experiments"]] == ["promo-bandit"]
        r = client.post("/v1/assign", json={"user_id": "u1", "attributes": {"country": "US"}},
                        headers=bearer(keys["sdk"]))
        assert r.status_code == 200
        assert {a["experiment"] for a in r.json()["assignments"]} <= {"promo-bandit"}
        # an unrelated change still goes through
        r = client.post("/v1/experiments/draft-ab/launch", headers=bearer(keys["admin"]))
        assert r.status_code == 200, r.text
        r = client.post("/v1/experiments/checkout-coupon/stop", headers=bearer(keys["admin"]))
        assert r.status_code == 200, r.text


def test_admin_change_after_a_failed_one_is_consistent(client, keys, unservable):
    """A refused change leaves no trace that a later change would pick up."""
    unservable.add("draft-ab")
    assert client.post("/v1/experiments/draft-ab/launch", headers=bearer(keys["admin"])).status_code == 409
    r = client.post("/v1/experiments/checkout-coupon/ramp", json={"traffic_percent": 30},
                    headers=bearer(keys["admin"]))
    assert r.status_code == 200, r.text
    served = client.get("/v1/config", headers=bearer(keys["sdk"])).json()
    assert sorted(e["spec"]["key"] for e in served["experiments"]) == ["checkout-coupon", "promo-bandit"]
    assert client.app.state.service.registry.status("draft-ab") == "draft"
