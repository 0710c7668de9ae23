"""Sticky assignment in the service and the client: a user keeps their first variant."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from promolab.adaptive import sticky_assign
from promolab.assign import assign
from promolab.client import PromolabClient
from promolab.service import create_app
from promolab.service import sticky as sticky_module
from promolab.service.sticky import StickyMap

from .conftest import bearer

BANDIT = "promo-bandit"
COUPON = "checkout-coupon"
NEW_WEIGHTS = {"none": 0.05, "pct5": 0.05, "pct15": 0.9}


def single(client, sdk, user, experiment, attributes=None, track=True):
    r = client.post("/v1/assign", json={"user_id": user, "experiment": experiment, "attributes": attributes,
                                        "track": track}, headers=bearer(sdk))
    assert r.status_code == 200, r.text
    return {a["experiment"]: a["variant"] for a in r.json()["assignments"]}.get(experiment)


def batch(client, sdk, users, experiment, attributes=None, track=True):
    out = {}
    for start in range(0, len(users), 1000):
        chunk = users[start:start + 1000]
        r = client.post("/v1/assign/batch", json={"experiment": experiment, "track": track, "users": [
            {"user_id": u, "attributes": attributes} for u in chunk]}, headers=bearer(sdk))
        assert r.status_code == 200, r.text
        for res in r.json()["results"]:
            out[res["user_id"]] = {a["experiment"]: a["variant"] for a in res["assignments"]}.get(experiment)
    return [out[u] for u in users]


def library(client, key, users, attributes=None):
    state = client.app.state.service
    state.writer.flush()
    columns = None if attributes is None else {k: [v] * len(users) for k, v in attributes.items()}
    return list(sticky_assign(state.registry, key, users, columns, record=False).variants)


def change_weights(client, key, weights):
    state = client.app.state.service
    state.registry.record_weights(key, weights, policy="thompson", reason="test")
    state.refresh()


def test_bandit_weights_change_service_library_and_client_agree(client, keys):
    sdk = keys["sdk"]
    seen_single = [f"s{i}" for i in range(300)]
    seen_batch = [f"b{i}" for i in range(300)]
    seen_client = [f"c{i}" for i in range(300)]
    local = PromolabClient("http://testserver", sdk, http=client, flush_interval=60)
    try:
        first = {u: single(client, sdk, u, BANDIT) for u in seen_single}
        first.update(zip(seen_batch, batch(client, sdk, seen_batch, BANDIT)))
        first.update({u: local.variant(BANDIT, u) for u in seen_client})
        assert local.flush(timeout=30) and local.rejected == []

        change_weights(client, BANDIT, NEW_WEIGHTS)
        assert local.refresh()
        exp = client.app.state.service.catalog.experiments[BANDIT]
        everyone = seen_single + seen_batch + seen_client
        # the pure function of the new weights would move many of them ...
        pure = assign(exp, everyone, None, [NEW_WEIGHTS[k] for k in exp.variant_keys])
        moved = sum(exp.variant_keys[i] != first[u] for u, i in zip(everyone, pure.tolist()))
        assert moved > 200
        # ... but nobody moves: service (single and batch), library and client agree
        fresh = [f"n{i}" for i in range(300)]
        expected = [first[u] for u in everyone]
        assert [single(client, sdk, u, BANDIT) for u in everyone] == expected
        assert batch(client, sdk, everyone, BANDIT) == expected
        assert library(client, BANDIT, everyone) == expected
        assert [local.variant(BANDIT, u) for u in seen_client] == [first[u] for u in seen_client]
        assert local.assign_many(BANDIT, seen_client) == [first[u] for u in seen_client]
        # new users are hashed into the new weights, the same way everywhere
        served = [single(client, sdk, u, BANDIT) for u in fresh]
        assert served == library(client, BANDIT, fresh)
        assert served == [local.variant(BANDIT, u) for u in fresh]
        assert served.count("pct15") > 200
    finally:
        local.close()


def test_maps_are_reloaded_from_exposures_after_a_restart(db):
    path, keys = db
    users = [f"r{i}" for i in range(200)]
    with TestClient(create_app(path)) as c:
        first = batch(c, keys["sdk"], users, BANDIT)
    # change the weights while the service is down, as the CLI would
    from promolab.store import Registry

    reg = Registry.open(path)
    reg.record_weights(BANDIT, NEW_WEIGHTS, policy="thompson", reason="offline")
    reg.close()
    with TestClient(create_app(path)) as c:
        assert len(c.app.state.service.sticky.get(BANDIT)) == len(users)
        assert [single(c, keys["sdk"], u, BANDIT) for u in users] == first
        assert library(c, BANDIT, users) == first


def test_ab_ramp_and_pause_keep_users(client, keys):
    sdk, admin = keys["sdk"], keys["admin"]
    attrs = {"country": "US"}
    users = [f"a{i}" for i in range(2000)]
    first = batch(client, sdk, users, COUPON, attrs)
    inside = [u for u, v in zip(users, first) if v is not None]
    assert len(inside) > 100
    assert client.post(f"/v1/experiments/{COUPON}/ramp", json={"traffic_percent": 5},
                       headers=bearer(admin)).status_code == 200
    assert client.post(f"/v1/experiments/{COUPON}/pause", headers=bearer(admin)).status_code == 200
    control = client.app.state.service.catalog.experiments[COUPON].control
    assert {single(client, sdk, u, COUPON, attrs) for u in inside} == {control}  # paused: control for everyone
    assert set(batch(client, sdk, inside + ["never-seen"], COUPON, attrs)) == {control}
    assert client.post(f"/v1/experiments/{COUPON}/launch", headers=bearer(admin)).status_code == 200
    expected = [first[users.index(u)] for u in inside]
    assert [single(client, sdk, u, COUPON, attrs) for u in inside] == expected
    assert library(client, COUPON, inside, attrs) == expected
    # users never exposed before follow the new 5 % coverage
    newcomers = [f"z{i}" for i in range(2000)]
    got = batch(client, sdk, newcomers, COUPON, attrs)
    assert got == library(client, COUPON, newcomers, attrs)
    assert sum(v is not None for v in got) < len(inside) / 4


def test_untracked_assigns_do_not_stick(client, keys):
    sdk = keys["sdk"]
    first = {u: single(client, sdk, u, BANDIT, track=False) for u in [f"t{i}" for i in range(200)]}
    change_weights(client, BANDIT, NEW_WEIGHTS)
    again = {u: single(client, sdk, u, BANDIT, track=False) for u in first}
    assert again != first  # nothing was exposed, so nothing sticks
    assert list(again.values()) == library(client, BANDIT, list(again))


def test_ingested_exposures_set_and_respect_the_map(client, keys):
    sdk = keys["sdk"]
    known = single(client, sdk, "k1", BANDIT)
    other = next(v for v in ("none", "pct5", "pct15") if v != known)
    unseen = next(v for v in ("none", "pct5", "pct15")
                  if v != single(client, sdk, "k2", BANDIT, track=False))
    events = [{"type": "exposure", "event_id": "e1", "user_id": "k1", "experiment": BANDIT, "variant": other},
              {"type": "exposure", "event_id": "e2", "user_id": "k2", "experiment": BANDIT, "variant": unseen},
              {"type": "exposure", "event_id": "e3", "user_id": "k2", "experiment": BANDIT, "variant": known,
               "ts": "2099-01-01T00:00:00Z"}]
    r = client.post("/v1/events", json={"source": "sdk", "events": events[:2]}, headers=bearer(sdk))
    assert r.status_code == 200, r.text
    assert r.json()["inserted_exposures"] == 1  # k1 was already exposed by the assign
    assert single(client, sdk, "k1", BANDIT) == known
    assert single(client, sdk, "k2", BANDIT) == unseen  # the ingested first exposure sticks
    assert library(client, BANDIT, ["k1", "k2"]) == [known, unseen]


def test_sticky_map_structure(monkeypatch):
    monkeypatch.setattr(sticky_module, "MIN_COMPACT", 1000)
    m = StickyMap(3)
    rng = np.random.default_rng(1)
    truth = {}
    for i in range(20_000):
        u = f"user-{rng.integers(0, 15_000)}"
        v = int(rng.integers(0, 3))
        assert m.setdefault(u, v) == truth.setdefault(u, v)
    assert len(m) == len(truth)
    assert all(m.get(u) == v for u, v in truth.items())
    assert m.get("nobody") is None
    m.compact()
    assert m.nbytes == 9 * len(truth)  # int64 key + uint8 variant per user
    m.discard("user-1")
    assert m.get("user-1") is None and len(m) == len(truth) - ("user-1" in truth)
    loaded = StickyMap.from_pairs(3, ["a", "b", "a"], [2, 1, 0])
    assert (loaded.get("a"), loaded.get("b"), len(loaded)) == (2, 1, 2)
    assert StickyMap(300).from_pairs(300, ["x"], [299]).get("x") == 299


@pytest.mark.parametrize("fast", [True, False])
def test_fast_and_fastapi_paths_answer_alike(db, fast):
    path, keys = db
    with TestClient(create_app(path, fast_assign=fast)) as c:
        got = [c.post("/v1/assign", json={"user_id": f"f{i}", "attributes": {"country": "CA"}},
                      headers=bearer(keys["sdk"])).json() for i in range(50)]
        served = c.app.fast.served if fast else 0
    assert served == (50 if fast else 0)
    with TestClient(create_app(path, fast_assign=not fast)) as c:
        again = [c.post("/v1/assign", json={"user_id": f"f{i}", "attributes": {"country": "CA"}},
                        headers=bearer(keys["sdk"])).json() for i in range(50)]
    assert got == again
