"""The DuckDB registry: migrations, life cycle, idempotent and atomic ingestion."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from promolab.errors import InputError, StateError
from promolab.store import LATEST_VERSION, Registry, events_batch, exposures_batch




def test_schema_version_recorded(registry: Registry) -> None:
    assert registry.query("SELECT MAX(version) AS v FROM schema_version").v[0] == LATEST_VERSION


def test_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    Registry.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (99, 'from the future', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(StateError, match="schema version 99 is newer"):
        Registry(path)


def test_one_connection_per_process(tmp_path: Path) -> None:
    a = Registry.open(tmp_path / "x.duckdb")
    assert Registry.open(str(tmp_path / "x.duckdb")) is a
    a.close()


def test_env_var_sets_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOLAB_DB", str(tmp_path / "env.duckdb"))
    reg = Registry.open()
    assert reg.path == (tmp_path / "env.duckdb").resolve()
    reg.close()


def test_create_and_read_back(registry: Registry, coupon) -> None:
    registry.create_experiment(coupon)
    assert registry.get_experiment(coupon.key) == coupon
    assert registry.status(coupon.key) == "draft"
    assert registry.query("SELECT COUNT(*) AS n FROM variants").n[0] == 3


def test_duplicate_key_refused_and_nothing_written(registry: Registry, coupon) -> None:
    registry.create_experiment(coupon)
    with pytest.raises(InputError, match="key: got 'checkout-coupon'"):
        registry.create_experiment(coupon)
    assert registry.query("SELECT COUNT(*) AS n FROM variants").n[0] == 3


def test_life_cycle_and_history(registry: Registry, coupon) -> None:
    registry.create_experiment(coupon, by="ann")
    registry.set_status(coupon.key, "running", by="ann", reason="go")
    registry.set_status(coupon.key, "paused", by="bob", reason="bug")
    registry.set_status(coupon.key, "running", by="bob")
    registry.ramp(coupon.key, 80, by="bob")
    registry.set_status(coupon.key, "stopped", by="ann", reason="done")
    history = registry.status_history(coupon.key)
    assert [h.to_status for h in history] == ["draft", "running", "paused", "running", "running", "stopped"]
    assert history[2].changed_by == "bob" and history[2].reason == "bug"
    assert history[4].coverage == 0.8
    assert registry.get_experiment(coupon.key).coverage == 0.8


@pytest.mark.parametrize(("path", "target"), [([], "paused"), ([], "stopped"), (["stopped"], "running")])
def test_illegal_transitions_refused(registry: Registry, coupon, path, target) -> None:
    registry.create_experiment(coupon)
    if target == "stopped":
        registry.set_status(coupon.key, "stopped")
        target = "running"
    for step in path:
        registry.set_status(coupon.key, step)
    before = registry.status_history(coupon.key)
    with pytest.raises(StateError, match="cannot go from"):
        registry.set_status(coupon.key, target)
    assert registry.status_history(coupon.key) == before


def test_unknown_experiment_named(registry: Registry) -> None:
    with pytest.raises(InputError, match="experiment: got 'nope'"):
        registry.get_experiment("nope")


def _events(ids: list[str], value: float = 1.0) -> pd.DataFrame:
    return events_batch(pd.DataFrame({"event_id": ids, "user_id": [f"u{i}" for i in ids], "event": "order",
                                      "value": value, "ts": "2024-05-01T10:00:00Z"}))


def test_event_ingestion_is_idempotent(registry: Registry) -> None:
    first = registry.ingest_events(_events(["1", "2", "3"]))
    again = registry.ingest_events(_events(["2", "3", "4"]))
    assert (first.inserted, again.inserted, again.duplicates) == (3, 1, 2)
    assert registry.query("SELECT COUNT(*) AS n FROM events").n[0] == 4


def test_same_event_id_from_two_sources_is_two_events(registry: Registry) -> None:
    registry.ingest_events(_events(["1"]), source="web")
    registry.ingest_events(_events(["1"]), source="app")
    assert registry.query("SELECT COUNT(*) AS n FROM events").n[0] == 2


def test_bad_batch_stores_nothing(registry: Registry) -> None:
    frame = pd.DataFrame({"event_id": ["1", "2"], "user_id": ["a", "b"], "event": "order",
                          "value": [5.0, -1.0], "ts": "2024-05-01"})
    with pytest.raises(InputError, match=r"value \(row 2\): got -1.0"):
        registry.ingest_events(events_batch(frame))
    assert registry.query("SELECT COUNT(*) AS n FROM events").n[0] == 0


def test_failed_write_rolls_back(registry: Registry, coupon) -> None:
    registry.create_experiment(coupon)
    registry.set_status(coupon.key, "running")
    good = exposures_batch(pd.DataFrame({"user_id": ["u1"], "variant": ["pct10"], "ts": ["2024-01-01"]}))
    with pytest.raises(RuntimeError):
        with registry.transaction() as con:
            con.execute("INSERT INTO events VALUES ('s', 'e', 'u', 'x', 1, '2024-01-01')")
            raise RuntimeError("boom")
    assert registry.query("SELECT COUNT(*) AS n FROM events").n[0] == 0
    assert registry.record_exposures(coupon.key, good).inserted == 1


def test_exposures_are_sticky_and_validated(registry: Registry, coupon) -> None:
    registry.create_experiment(coupon)
    batch = exposures_batch(pd.DataFrame({"user_id": ["u1", "u1"], "variant": ["pct10", "no-coupon"],
                                          "ts": ["2024-01-02", "2024-01-01"]}))
    with pytest.raises(StateError, match="draft"):
        registry.record_exposures(coupon.key, batch)
    registry.set_status(coupon.key, "running")
    assert registry.record_exposures(coupon.key, batch).inserted == 1
    later = exposures_batch(pd.DataFrame({"user_id": ["u1"], "variant": ["pct10"], "ts": ["2024-02-01"]}))
    assert registry.record_exposures(coupon.key, later).inserted == 0
    assert registry.query("SELECT variant_key FROM exposures").variant_key.tolist() == ["no-coupon"]
    bad = exposures_batch(pd.DataFrame({"user_id": ["u2"], "variant": ["half-off"], "ts": ["2024-01-01"]}))
    with pytest.raises(InputError, match="variant: got 'half-off'"):
        registry.record_exposures(coupon.key, bad)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("ts", "yesterday", r"ts \(row 1\): got 'yesterday'"), ("user_id", "", r"user_id \(row 1\)")],
)
def test_batch_validation_names_column_row_and_value(column, value, message) -> None:
    frame = pd.DataFrame({"event_id": ["1"], "user_id": ["a"], "event": ["order"], "value": [1.0], "ts": ["2024-01-01"]})
    frame[column] = [value]
    with pytest.raises(InputError, match=message):
        events_batch(frame)


def test_missing_columns_named() -> None:
    with pytest.raises(InputError, match="missing: variant"):
        exposures_batch(pd.DataFrame({"user_id": ["a"], "ts": ["2024-01-01"]}))


def test_attributes_upsert(registry: Registry) -> None:
    registry.set_attributes(pd.DataFrame({"user_id": ["a", "b"], "country": ["US", "DE"], "history": [10.5, 3]}))
    registry.set_attributes(pd.DataFrame({"user_id": ["a"], "country": ["CA"]}))
    rows = registry.query("SELECT * FROM user_attributes ORDER BY user_id, attribute")
    assert rows.shape[0] == 4
    a_country = rows[(rows.user_id == "a") & (rows.attribute == "country")].iloc[0]
    assert a_country.value_text == "CA"
    assert rows[(rows.user_id == "b") & (rows.attribute == "history")].value_num.iloc[0] == 3.0


def test_migration_from_version_1_keeps_data(tmp_path: Path, coupon) -> None:
    from promolab.store import migrations

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL)")
    con.execute(migrations.MIGRATIONS[0].sql)
    con.execute("INSERT INTO schema_version VALUES (1, 'v1', now()::TIMESTAMP)")
    con.execute("INSERT INTO events VALUES ('s', 'e1', 'u', 'order', 2.5, '2024-01-01')")
    con.close()
    reg = Registry(path)
    assert reg.query("SELECT MAX(version) AS v FROM schema_version").v[0] == LATEST_VERSION
    assert reg.query("SELECT COUNT(*) AS n FROM events").n[0] == 1
    assert reg.query("SELECT COUNT(*) AS n FROM bandit_weights").n[0] == 0
    reg.close()


def test_weight_history(registry: Registry, coupon) -> None:
    from datetime import datetime

    registry.create_experiment(coupon)
    assert registry.current_weights(coupon.key) == pytest.approx(dict(zip(coupon.variant_keys, coupon.weights)))
    registry.record_weights(coupon.key, {"no-coupon": 0.2, "pct10": 0.5, "free-shipping": 0.3}, "thompson",
                            at=datetime(2024, 1, 1))
    registry.record_weights(coupon.key, {"no-coupon": 0.1, "pct10": 0.7, "free-shipping": 0.2}, "thompson",
                            at=datetime(2024, 1, 2))
    assert registry.current_weights(coupon.key) == pytest.approx({"no-coupon": 0.1, "pct10": 0.7, "free-shipping": 0.2})
    assert len(registry.weight_history(coupon.key)) == 6
    with pytest.raises(InputError, match="weights"):
        registry.record_weights(coupon.key, {"no-coupon": 0.5, "pct10": 0.6, "free-shipping": 0.0}, "thompson")


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**9),
                              st.sampled_from(["", "x", "1.5", None])), min_size=1, max_size=20),
)
def test_event_validation_property(values) -> None:
    """A batch is accepted iff every value is a finite number >= 0; otherwise the error names
    the first bad row and its value."""
    frame = pd.DataFrame({"event_id": [str(i) for i in range(len(values))], "user_id": "u", "event": "order",
                          "value": pd.Series(values, dtype=object), "ts": "2024-01-01"})
    numeric = pd.to_numeric(frame["value"], errors="coerce")
    bad = [i for i, v in enumerate(numeric) if not (pd.notna(v) and 0 <= v < float("inf"))]
    if not bad:
        out = events_batch(frame)
        assert out["value"].tolist() == [float(v) for v in numeric]
    else:
        with pytest.raises(InputError) as info:
            events_batch(frame)
        assert info.value.field == f"value (row {bad[0] + 1})"
