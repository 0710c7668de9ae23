"""Ingestion: idempotent on (source, event_id), orders map onto events, exposures stick."""

from __future__ import annotations

import pytest

from .conftest import bearer, count


def test_retry_is_not_counted_twice(client, keys):
    body = {"source": "shop-1", "events": [
        {"type": "order", "event_id": "o1", "user_id": "u1", "revenue": 50, "discount_cost": 5},
        {"type": "order", "event_id": "o2", "user_id": "u2", "revenue": 20},
        {"type": "conversion", "event_id": "c1", "user_id": "u1"},
        {"type": "conversion", "event_id": "c1", "user_id": "u1"},  # repeated inside the batch
        {"type": "exposure", "event_id": "x1", "user_id": "u1", "experiment": "checkout-coupon", "variant": "pct10"},
    ]}
    r = client.post("/v1/events", json=body, headers=bearer(keys["sdk"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 5, "inserted_events": 4, "inserted_exposures": 1, "duplicates": 1,
                        "conflicts": 0}
    r = client.post("/v1/events", json=body, headers=bearer(keys["sdk"]))
    assert r.json() == {"received": 5, "inserted_events": 0, "inserted_exposures": 0, "duplicates": 5,
                        "conflicts": 0}
    reg = client.app.state.service.registry
    rows = reg.query("SELECT event_id, event, value FROM events ORDER BY event_id")
    assert rows.values.tolist() == [["$discount_cost:o1", "discount_cost", 5.0], ["c1", "conversion", 1.0],
                                    ["o1", "order", 50.0], ["o2", "order", 20.0]]
    # another source is another namespace
    r = client.post("/v1/events", json={**body, "source": "shop-2"}, headers=bearer(keys["sdk"]))
    assert r.json()["inserted_events"] == 4
    assert count(client, "events") == 8


def test_first_exposure_sticks(client, keys):
    h = bearer(keys["sdk"])
    for variant in ("pct10", "no-coupon"):
        client.post("/v1/events", json={"events": [{"type": "exposure", "event_id": variant, "user_id": "u9",
                                                    "experiment": "checkout-coupon", "variant": variant,
                                                    "ts": "2025-01-01T00:00:00Z"}]}, headers=h)
    reg = client.app.state.service.registry
    assert reg.query("SELECT variant_key FROM exposures WHERE user_id = 'u9'").variant_key.tolist() == ["pct10"]


def test_assign_records_exposures(client, keys):
    h = bearer(keys["sdk"])
    served = {}
    for i in range(200):
        r = client.post("/v1/assign", json={"user_id": f"a{i}", "attributes": {"country": "US"}}, headers=h)
        for a in r.json()["assignments"]:
            served[(a["experiment"], f"a{i}")] = a["variant"]
    client.app.state.service.writer.stop()  # drains the queue
    reg = client.app.state.service.registry
    rows = reg.query("SELECT experiment_key, user_id, variant_key FROM exposures")
    stored = {(r.experiment_key, r.user_id): r.variant_key for r in rows.itertuples()}
    assert served and stored == served
    r = client.post("/v1/assign", json={"user_id": "b", "track": False}, headers=h)
    assert r.status_code == 200


def test_report_is_the_cli_json(client, keys):
    import json

    from warehouse_data import assert_close

    from promolab.analysis import analyze_experiment
    from promolab.jsonable import to_json

    from .conftest import seed

    seed(client, keys["sdk"])
    r = client.get("/v1/experiments/checkout-coupon/report", headers=bearer(keys["admin"]))
    assert r.status_code == 200
    expected = json.loads(to_json(analyze_experiment(client.app.state.service.registry, "checkout-coupon").to_dict()))
    assert_close(r.json(), expected)  # DuckDB's parallel sums may differ in the last digit


def test_derived_ids_cannot_collide_with_client_ids(client, keys):
    """The discount_cost row of an order gets an id in a namespace client ids cannot use
    (a leading ``$``), so a client event whose id looks like a derived one is stored as its own."""
    h = bearer(keys["sdk"])
    body = {"events": [
        {"type": "order", "event_id": "o1", "user_id": "u1", "revenue": 50, "discount_cost": 5},
        {"type": "conversion", "event_id": "o1:discount_cost", "user_id": "u1", "name": "signup"},
        {"type": "conversion", "event_id": "discount_cost:o1", "user_id": "u1", "name": "signup"},
    ]}
    r = client.post("/v1/events", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "inserted_events": 4, "inserted_exposures": 0, "duplicates": 0,
                        "conflicts": 0}
    reg = client.app.state.service.registry
    rows = reg.query("SELECT event_id, event, value FROM events ORDER BY event_id").values.tolist()
    assert rows == [["$discount_cost:o1", "discount_cost", 5.0], ["discount_cost:o1", "signup", 1.0],
                    ["o1", "order", 50.0], ["o1:discount_cost", "signup", 1.0]]
    # the same batch in the other order stores the same rows: nothing was swallowed as a duplicate
    r = client.post("/v1/events", json={"source": "b", "events": body["events"][::-1]}, headers=h)
    assert r.json()["inserted_events"] == 4


@pytest.mark.parametrize("event_id", ["$discount_cost:o1", "$o1", "$"])
def test_client_ids_may_not_use_the_derived_namespace(client, keys, event_id):
    for event in ({"type": "order", "event_id": event_id, "user_id": "u1", "revenue": 5},
                  {"type": "conversion", "event_id": event_id, "user_id": "u1"},
                  {"type": "exposure", "event_id": event_id, "user_id": "u1", "experiment": "checkout-coupon",
                   "variant": "pct10"}):
        r = client.post("/v1/events", json={"events": [event]}, headers=bearer(keys["sdk"]))
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["field"] == "events[0].event_id" and err["value"] == event_id
        assert "$" in err["message"]
    assert count(client, "events") == 0
    # a $ elsewhere in the id is an ordinary character
    r = client.post("/v1/events", json={"events": [{"type": "conversion", "event_id": "a$b", "user_id": "u1"}]},
                    headers=bearer(keys["sdk"]))
    assert r.status_code == 200 and r.json()["inserted_events"] == 1


def test_an_event_id_reused_with_other_content_is_a_conflict(client, keys):
    """The registry's rule over HTTP too: the first stored row is kept, the other counted."""
    h = bearer(keys["sdk"])
    first = {"source": "shop-9", "events": [{"type": "conversion", "event_id": "e1", "user_id": "u1", "value": 1}]}
    assert client.post("/v1/events", json=first, headers=h).json()["inserted_events"] == 1
    other = {"source": "shop-9", "events": [
        {"type": "conversion", "event_id": "e1", "user_id": "u2", "value": 7},  # same id, other content
        {"type": "conversion", "event_id": "e2", "user_id": "u3", "value": 2},
        {"type": "conversion", "event_id": "e2", "user_id": "u4", "value": 3},  # within the batch
    ]}
    r = client.post("/v1/events", json=other, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "inserted_events": 1, "inserted_exposures": 0, "duplicates": 0,
                        "conflicts": 2}
    rows = client.app.state.service.registry.query(
        "SELECT event_id, user_id, value FROM events WHERE source = 'shop-9' ORDER BY event_id").values.tolist()
    assert rows == [["e1", "u1", 1.0], ["e2", "u3", 2.0]]


def test_exposures_to_a_stopped_experiment_are_refused(client, keys):
    admin, sdk = bearer(keys["admin"]), bearer(keys["sdk"])
    assert client.post("/v1/experiments/checkout-coupon/stop", json={"reason": "done"}, headers=admin).status_code == 200
    body = {"events": [{"type": "exposure", "event_id": "x9", "user_id": "late", "experiment": "checkout-coupon",
                        "variant": "pct10"}]}
    r = client.post("/v1/events", json=body, headers=sdk)
    assert r.status_code == 409 and "stopped" in r.json()["error"]["message"]
