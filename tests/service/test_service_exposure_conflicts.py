"""Cross-variant exposures through the service: kept in exposure_conflicts, the first exposure sticks."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from promolab.service.writer import EXPOSURE_SCHEMA, Writer
from promolab.store import Registry

from .conftest import bearer, build_registry

COUPON = "checkout-coupon"


def exposure(user: str, variant: str, ts: str | None, event_id: str | None = None) -> dict:
    return {"type": "exposure", "event_id": event_id or f"{user}-{variant}-{ts}", "user_id": user,
            "experiment": COUPON, "variant": variant, "ts": ts}


def post(client, sdk: str, events: list[dict], source: str = "sdk") -> dict:
    r = client.post("/v1/events", json={"source": source, "events": events}, headers=bearer(sdk))
    assert r.status_code == 200, r.text
    return r.json()


def conflicts(client) -> list[tuple]:
    reg = client.app.state.service.registry
    return [tuple(r) for r in reg.query(
        "SELECT experiment_key, user_id, variant_key, exposed_at::VARCHAR, source FROM exposure_conflicts "
        "ORDER BY ALL").itertuples(index=False)]


def stored(client) -> dict[str, str]:
    rows = client.app.state.service.registry.query("SELECT user_id, variant_key FROM exposures")
    return dict(zip(rows.user_id, rows.variant_key))


def test_conflict_across_batches_and_replay(client, keys):
    sdk = keys["sdk"]
    assert post(client, sdk, [exposure("u9", "pct10", "2025-01-01T00:00:00Z")])["inserted_exposures"] == 1
    # the same variant again: sticky, no conflict
    assert post(client, sdk, [exposure("u9", "pct10", "2025-01-02T00:00:00Z")])["inserted_exposures"] == 0
    assert conflicts(client) == []
    second = [exposure("u9", "no-coupon", "2025-01-03T00:00:00Z"), exposure("u9", "no-coupon", "2025-01-02T12:00:00Z"),
              exposure("u9", "pct10", "2025-01-04T00:00:00Z")]
    assert post(client, sdk, second, source="app")["inserted_exposures"] == 0
    expected = [(COUPON, "u9", "no-coupon", "2025-01-02 12:00:00", "app")]
    assert conflicts(client) == expected
    assert stored(client) == {"u9": "pct10"}
    # a retried batch adds nothing
    assert post(client, sdk, second, source="app")["inserted_exposures"] == 0
    assert conflicts(client) == expected
    # the report's health view
    health = client.app.state.service.registry.exposure_health(COUPON)
    assert (health.users, health.cross_variant_users) == (1, 1)
    assert health.cross_variant_by_stored_variant["pct10"] == 1 and health.conflicts_by_variant["no-coupon"] == 1


def test_conflict_in_one_batch_keeps_the_earliest(client, keys):
    sdk = keys["sdk"]
    r = post(client, sdk, [exposure("u1", "pct10", "2025-01-02T00:00:00Z"),
                           exposure("u1", "free-shipping", "2025-01-01T00:00:00Z"),
                           exposure("u1", "pct10", "2025-01-01T12:00:00Z"),
                           exposure("u2", "pct10", "2025-01-01T00:00:00Z")])
    assert r["inserted_exposures"] == 2
    assert stored(client) == {"u1": "free-shipping", "u2": "pct10"}
    assert conflicts(client) == [(COUPON, "u1", "pct10", "2025-01-01 12:00:00", "sdk")]
    # the first-exposure map agrees with the table: assign answers the stored variant
    m = client.app.state.service.sticky.get(COUPON)
    variants = client.app.state.service.catalog.experiments[COUPON].variant_keys
    assert variants[m.get("u1")] == "free-shipping"


def test_assigned_user_reported_in_another_variant(client, keys):
    sdk = keys["sdk"]
    served = None
    for i in range(200):  # a user inside the coupon experiment's targeting and traffic
        r = client.post("/v1/assign", json={"user_id": f"a{i}", "experiment": COUPON,
                                            "attributes": {"country": "US"}}, headers=bearer(sdk))
        assert r.status_code == 200, r.text
        got = {a["experiment"]: a["variant"] for a in r.json()["assignments"]}.get(COUPON)
        if got is not None:
            user, served = f"a{i}", got
            break
    assert served is not None
    client.app.state.service.writer.flush()
    other = next(v for v in ("no-coupon", "pct10", "free-shipping") if v != served)
    post(client, sdk, [exposure(user, served, None), exposure(user, other, None)])
    assert stored(client)[user] == served
    assert [(c[1], c[2]) for c in conflicts(client)] == [(user, other)]


def _table(rows) -> pa.Table:
    k, u, v, t, s = zip(*rows)
    return pa.table({"experiment_key": list(k), "user_id": list(u), "variant": list(v),
                     "ts": pa.array(list(t), pa.timestamp("us")), "source": list(s),
                     "propensity": pa.array([None] * len(k), pa.float64()),
                     "context_json": pa.array([None] * len(k), pa.string())}, schema=EXPOSURE_SCHEMA)


def test_writer_records_conflicts_in_group_commits(tmp_path):
    path = tmp_path / "w.duckdb"
    build_registry(path)
    reg = Registry.open(path)
    writer = Writer(reg, exposure_linger=0.05)
    writer.start()
    try:
        t0 = datetime(2025, 1, 1)
        t1 = datetime(2025, 1, 2)
        # fire-and-forget exposures (the assign path) and acknowledged jobs, possibly in one group
        writer.record_exposure(COUPON, "f1", "pct10", int(t0.timestamp() * 1e6))
        writer.record_exposures(_table([(COUPON, "f2", "pct10", t0, "bulk")]))
        first = writer.submit(None, _table([(COUPON, "j1", "no-coupon", t0, "a"), (COUPON, "j1", "pct10", t1, "a")]))
        second = writer.submit(None, _table([(COUPON, "j1", "free-shipping", t1, "b"), (COUPON, "f1", "no-coupon", t1, "b"),
                                             (COUPON, "f2", "pct10", t1, "b")]))
        assert first.result(10).exposures == 1
        assert second.result(10).exposures == 0
        writer.flush()
        # replaying everything adds nothing
        again = writer.submit(None, _table([(COUPON, "j1", "no-coupon", t0, "a"), (COUPON, "j1", "pct10", t1, "a"),
                                            (COUPON, "j1", "free-shipping", t1, "b"), (COUPON, "f1", "no-coupon", t1, "b")]))
        assert again.result(10).exposures == 0
    finally:
        writer.stop()
    rows = reg.query("SELECT user_id, variant_key, source FROM exposure_conflicts ORDER BY ALL")
    assert rows.values.tolist() == [["f1", "no-coupon", "b"], ["j1", "free-shipping", "b"], ["j1", "pct10", "a"]]
    stored_rows = reg.query("SELECT user_id, variant_key FROM exposures ORDER BY user_id").values.tolist()
    assert stored_rows == [["f1", "pct10"], ["f2", "pct10"], ["j1", "no-coupon"]]
    reg.close()
