"""Ingestion rules settled in issue 12: blank attribute user ids, timestamp bounds shared with
the HTTP API, conflicting repeated event ids, exposures to stopped experiments."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from promolab.cli import run
from promolab.errors import InputError, StateError
from promolab.store import (MAX_EVENT_FUTURE, MIN_EVENT_TS, IngestResult, Registry, check_event_ts, events_batch,
                            exposures_batch)




def _count(registry: Registry, table: str) -> int:
    return int(registry.query(f"SELECT COUNT(*) AS n FROM {table}").n[0])


# -- 3. attributes: a blank user id --------------------------------------------------------


@pytest.mark.parametrize("blank", [None, "", "   ", float("nan")])
def test_attributes_blank_user_id_named(registry: Registry, blank) -> None:
    frame = pd.DataFrame({"user_id": pd.Series(["u1", blank, "u3"], dtype=object), "country": ["DE", "FR", "US"]})
    with pytest.raises(InputError, match=r"^user_id \(row 2\): got .*, expected a non-empty value$"):
        registry.set_attributes(frame)
    assert _count(registry, "user_attributes") == 0


def test_attributes_without_user_id_column(registry: Registry) -> None:
    with pytest.raises(InputError, match=r"^columns: got \['country'\], expected a user_id column"):
        registry.set_attributes(pd.DataFrame({"country": ["DE"]}))


def test_attributes_repeated_user_refused(registry: Registry) -> None:
    """Two rows for one user in one batch are ambiguous (which country?): refused, nothing stored."""
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u1"], "country": ["DE", "US", "FR"]})
    with pytest.raises(InputError, match=r"^attrs.csv: user_id \(row 3\): got 'u1', expected each user once per "
                                         r"batch \(u1 is also on row 1\)$"):
        registry.set_attributes(frame, source="attrs.csv")
    assert _count(registry, "user_attributes") == 0


def test_cli_attributes_blank_user_id_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "attrs.csv"
    path.write_text("user_id,country,age\nu1,DE,30\n,FR,40\n")
    db = tmp_path / "cli.duckdb"
    assert run(["ingest", str(path), "--kind", "attributes", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "user_id (row 2)" in err[0], err
    Registry.close_if_open(db)


# -- 4a. timestamps: the HTTP API's bounds ---------------------------------------------------


def _events(ts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"event_id": [str(i) for i in range(len(ts))], "user_id": "u", "event": "order",
                         "value": 1.0, "ts": ts})


def _exposures(ts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(len(ts))], "variant": "pct10", "ts": ts})


@pytest.mark.parametrize("builder", [lambda ts: events_batch(_events(ts)), lambda ts: exposures_batch(_exposures(ts))])
def test_timestamps_before_2000_refused(builder) -> None:
    with pytest.raises(InputError,
                       match=r"^batch: ts \(row 2\): got '1900-01-01', expected a time on or after 2000-01-01"):
        builder(["2024-01-01", "1900-01-01"])


@pytest.mark.parametrize("builder", [lambda ts: events_batch(_events(ts)), lambda ts: exposures_batch(_exposures(ts))])
def test_timestamps_far_in_the_future_refused(builder) -> None:
    with pytest.raises(InputError, match=r"^batch: ts \(row 1\): got '9999-12-31T00:00:00', expected a time no later "
                                         r"than 24 h after now \("):
        builder(["9999-12-31T00:00:00"])


def test_timestamp_bounds_inclusive_and_in_utc() -> None:
    now = datetime(2025, 6, 1, 12, 0)
    ok = events_batch(_events(["2000-01-01T00:00:00Z", "1999-12-31T23:30:00-01:00", "2025-06-02T12:00:00Z"]),
                      now=now)
    assert ok["ts"].tolist() == [pd.Timestamp("2000-01-01"), pd.Timestamp("2000-01-01T00:30"),
                                 pd.Timestamp("2025-06-02T12:00")]
    with pytest.raises(InputError, match=r"row 1\): got '1999-12-31T23:59:59Z'"):
        events_batch(_events(["1999-12-31T23:59:59Z"]), now=now)
    with pytest.raises(InputError, match=r"row 1\): got '2025-06-02T12:00:01Z'.*\(2025-06-01T12:00:00Z\)"):
        exposures_batch(_exposures(["2025-06-02T12:00:01Z"]), now=now)


@pytest.mark.parametrize(("ts", "expected"), [("9999-12-31T23:59:59-14:00", "no later than 24 h after now"),
                                              ("0001-01-01T00:00:00+14:00", "on or after 2000-01-01")])
def test_times_outside_pythons_range_in_utc(ts: str, expected: str) -> None:
    """In UTC these are years 10000 and 0: still one InputError, not a ValueError."""
    with pytest.raises(InputError, match=expected):
        events_batch(_events([ts]))


def test_one_rule_with_the_http_api() -> None:
    """The service checks event times with the same bounds (until it imports them from the store)."""
    from promolab.service import schemas

    assert MIN_EVENT_TS == schemas.MIN_TS_NAIVE and MAX_EVENT_FUTURE == schemas.MAX_FUTURE
    now = datetime(2025, 6, 1)
    for ts in (datetime(1999, 12, 31), datetime(2000, 1, 1), now + timedelta(hours=24), now + timedelta(hours=25)):
        assert check_event_ts(ts, now) == schemas.check_ts(ts, now)


def test_cli_ingest_year_1900_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.csv"
    path.write_text("event_id,user_id,event,value,ts\n1,u1,order,5,1900-01-01T00:00:00\n")
    db = tmp_path / "cli.duckdb"
    assert run(["ingest", str(path), "--kind", "events", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2000-01-01" in err[0], err
    assert _count(Registry.open(db), "events") == 0
    Registry.close_if_open(db)


# -- 4b. a repeated event id with other content --------------------------------------------


def _batch(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return events_batch(pd.DataFrame({"event_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
                                      "event": "order", "value": [r[2] for r in rows], "ts": "2024-05-01"}))


def test_conflicting_event_id_across_batches_counted_first_kept(registry: Registry) -> None:
    assert registry.ingest_events(_batch([("e1", "u1", 10.0), ("e2", "u2", 5.0)])) == IngestResult(2, 2, 0)
    again = registry.ingest_events(_batch([("e1", "u1", 99.0), ("e2", "u2", 5.0), ("e3", "u3", 1.0)]))
    assert (again.received, again.inserted, again.conflicts, again.duplicates) == (3, 1, 1, 1)
    assert registry.query("SELECT value FROM events WHERE event_id = 'e1'").value.tolist() == [10.0]


def test_conflicting_event_id_within_a_batch_counted_first_row_kept(registry: Registry) -> None:
    result = registry.ingest_events(_batch([("e1", "u1", 10.0), ("e1", "u9", 10.0), ("e1", "u1", 10.0),
                                            ("e2", "u2", 3.0), ("e1", "u1", 7.0)]))
    assert (result.received, result.inserted, result.conflicts, result.duplicates) == (5, 2, 2, 1)
    assert registry.query("SELECT user_id, value FROM events WHERE event_id = 'e1'").values.tolist() == [["u1", 10.0]]


def test_exact_retries_are_duplicates_not_conflicts(registry: Registry) -> None:
    batch = _batch([("e1", "u1", 10.0), ("e2", "u2", 5.0)])
    registry.ingest_events(batch)
    assert registry.ingest_events(batch) == IngestResult(2, 0, 0)
    assert registry.ingest_events(batch, source="other") == IngestResult(2, 2, 0)


# -- 4c. exposures to a stopped experiment ----------------------------------------------------


def test_exposures_to_a_stopped_experiment_refused(registry: Registry, coupon) -> None:
    registry.create_experiment(coupon)
    registry.set_status(coupon.key, "running")
    registry.set_status(coupon.key, "paused")
    assert registry.record_exposures(coupon.key, exposures_batch(_exposures(["2024-05-01"]))).inserted == 1
    registry.set_status(coupon.key, "stopped")
    with pytest.raises(StateError, match=rf"^experiment {coupon.key}: is stopped; exposures of a stopped "
                                         r"experiment are not recorded$"):
        registry.record_exposures(coupon.key, exposures_batch(_exposures(["2024-05-01", "2024-05-02"])))
    assert _count(registry, "exposures") == 1
