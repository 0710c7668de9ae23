"""Validate and normalise ingestion batches before anything is written.

A batch with any bad row is rejected whole, with the first problem named by column,
row and value.
"""

from __future__ import annotations

import pandas as pd

from promolab.errors import InputError

EXPOSURE_COLUMNS = ("user_id", "variant", "ts")
EVENT_COLUMNS = ("event_id", "user_id", "event", "value", "ts")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError("columns", sorted(frame.columns), f"columns {', '.join(columns)} "
                         f"(missing: {', '.join(missing)})", source=source)


def _no_blank(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    blank = values.isna() | (values.astype(str).str.strip() == "")
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        raise InputError(f"{column} (row {row + 1})", values.iloc[row], "a non-empty value", source=source)
    return values.astype(str)


def _timestamps(frame: pd.DataFrame, source: str) -> pd.Series:
    ts = pd.to_datetime(frame["ts"], errors="coerce", utc=True, format="ISO8601")
    bad = ts.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"ts (row {row + 1})", frame["ts"].iloc[row], "an ISO-8601 timestamp", source=source)
    return ts.dt.tz_localize(None).astype("datetime64[us]")


def exposures_batch(frame: pd.DataFrame, source: str = "batch") -> pd.DataFrame:
    """Columns user_id, variant, ts (UTC) as strings and timestamps."""
    _require(frame, EXPOSURE_COLUMNS, source)
    return pd.DataFrame({
        "user_id": _no_blank(frame, "user_id", source),
        "variant": _no_blank(frame, "variant", source),
        "ts": _timestamps(frame, source),
    })


def events_batch(frame: pd.DataFrame, source: str = "batch") -> pd.DataFrame:
    """Columns event_id, user_id, event, value (finite, >= 0), ts (UTC)."""
    _require(frame, EVENT_COLUMNS, source)
    value = pd.to_numeric(frame["value"], errors="coerce")
    bad = value.isna() | ~value.between(0, float("inf"), inclusive="left")  # finite and >= 0
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"value (row {row + 1})", frame["value"].iloc[row], "a finite number >= 0",
                         source=source)
    return pd.DataFrame({
        "event_id": _no_blank(frame, "event_id", source),
        "user_id": _no_blank(frame, "user_id", source),
        "event": _no_blank(frame, "event", source),
        "value": value.astype(float),
        "ts": _timestamps(frame, source),
    })
