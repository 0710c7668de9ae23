"""Bandit weight updates: on a schedule and on demand, stored in the weight history, served at once."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from promolab.service import create_app

from .conftest import bearer


def test_scheduled_updates_store_history_and_reach_the_config(db):
    path, keys = db
    calls = []

    def update(registry, key):  # returns weights without storing them: the scheduler stores them
        calls.append(key)
        return {"none": 0.1, "pct5": 0.1, "pct15": 0.8}

    with TestClient(create_app(path, bandit_period=0.05, bandit_update=update)) as client:
        deadline = time.monotonic() + 5
        while client.app.state.service.scheduler.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls and set(calls) == {"promo-bandit"}  # only running bandits
        doc = client.get("/v1/config", headers=bearer(keys["sdk"])).json()
        weights = {e["spec"]["key"]: e["weights"] for e in doc["experiments"]}
        assert weights == {"checkout-coupon": None, "promo-bandit": [0.1, 0.1, 0.8]}
        w = client.get("/v1/experiments/promo-bandit/weights", headers=bearer(keys["admin"])).json()
        assert w["current"] == {"none": 0.1, "pct5": 0.1, "pct15": 0.8}
        # unchanged weights are not stored again: one test row + one update
        assert len({p["updated_at"] for p in w["history"]}) == 2


def test_manual_update_and_a_function_that_stores_itself(db):
    path, keys = db

    def update(registry, key):
        weights = {"none": 0.5, "pct5": 0.25, "pct15": 0.25}
        registry.record_weights(key, weights, policy="thompson", reason="by the update itself")
        return weights

    with TestClient(create_app(path, bandit_update=update)) as client:
        r = client.post("/v1/experiments/promo-bandit/bandit-update", headers=bearer(keys["admin"]))
        assert r.status_code == 200, r.text
        assert r.json()["current"] == {"none": 0.5, "pct5": 0.25, "pct15": 0.25}
        assert len({p["updated_at"] for p in r.json()["history"]}) == 2  # stored once, not twice
        r = client.post("/v1/experiments/checkout-coupon/bandit-update", headers=bearer(keys["admin"]))
        assert r.status_code == 409


def test_scheduler_runs_with_the_default_update(db):
    path, keys = db
    with TestClient(create_app(path, bandit_period=0.05)) as client:
        sched = client.app.state.service.scheduler
        deadline = time.monotonic() + 5
        while sched.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sched.runs >= 1
