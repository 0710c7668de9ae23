"""Conversion windows: a metric counts only the events in [first exposure + delay, first
exposure + delay + window), as GrowthBook's conversion windows do, and a user whose window
has not closed yet is left out of that metric (so n can differ between metrics) and
counted in the report's ``window_open`` per metric and variant.

The analysis time ("as of") is the latest time the data holds, not the wall clock: for a
registry experiment its latest first exposure or an exposed user's latest event
(``promolab.analysis.sql.clock_cte``), for an event-level table its latest exposure or
event time. A window is closed when first exposure + delay + window <= as of: data past
its end has arrived, so every event inside it has. The same data then gives the same
report whenever and wherever it runs (the registry, a Parquet copy, a warehouse), and a
late or stalled feed leaves windows open instead of counting missing conversions as none.

A ratio metric counts the users whose numerator and denominator windows have both closed.

Per-user relations carry an open window as an empty (NULL) value of the metric's columns
(``ColumnMetric.windowed``), which is how ``analyze-table`` reads a per-user table that is
already windowed (``COL:mean:windowed``); an event-level table (``--exposure-ts COL
--event-ts COL``, one row per event or exposure of a user) is turned into such a relation
here, with one window for every metric (``--window-hours``, ``--delay-hours``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import pandas as pd

from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.sql import AS_OF, hours_after, quote
from promolab.analysis.sufficient import VariantStats
from promolab.errors import InputError
from promolab.spec.load import MAX_WINDOW_HOURS

EVENT_USERS = "event_users"  # the per-user relation made from an event-level table
FIRST_EXPOSURE = "__first_exposed_at"
TIME_TYPES = ("TIMESTAMP", "DATE")  # column types (any engine, any case) an event-level table's times may have


@dataclass(frozen=True)
class EventColumns:
    """An event-level table: each row an event (or, with an empty event time, an exposure) of
    a user; the user's first exposure is the earliest ``exposure_ts`` on their rows. With
    ``window_hours`` every metric counts only events in its conversion window."""

    exposure_ts: str
    event_ts: str
    window_hours: int | None = None
    delay_hours: int = 0

    def __post_init__(self) -> None:
        for name, low in (("window_hours", 1), ("delay_hours", 0)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_WINDOW_HOURS:
                raise InputError(f"table.{name}", value,
                                 f"a whole number of hours in [{low}, {MAX_WINDOW_HOURS}] (at most 365 days)")
        if self.delay_hours and self.window_hours is None:
            raise InputError("table.delay_hours", self.delay_hours,
                             "a window as well (--window-hours: the delay shifts a conversion window)")

    def metrics(self, metrics: Sequence[ColumnMetric]) -> tuple[ColumnMetric, ...]:
        """The metrics as columns of the windowed per-user relation."""
        if self.window_hours is None:
            return tuple(metrics)
        return tuple(replace(m, windowed=True, window_hours=self.window_hours, delay_hours=self.delay_hours)
                     for m in metrics)


def event_columns(exposure_ts: str | None, event_ts: str | None, user: str | None,
                  window_hours: int | None = None, delay_hours: int = 0) -> EventColumns | None:
    """The event-level columns of an ``analyze-table`` input, or None for a per-user table
    (which takes no window: it is windowed already or not at all)."""
    if exposure_ts is None and event_ts is None:
        if window_hours is not None or delay_hours:
            field, value = ("table.window_hours", window_hours) if window_hours is not None else (
                "table.delay_hours", delay_hours)
            raise InputError(field, value, "event-level input (--exposure-ts COL --event-ts COL) to window; "
                                           "a per-user table already windowed takes COL:kind:windowed")
        return None
    if exposure_ts is None or event_ts is None:
        missing = "table.exposure_ts" if exposure_ts is None else "table.event_ts"
        raise InputError(missing, None, "both the exposure-time and the event-time columns of event-level input")
    if user is None:
        raise InputError("table.user", None, "the user-id column of event-level input (events are summed per user)")
    return EventColumns(exposure_ts, event_ts, window_hours, delay_hours)


def check_times(types: Mapping[str, str], events: EventColumns, source: str) -> None:
    """Both time columns exist and hold timestamps (or dates)."""
    for field, column in (("table.exposure_ts", events.exposure_ts), ("table.event_ts", events.event_ts)):
        if column not in types:
            raise InputError(field, column, f"a column of {source} ({', '.join(types)})")
        if not any(t in types[column].upper() for t in TIME_TYPES):
            raise InputError(f"column {column}", types[column], "a timestamp column (e.g. 2025-03-01 12:00:00)")


def missing_exposure_sql(relation: str, user: str, variant: str, events: EventColumns) -> str:
    """The first user (and variant) with no exposure time on any of their rows."""
    u, v, x = quote(user), quote(variant), quote(events.exposure_ts)
    return (f"SELECT CAST({u} AS VARCHAR) AS u FROM {quote(relation)} WHERE {u} IS NOT NULL AND {v} IS NOT NULL "
            f"GROUP BY {u}, {v} HAVING MAX({x}) IS NULL LIMIT 1")


def event_users_ctes(relation: str, user: str, variant: str, events: EventColumns,
                     metrics: Sequence[ColumnMetric], carried: Sequence[str]) -> list[str]:
    """CTE definitions ending in ``event_users``: one row per (user, variant) of the
    event-level ``relation`` with each metric column summed (a binomial column: its maximum)
    over the user's events at or after first exposure and inside the window (NULL while the
    window is open), and the ``carried`` user-level columns (covariates, segments, flags:
    one value per user, the largest taken). ``ev_clock`` holds the table's ``as_of``."""
    rel, u, v = quote(relation), quote(user), quote(variant)
    x, t, first = quote(events.exposure_ts), f"r.{quote(events.event_ts)}", f"f.{quote(FIRST_EXPOSURE)}"
    binary = {m.column for m in metrics if m.kind == "binomial"}
    values = list(dict.fromkeys(c for m in metrics for c in m.columns))
    inside = f"{t} >= {first}"
    if events.window_hours is not None:
        end = events.delay_hours + events.window_hours
        if events.delay_hours:
            inside = f"{t} >= {hours_after(first, events.delay_hours)}"
        inside += f" AND {t} < {hours_after(first, end)}"
    cols = []
    for c in values:
        value = (f"{'MAX' if c in binary else 'SUM'}(CASE WHEN {inside} THEN "
                 f"COALESCE(CAST(r.{quote(c)} AS DOUBLE), 0) ELSE 0 END)")
        if events.window_hours is not None:
            value = f"CASE WHEN {hours_after(first, end)} <= c.{quote(AS_OF)} THEN {value} END"
        cols.append(f"{value} AS {quote(c)}")
    cols += [f"MAX(r.{quote(c)}) AS {quote(c)}" for c in dict.fromkeys(carried) if c not in (*values, user, variant)]
    select = ",\n    ".join([f"f.{u}", f"f.{v}"] + cols)
    return [
        f"ev_first AS (\n  SELECT {u}, {v}, MIN({x}) AS {quote(FIRST_EXPOSURE)} FROM {rel}\n"
        f"  WHERE {u} IS NOT NULL AND {v} IS NOT NULL GROUP BY {u}, {v}\n)",
        f"ev_clock AS (\n  SELECT MAX(CASE WHEN {quote(events.event_ts)} > {x} THEN {quote(events.event_ts)} "
        f"ELSE {x} END) AS {quote(AS_OF)} FROM {rel}\n)",
        f"{EVENT_USERS} AS (\n  SELECT\n    {select}\n  FROM ev_first f CROSS JOIN ev_clock c\n"
        f"  JOIN {rel} r ON r.{u} = f.{u} AND r.{v} = f.{v}\n"
        f"  GROUP BY f.{u}, f.{v}, {first}, c.{quote(AS_OF)}\n)",
    ]


def ready_metrics(metrics: Sequence[ColumnMetric], stats: Mapping[str, VariantStats]
                  ) -> tuple[list[ColumnMetric], tuple[str, ...]]:
    """The metrics to analyse and a note per secondary metric left out because fewer than 2
    users of some variant have a closed window yet. The primary metric and guardrails stay
    (the analysis then refuses them by name: no verdict without them)."""
    primary = next((m for m in metrics if not m.guardrail), None)
    waiting = [m for m in metrics if m.windowed and m is not primary and not m.guardrail
               and any(s.metrics[m.name].n < 2 for s in stats.values())]
    notes = tuple(f"{m.title}: not analysed yet: fewer than 2 users in a variant have a closed conversion window "
                  f"({', '.join(f'{v} {s.metrics[m.name].n:,}' for v, s in stats.items())})" for m in waiting)
    return [m for m in metrics if m not in waiting], notes


def _describe(m: ColumnMetric) -> str:
    if m.window_hours is not None:
        delay = f", after a {m.delay_hours} h delay" if m.delay_hours else ""
        return f"{m.window_hours} h conversion window from first exposure{delay}"
    if m.kind == "ratio":
        return "counted where the numerator's and denominator's conversion windows have closed"
    return "conversion window (an empty value marks one still open)"


def window_notes(metrics: Sequence[ColumnMetric], stats: Mapping[str, VariantStats], as_of: Any = None
                 ) -> tuple[str, ...]:
    """One line per windowed metric: its window and the users left out per variant."""
    when = "" if as_of is None or pd.isna(as_of) else (f" at {pd.Timestamp(as_of)} (the latest exposure or event "
                                                         "in the data)")
    notes = []
    for m in metrics:
        if not m.windowed:
            continue
        left = {v: s.n - s.metrics[m.name].n for v, s in stats.items()}
        if sum(left.values()):
            per = ", ".join(f"{v} {n:,}" for v, n in left.items())
            notes.append(f"{m.title}: {_describe(m)}; {sum(left.values()):,} users whose window was still open"
                         f"{when} are not counted ({per})")
        else:
            notes.append(f"{m.title}: {_describe(m)}; every user's window had closed{when}")
    return tuple(notes)
