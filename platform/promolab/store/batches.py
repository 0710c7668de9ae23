"""Validate and normalise ingestion batches before anything is written.

A batch with any bad row is rejected whole, with the first problem named by column,
row (1 = the first data row) and value.

Event and exposure times follow one rule wherever they enter (CLI ingest, Python API,
HTTP API): on or after ``MIN_EVENT_TS`` (2000-01-01 UTC) and no later than
``MAX_EVENT_FUTURE`` (24 h) after the clock; :func:`check_event_ts` says what is wrong
with one time. Times with an offset are converted to UTC first; times without one are
taken as UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd

from promolab.errors import InputError

EXPOSURE_COLUMNS = ("user_id", "variant", "ts")
EVENT_COLUMNS = ("event_id", "user_id", "event", "value", "ts")

#: the earliest event or exposure time accepted (naive UTC, as the registry stores times)
MIN_EVENT_TS = datetime(2000, 1, 1)
#: how far after the clock an event or exposure time may be (clock skew, time zones)
MAX_EVENT_FUTURE = timedelta(hours=24)


def _too_late(now: datetime) -> str:
    return (f"a time no later than {int(MAX_EVENT_FUTURE.total_seconds() // 3600)} h after now "
            f"({now:%Y-%m-%dT%H:%M:%SZ})")


def _too_early() -> str:
    return f"a time on or after {MIN_EVENT_TS:%Y-%m-%d}"


def check_event_ts(ts: datetime, now: datetime) -> str | None:
    """What is wrong with a (naive UTC) event or exposure time, as the expected-part of an
    error message, or None; ``now`` is naive UTC."""
    if ts > now + MAX_EVENT_FUTURE:
        return _too_late(now)
    if ts < MIN_EVENT_TS:
        return _too_early()
    return None


def _require(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError("columns", sorted(frame.columns), f"columns {', '.join(columns)} "
                         f"(missing: {', '.join(missing)})", source=source)


def no_blank(frame: pd.DataFrame, column: str, source: str | None) -> pd.Series:
    """``column`` as strings; an InputError naming the first empty, blank or null row."""
    values = frame[column]
    blank = values.isna() | (values.astype(str).str.strip() == "")
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        raise InputError(f"{column} (row {row + 1})", values.iloc[row], "a non-empty value", source=source)
    return values.astype(str)


def _timestamps(frame: pd.DataFrame, source: str, now: datetime | None) -> pd.Series:
    ts = pd.to_datetime(frame["ts"], errors="coerce", utc=True, format="ISO8601")
    bad = ts.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"ts (row {row + 1})", frame["ts"].iloc[row], "an ISO-8601 timestamp", source=source)
    ts = ts.dt.tz_localize(None).astype("datetime64[us]")
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    early = ts < MIN_EVENT_TS
    out = early | (ts > now + MAX_EVENT_FUTURE)
    if out.any():  # (in UTC a time can fall outside Python's datetime range: years 0 and 10000)
        row = int(out.to_numpy().nonzero()[0][0])
        raise InputError(f"ts (row {row + 1})", frame["ts"].iloc[row],
                         _too_early() if early.iloc[row] else _too_late(now), source=source)
    return ts


def exposures_batch(frame: pd.DataFrame, source: str = "batch", *, now: datetime | None = None) -> pd.DataFrame:
    """Columns user_id, variant, ts (naive UTC, within the bounds above; ``now``: the clock,
    naive UTC, default the current time) as strings and timestamps, and ``propensity`` when the
    frame has one (a probability in (0, 1] per row)."""
    _require(frame, EXPOSURE_COLUMNS, source)
    out = pd.DataFrame({
        "user_id": no_blank(frame, "user_id", source),
        "variant": no_blank(frame, "variant", source),
        "ts": _timestamps(frame, source, now),
    })
    if "propensity" in frame:
        out["propensity"] = _propensities(frame, source)
    return out


def _propensities(frame: pd.DataFrame, source: str) -> pd.Series:
    """The optional ``propensity`` column: the probability the variant was chosen with, in (0, 1]."""
    p = pd.to_numeric(frame["propensity"], errors="coerce")
    bad = p.isna() | ~((p > 0) & (p <= 1))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"propensity (row {row + 1})", frame["propensity"].iloc[row],
                         "a probability in (0, 1] (the chance the variant was chosen), or no propensity column",
                         source=source)
    return p.astype(float)


def events_batch(frame: pd.DataFrame, source: str = "batch", *, now: datetime | None = None) -> pd.DataFrame:
    """Columns event_id, user_id, event, value (finite, >= 0), ts (naive UTC, within the
    bounds above; ``now`` as for :func:`exposures_batch`)."""
    _require(frame, EVENT_COLUMNS, source)
    value = pd.to_numeric(frame["value"], errors="coerce")
    bad = value.isna() | ~value.between(0, float("inf"), inclusive="left")  # finite and >= 0
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"value (row {row + 1})", frame["value"].iloc[row], "a finite number >= 0",
                         source=source)
    return pd.DataFrame({
        "event_id": no_blank(frame, "event_id", source),
        "user_id": no_blank(frame, "user_id", source),
        "event": no_blank(frame, "event", source),
        "value": value.astype(float),
        "ts": _timestamps(frame, source, now),
    })
