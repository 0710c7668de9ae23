"""Storing exposures: each user's first exposure sticks, and exposures to other variants are kept as evidence.

``exposures`` holds one row per (experiment, user): the earliest exposure (by time,
then variant key, so ties resolve the same way everywhere) of the first batch that
named the user. A user later (or in the same batch) exposed to a *different* variant
is a cross-variant user - typically a broken SDK showing two offers. Each such
(experiment, user, other variant) is stored once in ``exposure_conflicts``, with the
earliest time and source of that variant in the batch that first showed it.
Re-exposures to the stored variant (sticky assignment) are normal and not recorded.

Both writers (``Registry.record_exposures`` and the service's writer thread) run
:func:`insert_exposures` inside their transaction, on a registered table with columns
experiment_key, user_id, variant, ts, source, propensity, context_json. Replaying a batch
adds nothing.

``propensity`` is the probability with which the assigning policy chose the stored
variant for that user (NULL when unknown, e.g. exposures ingested from a file without
it): the weight of the variant for a split or a bandit, the policy's probability given
the user's context for a contextual experiment. ``context_json`` is that context (the
policy's features, as JSON) for contextual experiments. Off-policy evaluation and the
contextual model updates read them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb

CONFLICTS_TABLE = "exposure_conflicts"

#: users of experiment ``?`` exposed to more than one variant (to exclude them from a report)
CROSS_VARIANT_USERS_SQL = "SELECT DISTINCT user_id FROM exposure_conflicts WHERE experiment_key = ?"

EXPOSURES_SQL = """
INSERT INTO exposures (experiment_key, user_id, variant_key, first_exposed_at, source, propensity, context_json)
SELECT experiment_key, user_id, arg_min(variant, (ts, variant)), MIN(ts), arg_min(source, (ts, variant)),
       arg_min(propensity, (ts, variant)), arg_min(context_json, (ts, variant))
FROM {table} GROUP BY experiment_key, user_id
ON CONFLICT DO NOTHING
"""

# users in the batch, and distinct (user, variant) pairs in it
BATCH_SHAPE_SQL = """
SELECT COUNT(*), COALESCE(SUM(n_variants), 0)
FROM (SELECT COUNT(DISTINCT variant) AS n_variants FROM {table} GROUP BY experiment_key, user_id)
"""

# run after EXPOSURES_SQL, in the same transaction: ``exposures`` then holds every batch user's variant
CONFLICTS_SQL = """
INSERT INTO exposure_conflicts
SELECT b.experiment_key, b.user_id, b.variant, MIN(b.ts), arg_min(b.source, b.ts)
FROM {table} b
JOIN exposures x ON x.experiment_key = b.experiment_key AND x.user_id = b.user_id
WHERE b.variant <> x.variant_key
GROUP BY b.experiment_key, b.user_id, b.variant
ON CONFLICT DO NOTHING
"""


def context_json(context: Mapping[str, Any] | None) -> str | None:
    """The stored form of a decision's context: compact JSON with sorted keys (None stays NULL)."""
    if context is None:
        return None
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":"), allow_nan=False)


def insert_exposures(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Store the first exposures and the cross-variant evidence of ``table``; return the new first exposures.

    The conflict INSERT joins ``exposures``, a scan of the whole table, so it is skipped
    when it cannot find anything: every user of the batch was new (all first exposures
    inserted) and showed one variant only - the common case for the service, which drops
    re-exposures to a user's known variant before they reach the writer.
    """
    inserted = int(con.execute(EXPOSURES_SQL.format(table=table)).fetchall()[0][0])
    users, pairs = con.execute(BATCH_SHAPE_SQL.format(table=table)).fetchall()[0]
    if not inserted == users == pairs:
        con.execute(CONFLICTS_SQL.format(table=table)).fetchall()
    return inserted
