"""Storing events: idempotent on (source, event_id), and a repeated id with other content is a conflict.

An event id names one event of its source. The same id again with the same content
(user, event, value) is a retry: not stored, a duplicate - whatever its time, since a
client that sends no time gets the time of receipt, which a retry cannot repeat. The
same id with another user, event or value is a *conflict*: the row stored first is kept
- the registry's, or for an id new to the registry the batch's first row (by
``batch_row``) - and the others are counted, never merged or overwritten.

Writers run :func:`insert_events` inside their transaction, on a registered table with
columns source, event_id, user_id, event, value, ts and ``batch_row`` (any increasing
order of the rows: the first of an id wins).
"""

from __future__ import annotations

import duckdb

EVENTS_SQL = """
INSERT INTO events
SELECT source, event_id, arg_min(user_id, batch_row), arg_min(event, batch_row), arg_min(value, batch_row),
       arg_min(ts, batch_row)
FROM {table} GROUP BY source, event_id
ON CONFLICT DO NOTHING
"""

# distinct ids in the batch, and distinct (id, content) rows
BATCH_SHAPE_SQL = """
SELECT (SELECT COUNT(*) FROM (SELECT DISTINCT source, event_id FROM {table})),
       (SELECT COUNT(*) FROM (SELECT DISTINCT source, event_id, user_id, event, value FROM {table}))
"""

# run after EVENTS_SQL, in the same transaction: ``events`` then holds the kept row of every batch id
CONFLICTS_SQL = """
SELECT COUNT(*) FROM {table} b
JOIN events e ON e.source = b.source AND e.event_id = b.event_id
WHERE b.user_id <> e.user_id OR b.event <> e.event OR b.value <> e.value
"""


def insert_events(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """Store the new events of ``table``; return (rows inserted, rows in conflict).

    The conflict count joins ``events`` (a scan of the table), so it is skipped when it
    cannot find anything: every id of the batch was new and appeared with one content
    only - the common case.
    """
    inserted = int(con.execute(EVENTS_SQL.format(table=table)).fetchall()[0][0])
    ids, contents = con.execute(BATCH_SHAPE_SQL.format(table=table)).fetchall()[0]
    if inserted == ids == contents:
        return inserted, 0
    return inserted, int(con.execute(CONFLICTS_SQL.format(table=table)).fetchall()[0][0])
