"""Cross-variant exposures: the first exposure sticks, exposures to other variants are kept as evidence."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from promolab.spec import load_experiment
from promolab.store import (CONFLICTS_TABLE, CROSS_VARIANT_USERS_SQL, LATEST_VERSION, ExposureHealth, Registry,
                            exposures_batch)
from promolab.store import migrations
from promolab.store.exposures import insert_exposures
from promolab.store.migrations import registered

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("no-coupon", "pct10", "free-shipping")


@pytest.fixture
def coupon():
    return load_experiment(ROOT / "experiments" / "checkout-coupon.toml")


@pytest.fixture
def registry(tmp_path: Path, coupon) -> Registry:
    reg = Registry.open(tmp_path / "r.duckdb")
    reg.create_experiment(coupon)
    reg.set_status(coupon.key, "running")
    yield reg
    reg.close()


def batch(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return exposures_batch(pd.DataFrame(rows, columns=["user_id", "variant", "ts"]))


def conflicts(reg: Registry) -> list[tuple]:
    return [tuple(r) for r in reg.query(
        "SELECT experiment_key, user_id, variant_key, exposed_at::VARCHAR, source FROM exposure_conflicts "
        "ORDER BY ALL").itertuples(index=False)]


def stored(reg: Registry) -> dict[str, str]:
    rows = reg.query("SELECT user_id, variant_key FROM exposures")
    return dict(zip(rows.user_id, rows.variant_key))


def test_schema_is_as_documented(registry: Registry) -> None:
    cols = registry.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'exposure_conflicts' ORDER BY ordinal_position")
    assert cols.values.tolist() == [["experiment_key", "VARCHAR", "NO"], ["user_id", "VARCHAR", "NO"],
                                    ["variant_key", "VARCHAR", "NO"], ["exposed_at", "TIMESTAMP", "NO"],
                                    ["source", "VARCHAR", "NO"]]
    assert CONFLICTS_TABLE == "exposure_conflicts"
    assert registry.query("SELECT MAX(version) AS v FROM schema_version").v[0] == LATEST_VERSION == 6


def test_conflict_in_one_batch(registry: Registry, coupon) -> None:
    result = registry.record_exposures(coupon.key, batch(
        ("u1", "pct10", "2024-01-02"), ("u1", "no-coupon", "2024-01-01"), ("u1", "pct10", "2024-01-03"),
        ("u1", "no-coupon", "2024-01-04"), ("u2", "pct10", "2024-01-01")), source="sdk")
    assert result.inserted == 2
    assert stored(registry) == {"u1": "no-coupon", "u2": "pct10"}  # the earliest sticks, as before
    assert conflicts(registry) == [(coupon.key, "u1", "pct10", "2024-01-02 00:00:00", "sdk")]


def test_conflict_across_batches(registry: Registry, coupon) -> None:
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01"), ("u2", "pct10", "2024-01-01")))
    result = registry.record_exposures(coupon.key, batch(
        ("u1", "free-shipping", "2024-01-05"), ("u1", "free-shipping", "2024-01-03"), ("u1", "no-coupon", "2024-01-04"),
        ("u2", "pct10", "2024-01-06"), ("u3", "no-coupon", "2024-01-06")), source="app")
    assert result.inserted == 1  # u3
    assert stored(registry) == {"u1": "pct10", "u2": "pct10", "u3": "no-coupon"}
    assert conflicts(registry) == [(coupon.key, "u1", "free-shipping", "2024-01-03 00:00:00", "app"),
                                   (coupon.key, "u1", "no-coupon", "2024-01-04 00:00:00", "app")]
    # an exposure earlier than the stored one, in a later batch, is still a conflict: the stored one sticks
    registry.record_exposures(coupon.key, batch(("u2", "no-coupon", "2023-12-01")))
    assert stored(registry)["u2"] == "pct10"
    assert (coupon.key, "u2", "no-coupon", "2023-12-01 00:00:00", "cli") in conflicts(registry)


def test_replay_adds_nothing(registry: Registry, coupon) -> None:
    first = batch(("u1", "pct10", "2024-01-01"), ("u1", "no-coupon", "2024-01-02"))
    second = batch(("u1", "free-shipping", "2024-01-03"), ("u2", "pct10", "2024-01-03"), ("u2", "no-coupon", "2024-01-04"))
    registry.record_exposures(coupon.key, first)
    registry.record_exposures(coupon.key, second)
    before = (stored(registry), conflicts(registry))
    assert len(before[1]) == 3
    for b in (first, second, pd.concat([first, second])):
        assert registry.record_exposures(coupon.key, b).inserted == 0
    # the same conflicting variant seen again later (another time, another source) is not a new row
    registry.record_exposures(coupon.key, batch(("u1", "no-coupon", "2024-03-01")), source="other")
    assert (stored(registry), conflicts(registry)) == before


def test_same_variant_re_exposure_is_not_a_conflict(registry: Registry, coupon) -> None:
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01"), ("u1", "pct10", "2024-01-02")))
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-02-01"), ("u1", "pct10", "2023-01-01")))
    assert conflicts(registry) == []
    health = registry.exposure_health(coupon.key)
    assert health == ExposureHealth(coupon.key, 1, 0, dict.fromkeys(VARIANTS, 0), dict.fromkeys(VARIANTS, 0))
    assert health.healthy and health.cross_variant_share == 0.0


def test_tied_times_resolve_by_variant_key(registry: Registry, coupon) -> None:
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01"), ("u1", "free-shipping", "2024-01-01")))
    assert stored(registry) == {"u1": "free-shipping"}
    assert [c[2] for c in conflicts(registry)] == ["pct10"]


def test_experiments_are_separate(registry: Registry, coupon, tmp_path: Path) -> None:
    from dataclasses import replace

    other = replace(coupon, key="other-coupon")
    registry.create_experiment(other)
    registry.set_status(other.key, "running")
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01")))
    registry.record_exposures(other.key, batch(("u1", "no-coupon", "2024-01-01")))
    assert conflicts(registry) == []


def test_exposure_health_and_accessors(registry: Registry, coupon) -> None:
    registry.record_exposures(coupon.key, batch(
        ("u1", "pct10", "2024-01-01"), ("u2", "pct10", "2024-01-01"), ("u3", "no-coupon", "2024-01-01"),
        ("u4", "free-shipping", "2024-01-01"), ("u1", "no-coupon", "2024-01-02")))
    registry.record_exposures(coupon.key, batch(
        ("u1", "free-shipping", "2024-01-03"), ("u3", "pct10", "2024-01-03"), ("u4", "free-shipping", "2024-01-03")))
    health = registry.exposure_health(coupon.key)
    assert health == ExposureHealth(
        experiment_key=coupon.key, users=4, cross_variant_users=2,
        cross_variant_by_stored_variant={"no-coupon": 1, "pct10": 1, "free-shipping": 0},
        conflicts_by_variant={"no-coupon": 1, "pct10": 1, "free-shipping": 1})
    assert not health.healthy and health.cross_variant_share == 0.5
    assert health.cross_variant_seen_by_variant == {"no-coupon": 2, "pct10": 2, "free-shipping": 1}
    assert registry.cross_variant_users(coupon.key) == {"u1", "u3"}
    frame = registry.exposure_conflicts(coupon.key)
    assert list(frame.columns) == ["user_id", "stored_variant", "first_exposed_at", "variant_key", "exposed_at",
                                   "source"]
    assert frame[["user_id", "stored_variant", "variant_key"]].values.tolist() == [
        ["u1", "pct10", "no-coupon"], ["u1", "pct10", "free-shipping"], ["u3", "no-coupon", "pct10"]]
    # the analysis's exclusion SQL works as written
    kept = registry.query(
        "SELECT user_id FROM exposures WHERE experiment_key = ? AND user_id NOT IN "
        "(SELECT user_id FROM exposure_conflicts WHERE experiment_key = ?) ORDER BY user_id", [coupon.key, coupon.key])
    assert kept.user_id.tolist() == ["u2", "u4"]
    assert sorted(registry.query(CROSS_VARIANT_USERS_SQL, [coupon.key]).user_id) == ["u1", "u3"]


def test_exposure_health_of_unknown_experiment(registry: Registry) -> None:
    from promolab.errors import InputError

    with pytest.raises(InputError):
        registry.exposure_health("nope")


def test_conflicts_export_to_parquet(registry: Registry, coupon, tmp_path: Path) -> None:
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01"), ("u1", "no-coupon", "2024-01-02")))
    out = tmp_path / "exposure_conflicts.parquet"
    registry.query(f"COPY (SELECT * FROM exposure_conflicts) TO '{out}' (FORMAT parquet)")
    back = duckdb.sql(f"SELECT * FROM '{out}'").df()
    assert back[["experiment_key", "user_id", "variant_key", "source"]].values.tolist() == [
        [coupon.key, "u1", "no-coupon", "cli"]]
    assert str(back.exposed_at.dtype).startswith("datetime64")


def test_insert_exposures_on_a_multi_experiment_table(registry: Registry, coupon) -> None:
    """The writer's path: one table with experiment_key and source columns; the join is skipped or not."""
    def table(rows):
        k, u, v, t, s = zip(*rows)
        return pa.table({"experiment_key": list(k), "user_id": list(u), "variant": list(v),
                         "ts": pa.array(pd.to_datetime(list(t)), pa.timestamp("us")), "source": list(s),
                         "propensity": [0.25 if x == "2024-01-01" else 0.5 for x in t],
                         "context_json": pa.array([None] * len(rows), pa.string())})

    new_only = table([(coupon.key, f"n{i}", VARIANTS[i % 3], "2024-01-01", "w") for i in range(30)])
    mixed = table([(coupon.key, "n0", "no-coupon", "2024-01-02", "w"), (coupon.key, "n1", "no-coupon", "2024-01-02", "w"),
                   (coupon.key, "m", "pct10", "2024-01-02", "w2"), (coupon.key, "m", "no-coupon", "2024-01-01", "w2")])
    with registry.transaction() as con:
        with registered(con, "t1", new_only) as t:
            assert insert_exposures(con, t) == 30
        with registered(con, "t2", mixed) as t:
            assert insert_exposures(con, t) == 1
    assert conflicts(registry) == [(coupon.key, "m", "pct10", "2024-01-02 00:00:00", "w2"),
                                   (coupon.key, "n1", "no-coupon", "2024-01-02 00:00:00", "w")]
    # the stored propensity is the one of the first exposure's row
    first = registry.query("SELECT user_id, propensity FROM exposures WHERE user_id IN ('m', 'n0')")
    assert dict(zip(first.user_id, first.propensity)) == {"m": 0.25, "n0": 0.25}


def test_failed_transaction_keeps_no_conflict(registry: Registry, coupon) -> None:
    registry.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01")))
    frame = batch(("u1", "no-coupon", "2024-01-02")).assign(experiment_key=coupon.key, source="x", propensity=0.5,
                                                             context_json=None)
    with pytest.raises(RuntimeError):
        with registry.transaction() as con:
            with registered(con, "b", frame) as t:
                insert_exposures(con, t)
            raise RuntimeError("boom")
    assert conflicts(registry) == []


def test_migration_from_version_3(tmp_path: Path, coupon) -> None:
    """A file at the previous schema version (3) opens, migrates forward, and keeps its data."""
    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL)")
    for m in migrations.MIGRATIONS:
        if m.version <= 3:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [m.version, m.description])
    assert {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()} >= {
        "exposures", "api_keys"}
    assert not con.execute("SELECT COUNT(*) FROM information_schema.tables "
                           "WHERE table_name = 'exposure_conflicts'").fetchall()[0][0]
    con.close()

    reg = Registry.open(path)
    try:
        reg.create_experiment(coupon)
        reg.set_status(coupon.key, "running")
        reg.record_exposures(coupon.key, batch(("u1", "pct10", "2024-01-01")))
        reg.close()
        # reopening at the latest version applies nothing again
        reg = Registry.open(path)
        assert reg.query("SELECT version FROM schema_version ORDER BY version").version.tolist() == [1, 2, 3, 4, 5, 6]
        assert reg.exposure_health(coupon.key).users == 1
        reg.record_exposures(coupon.key, batch(("u1", "no-coupon", "2024-01-02")))
        assert reg.cross_variant_users(coupon.key) == {"u1"}
    finally:
        reg.close()
