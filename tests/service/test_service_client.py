"""The local-evaluation client: same assignments as the server, events sent in the background."""

from __future__ import annotations

import random

from promolab.client import Assignment, PromolabClient

from .conftest import bearer, count


def users(n: int = 2000):
    rng = random.Random(7)
    out = []
    for i in range(n):
        attrs = {"country": rng.choice(["US", "CA", "DE", None])}
        if rng.random() < 0.1:
            attrs = None
        elif rng.random() < 0.1:
            attrs["country"] = rng.choice([3, True, 2.5])  # odd types must not break parity
        out.append((f"user-{i}", attrs))
    return out


def test_client_and_server_assign_identically(client, keys):
    sdk = PromolabClient("http://testserver", keys["sdk"], http=client, track_exposures=False)
    try:
        assert sorted(sdk.experiments) == ["checkout-coupon", "promo-bandit"]
        population = users()
        server = {}
        for start in range(0, len(population), 1000):
            chunk = population[start:start + 1000]
            r = client.post("/v1/assign/batch", json={"users": [{"user_id": u, "attributes": a} for u, a in chunk],
                                                      "track": False}, headers=bearer(keys["sdk"]))
            assert r.status_code == 200, r.text
            for res in r.json()["results"]:
                server[res["user_id"]] = {a["experiment"]: (a["variant"], a["payload"]) for a in res["assignments"]}
        # single assigns over HTTP agree with the batch route for a sample
        for u, a in population[:200]:
            r = client.post("/v1/assign", json={"user_id": u, "attributes": a, "track": False},
                            headers=bearer(keys["sdk"]))
            assert {x["experiment"]: (x["variant"], x["payload"]) for x in r.json()["assignments"]} == server[u]
        local = {u: {k: (v.variant, v.payload) for k, v in sdk.assign(u, a).items()} for u, a in population}
        assert local == server
        # every experiment has users in it, and the bandit follows its stored weights
        assert sum("checkout-coupon" in v for v in server.values()) > 100
        bandit = [v["promo-bandit"][0] for v in server.values() if "promo-bandit" in v]
        assert len(bandit) == len(population)
        assert 0.4 < bandit.count("pct5") / len(bandit) < 0.6
        # the vectorised client path agrees too
        ids = [u for u, _ in population]
        attrs = [a for _, a in population]
        many = sdk.assign_many("checkout-coupon", ids, attrs)
        assert many == [server[u].get("checkout-coupon", (None,))[0] for u in ids]
    finally:
        sdk.close()


def test_config_etag(client, keys):
    r = client.get("/v1/config", headers=bearer(keys["sdk"]))
    etag = r.headers["etag"]
    assert client.get("/v1/config", headers={**bearer(keys["sdk"]), "If-None-Match": etag}).status_code == 304
    sdk = PromolabClient("http://testserver", keys["sdk"], http=client)
    try:
        assert sdk.refresh() is False  # unchanged: 304
        client.post("/v1/experiments/checkout-coupon/pause", headers=bearer(keys["admin"]))
        assert client.get("/v1/config", headers=bearer(keys["sdk"])).headers["etag"] != etag
        assert sdk.refresh() is True
        assert sdk.experiments == ["promo-bandit"]
        # paused: the control for everyone, marked, and no exposure queued
        queued = len(sdk._queue)
        assert sdk.assign("u1", {"country": "US"}, "checkout-coupon")["checkout-coupon"] == Assignment(
            "checkout-coupon", "no-coupon", {}, paused=True)
        assert sdk.assign_many("checkout-coupon", ["u2", "u3"]) == ["no-coupon", "no-coupon"]
        assert len(sdk._queue) == queued
    finally:
        sdk.close()


def test_client_sends_events_and_close_flushes(client, keys):
    sdk = PromolabClient("http://testserver", keys["sdk"], http=client, flush_interval=60, max_batch=500)
    ids = []
    for i in range(1200):
        sdk.variant("checkout-coupon", f"c{i}", {"country": "CA"})
        ids.append(sdk.order(f"c{i}", revenue=10 + i % 5, discount_cost=1.0))
        ids.append(sdk.conversion(f"c{i}", name="checkout"))
    assert sdk.close(timeout=30)
    assert sdk.rejected == []
    reg = client.app.state.service.registry
    assert count(client, "events") == 1200 * 3  # order + discount_cost + checkout
    exposed = reg.query("SELECT COUNT(*) AS n FROM exposures WHERE source = 'python-client'").n[0]
    assert exposed == sum(sdk.variant("checkout-coupon", f"c{i}", {"country": "CA"}) is not None
                          for i in range(1200)) > 0


def test_client_retries_until_the_service_answers(client, keys):
    calls = {"n": 0}
    real_post = client.post

    def flaky_post(url, **kw):
        calls["n"] += 1
        if calls["n"] <= 2:
            import httpx

            raise httpx.ConnectError("down")
        return real_post(url, **kw)

    sdk = PromolabClient("http://testserver", keys["sdk"], http=client, flush_interval=60)
    client.post = flaky_post
    try:
        for i in range(10):
            sdk.conversion(f"r{i}", event_id=f"r{i}")
        assert sdk.flush(timeout=10)
    finally:
        client.post = real_post
        sdk.close()
    assert calls["n"] == 3
    assert count(client, "events") == 10
