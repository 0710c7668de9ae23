"""Fixtures for the HTTP service: a temp registry with keys and running experiments."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promolab.service import create_app
from promolab.spec import experiment_from_dict, load_experiment
from promolab.store import Registry
from promolab.store.keys import create_key

ROOT = Path(__file__).resolve().parents[2]

BANDIT_SPEC = {
    "key": "promo-bandit",
    "name": "Homepage banner bandit",
    "owner": "growth",
    "kind": "bandit",
    "control": "none",
    "bandit": {"policy": "thompson", "reward": "conversion"},
    "variants": [
        {"key": "none", "name": "No banner", "weight": 1, "payload": {}},
        {"key": "pct5", "name": "5 % off", "weight": 1, "payload": {"discount_pct": 5}},
        {"key": "pct15", "name": "15 % off", "weight": 1, "payload": {"discount_pct": 15}},
    ],
    "metrics": [{"key": "conversion", "kind": "binomial", "event": "conversion"}],
}

SIMPLE_SPEC = {
    "key": "simple-ab",
    "name": "Simple A/B",
    "owner": "growth",
    "control": "a",
    "variants": [
        {"key": "a", "name": "A", "weight": 1, "payload": {}},
        {"key": "b", "name": "B", "weight": 1, "payload": {"free_shipping": True}},
    ],
    "metrics": [{"key": "orders", "kind": "binomial", "event": "order"}],
}


def spec(raw: dict, **changes) -> dict:
    out = copy.deepcopy(raw)
    out.update(changes)
    return out


def build_registry(path: Path) -> dict[str, str]:
    """Keys + checkout-coupon (targeting, layer, 50 %), a bandit with weights, a draft; closed after."""
    reg = Registry.open(path)
    keys = {"admin": create_key(reg, "admin", "test admin")[0], "sdk": create_key(reg, "sdk", "test sdk")[0]}
    coupon = load_experiment(ROOT / "experiments" / "checkout-coupon.toml")
    reg.create_experiment(coupon)
    reg.set_status(coupon.key, "running")
    bandit = experiment_from_dict(BANDIT_SPEC)
    reg.create_experiment(bandit)
    reg.set_status(bandit.key, "running")
    reg.record_weights(bandit.key, {"none": 0.2, "pct5": 0.5, "pct15": 0.3}, policy="thompson", reason="test")
    reg.create_experiment(experiment_from_dict(spec(SIMPLE_SPEC, key="draft-ab")))
    reg.close()
    return keys


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "service.duckdb"
    return path, build_registry(path)


@pytest.fixture
def keys(db) -> dict[str, str]:
    return db[1]


@pytest.fixture
def app(db):
    return create_app(db[0])


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def count(client: TestClient, table: str) -> int:
    reg = client.app.state.service.registry
    return int(reg.query(f"SELECT COUNT(*) AS n FROM {table}").n[0])


def seed(client: TestClient, sdk_key: str, n: int = 300) -> None:
    """Exposures for every checkout-coupon variant and some orders, through the API."""
    variants = ["no-coupon", "pct10", "free-shipping"]
    events = []
    for i in range(n):
        events.append({"type": "exposure", "event_id": f"x{i}", "user_id": f"s{i}",
                       "experiment": "checkout-coupon", "variant": variants[i % 3]})
        if i % 4 == 0:
            events.append({"type": "order", "event_id": f"o{i}", "user_id": f"s{i}", "revenue": 20 + i % 7,
                           "discount_cost": 2.0})
    r = client.post("/v1/events", json={"source": "seed", "events": events}, headers=bearer(sdk_key))
    assert r.status_code == 200, r.text
