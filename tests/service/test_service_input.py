"""Bad input gets a 4xx naming the field, and nothing from a rejected batch is stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .conftest import bearer, count


def order(i: int, **changes) -> dict:
    return {"type": "order", "event_id": f"o{i}", "user_id": f"u{i}", "revenue": 10.0, **changes}


def good_batch(n: int = 20) -> list[dict]:
    return [order(i) for i in range(n)]


def post(client, keys, body=None, **kw):
    return client.post("/v1/events", json=body, headers=bearer(keys["sdk"]), **kw)


def assert_nothing_stored(client):
    assert count(client, "events") == 0
    assert count(client, "exposures") == 0


FUTURE = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()

BAD_BATCHES = [
    # (description, events, expected status, field)
    ("negative revenue", good_batch() + [order(99, revenue=-5)], 422, "events[20].revenue"),
    ("negative discount", good_batch() + [order(99, discount_cost=-1)], 422, "events[20].discount_cost"),
    ("revenue as text", good_batch() + [order(99, revenue="lots")], 422, "events[20].revenue"),
    ("far-future ts", good_batch() + [order(99, ts=FUTURE)], 422, "events[20].ts"),
    ("ancient ts", good_batch() + [order(99, ts="1970-01-02T00:00:00Z")], 422, "events[20].ts"),
    ("not a date", good_batch() + [order(99, ts="yesterday")], 422, "events[20].ts"),
    ("unknown type", good_batch() + [{"type": "refund", "event_id": "r", "user_id": "u"}], 422, "events[20]"),
    ("missing user", good_batch() + [{"type": "conversion", "event_id": "c"}], 422, "events[20].user_id"),
    ("empty event id", good_batch() + [order(99, event_id="")], 422, "events[20].event_id"),
    ("unknown field", good_batch() + [order(99, coupon="X")], 422, "events[20].coupon"),
    ("unknown experiment", good_batch() + [{"type": "exposure", "event_id": "x", "user_id": "u",
                                            "experiment": "no-such", "variant": "a"}], 404, "events[20].experiment"),
    ("unknown variant", good_batch() + [{"type": "exposure", "event_id": "x", "user_id": "u",
                                         "experiment": "checkout-coupon", "variant": "pct99"}], 422,
     "events[20].variant"),
    ("draft experiment", good_batch() + [{"type": "exposure", "event_id": "x", "user_id": "u",
                                          "experiment": "draft-ab", "variant": "a"}], 409, "events[20].experiment"),
    ("oversize batch", good_batch(10_001), 422, "events"),
    ("empty batch", [], 422, "events"),
]


@pytest.mark.parametrize("what,events,status,field", BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_bad_batch_names_the_field_and_stores_nothing(client, keys, what, events, status, field):
    r = post(client, keys, {"events": events})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field, err
    assert "Traceback" not in r.text
    assert_nothing_stored(client)


def test_malformed_json(client, keys):
    r = client.post("/v1/events", content=b'{"events": [', headers={**bearer(keys["sdk"]),
                                                                     "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "body"
    assert r.json()["error"]["code"] == "malformed_json"
    assert_nothing_stored(client)


@pytest.mark.parametrize("body,field", [
    ({"events": "many"}, "events"),
    ({"events": [1, 2]}, "events[0]"),
    ({"source": "bad source!", "events": good_batch()}, "source"),
    ([1, 2, 3], "body"),
])
def test_wrong_types(client, keys, body, field):
    r = post(client, keys, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert_nothing_stored(client)


def test_body_over_the_limit_is_413(client, keys):
    big = b'{"events": [' + b" " * (9 * 1024 * 1024) + b"]}"
    r = client.post("/v1/events", content=big, headers={**bearer(keys["sdk"]), "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["field"] == "body"


def test_nan_revenue_is_refused(client, keys):
    r = client.post("/v1/events", content=b'{"events": [{"type": "order", "event_id": "1", "user_id": "u", '
                                          b'"revenue": NaN}]}',
                    headers={**bearer(keys["sdk"]), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "events[0].revenue"
    assert r.json()["error"]["value"] == "nan"


def test_assign_errors(client, keys):
    h = bearer(keys["sdk"])
    r = client.post("/v1/assign", json={"user_id": "u", "experiment": "no-such"}, headers=h)
    assert r.status_code == 404 and r.json()["error"]["field"] == "experiment"
    r = client.post("/v1/assign", json={"user_id": 12}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "user_id"
    r = client.post("/v1/assign", json={"user_id": "u", "attributes": {"country": ["US"]}}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("attributes.country")
    r = client.post("/v1/assign/batch", json={"users": [{"user_id": f"u{i}"} for i in range(1001)]}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "users"
    # a draft experiment is known: nobody is in it yet
    r = client.post("/v1/assign", json={"user_id": "u", "experiment": "draft-ab"}, headers=h)
    assert r.status_code == 200 and r.json()["assignments"] == []
    assert_nothing_stored(client)


def test_admin_errors(client, keys):
    h = bearer(keys["admin"])
    r = client.post("/v1/experiments", json={"key": "Bad Key", "variants": 3}, headers=h)
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert "key" in fields and "variants" in fields
    r = client.post("/v1/experiments/checkout-coupon/ramp", json={"traffic_percent": 120}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "traffic_percent"
    r = client.post("/v1/experiments/nope/pause", headers=h)
    assert r.status_code == 404 and r.json()["error"]["field"] == "key"
    r = client.post("/v1/experiments/draft-ab/pause", headers=h)
    assert r.status_code == 409 and "cannot go from draft to paused" in r.json()["error"]["message"]
    r = client.get("/v1/nothing-here", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def _boom(path, key):  # a report function that fails (runs in the report worker process)
    raise RuntimeError("secret detail /etc/passwd")


def test_internal_errors_are_generic(client, keys):
    client.app.state.service.reports.compute = f"{__name__}:_boom"
    r = client.get("/v1/experiments/checkout-coupon/report", headers=bearer(keys["admin"]))
    assert r.status_code == 500
    assert r.json()["error"] == {"code": "internal", "message": "internal error", "field": None, "value": None,
                                 "expected": None}
    assert "secret" not in r.text and "Traceback" not in r.text
