"""Hostile bodies on every write route: a 4xx with the JSON error body, never a 500, nothing stored.

A lone surrogate (``"\\ud800"`` as a JSON escape: valid JSON syntax, not valid Unicode text),
JSON nested thousands of levels deep, and event times whose UTC conversion overflows.
"""

from __future__ import annotations

import json

import pytest

from .conftest import SIMPLE_SPEC, bearer, spec

LONE = r'"\ud800"'  # the six characters of the escape, as a client would send them

# (key kind, method, path, raw body)
SURROGATES = [
    ("sdk", "/v1/assign", '{"user_id": %s}' % LONE),
    ("sdk", "/v1/assign", '{"user_id": "u1", "attributes": {"country": %s}}' % LONE),
    ("sdk", "/v1/assign", '{"user_id": "u1", "attributes": {%s: "US"}}' % LONE),
    ("sdk", "/v1/assign", r'{"user_id": "u1", "attributes": {"country": "\udc00US"}}'),
    ("sdk", "/v1/assign/batch", '{"users": [{"user_id": "u1"}, {"user_id": %s}]}' % LONE),
    ("sdk", "/v1/assign/batch", '{"users": [{"user_id": "u1", "attributes": {"country": %s}}]}' % LONE),
    ("sdk", "/v1/events", '{"events": [{"type": "order", "event_id": %s, "user_id": "u1", "revenue": 1}]}' % LONE),
    ("sdk", "/v1/events", '{"events": [{"type": "conversion", "event_id": "c1", "user_id": %s}]}' % LONE),
    ("sdk", "/v1/events", '{"source": %s, "events": [{"type": "conversion", "event_id": "c", "user_id": "u"}]}'
     % LONE),
    ("sdk", "/v1/events", '{"events": [{"type": "exposure", "event_id": "x", "user_id": "u", '
                          '"experiment": "checkout-coupon", "variant": %s}]}' % LONE),
    ("admin", "/v1/experiments", json.dumps(spec(SIMPLE_SPEC, key="s1")).replace('"Simple A/B"', LONE)),
    ("admin", "/v1/experiments", json.dumps(spec(SIMPLE_SPEC, key="s2")).replace('"free_shipping"', LONE)),
    ("admin", "/v1/experiments/checkout-coupon/ramp", '{"traffic_percent": 50, "reason": %s}' % LONE),
    ("admin", "/v1/experiments/checkout-coupon/pause", '{"reason": %s}' % LONE),
    ("admin", "/v1/experiments/checkout-coupon/stop", '{"reason": %s}' % LONE),
    ("admin", "/v1/experiments/draft-ab/launch", '{"reason": %s}' % LONE),
    ("admin", "/v1/keys", '{"kind": "sdk", "name": %s}' % LONE),
]

DEEP = 3000
DEEP_BODIES = ["[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP,
               '{"user_id": "u1", "attributes": {"x": ' + "[" * DEEP + "]" * DEEP + "}}"]
WRITE_ROUTES = [("sdk", "/v1/assign"), ("sdk", "/v1/assign/batch"), ("sdk", "/v1/events"),
                ("admin", "/v1/experiments"), ("admin", "/v1/experiments/checkout-coupon/ramp"),
                ("admin", "/v1/experiments/checkout-coupon/pause"), ("admin", "/v1/keys")]


def _snapshot(client) -> dict:
    """Everything a write route could change."""
    reg = client.app.state.service.registry
    out = {}
    for table in ("events", "exposures", "experiments", "status_history", "api_keys", "bandit_weights"):
        out[table] = reg.query(f"SELECT * FROM {table}").astype(str).values.tolist()
    return out


def _post(client, keys, kind, path, body: str):
    return client.post(path, content=body.encode("ascii"),
                       headers={**bearer(keys[kind]), "Content-Type": "application/json"})


def _assert_json_4xx(r):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    err = r.json()["error"]
    assert set(err) == {"code", "message", "field", "value", "expected"}
    assert err["code"] != "internal"
    return err


@pytest.mark.parametrize("kind,path,body", SURROGATES, ids=[f"{p} {i}" for i, (_, p, _) in enumerate(SURROGATES)])
def test_lone_surrogate_is_a_4xx_and_stores_nothing(client, keys, kind, path, body):
    client.app.state.service.writer.flush()
    before = _snapshot(client)
    r = _post(client, keys, kind, path, body)
    err = _assert_json_4xx(r)
    assert err["field"] == "body" and r.status_code == 400, err
    assert "surrogate" in err["message"]
    client.app.state.service.writer.flush()
    assert _snapshot(client) == before


def test_escaped_surrogate_pairs_are_ordinary_text(client, keys):
    """A pair (here U+1F600, as JSON escapes) is valid Unicode: accepted and stored as the character."""
    r = _post(client, keys, "sdk", "/v1/events",
              r'{"events": [{"type": "conversion", "event_id": "smile-\ud83d\ude00", "user_id": "u1"}]}')
    assert r.status_code == 200, r.text
    reg = client.app.state.service.registry
    assert reg.query("SELECT event_id FROM events").event_id.tolist() == ["smile-\U0001F600"]
    r = _post(client, keys, "sdk", "/v1/assign", r'{"user_id": "\ud83d\ude00", "track": false}')
    assert r.status_code == 200 and r.json()["user_id"] == "\U0001F600"


@pytest.mark.parametrize("kind,path", WRITE_ROUTES, ids=[p for _, p in WRITE_ROUTES])
@pytest.mark.parametrize("body", DEEP_BODIES, ids=["array", "object", "attribute"])
def test_deeply_nested_json_is_a_4xx(client, keys, kind, path, body):
    before = _snapshot(client)
    r = _post(client, keys, kind, path, body)
    err = _assert_json_4xx(r)
    assert r.status_code == 400 and err["code"] == "malformed_json" and err["field"] == "body", err
    assert "nested" in err["message"]
    assert _snapshot(client) == before


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+00:01", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
                                "0001-01-01T00:00:00", "9999-12-31T23:59:59Z"])
@pytest.mark.parametrize("kind", ["order", "conversion", "exposure"])
def test_event_time_out_of_range_is_a_4xx(client, keys, ts, kind):
    event = {"order": {"type": "order", "event_id": "o1", "user_id": "u1", "revenue": 1.0},
             "conversion": {"type": "conversion", "event_id": "c1", "user_id": "u1"},
             "exposure": {"type": "exposure", "event_id": "x1", "user_id": "u1", "experiment": "checkout-coupon",
                          "variant": "pct10"}}[kind]
    before = _snapshot(client)
    good = {"type": "conversion", "event_id": "ok", "user_id": "u2"}
    r = client.post("/v1/events", json={"events": [good, {**event, "ts": ts}]}, headers=bearer(keys["sdk"]))
    err = _assert_json_4xx(r)
    assert r.status_code == 422 and err["field"] == "events[1].ts", err
    assert _snapshot(client) == before


def test_error_bodies_never_carry_unencodable_text(client, keys):
    """The error body echoes the bad value; if it holds a surrogate it is escaped, not a crash."""
    from promolab.service.errors import detail, error_response

    response = error_response(422, detail("invalid_input", "user_id: got '\ud800'", "attributes.\udc00", "\ud800x",
                                          "text"))
    body = json.loads(response.body)
    assert body["error"]["value"] == "\\ud800x" and body["error"]["field"] == "attributes.\\udc00"


def test_real_server_answers_hostile_bodies_with_json_4xx(tmp_path):
    """The same bodies through uvicorn (``promolab serve``), sent whole and chunked: a JSON
    4xx each, on a connection that stays usable (no reset, no plain-text 500)."""
    import signal

    import httpx

    from .conftest import build_registry
    from .test_service_kill9 import free_port, start_server

    db = tmp_path / "hostile.duckdb"
    keys = build_registry(db)
    port = free_port()
    server = start_server(db, port, tmp_path / "server.log")
    bodies = [(kind, path, body) for kind, path, body in SURROGATES[::2]] + [
        (kind, path, DEEP_BODIES[0]) for kind, path in WRITE_ROUTES]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for kind, path, body in bodies:
                for content in (body.encode(), iter([body.encode()[:5], body.encode()[5:]])):
                    r = http.post(path, content=content,
                                  headers={**bearer(keys[kind]), "Content-Type": "application/json"})
                    err = _assert_json_4xx(r)
                    assert r.status_code == 400 and err["code"] == "malformed_json", (path, r.text)
            r = http.post("/v1/assign", json={"user_id": "u1"}, headers=bearer(keys["sdk"]))
            assert r.status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
