"""Micro-batching of single-user assigns on the event loop.

``promolab.assign.assign`` is vectorised: one call costs about the same for 1 user as for
a few hundred. Requests that arrive together are therefore queued and evaluated in one
call per running experiment on the next turn of the event loop, then each request's
future is resolved. Assignment is a pure function, so the result for each user is the
same as evaluating it alone (``evaluate_each`` falls back to one user at a time when a
batch mixes attribute types a rule cannot compare). Exposures of the whole batch go to
the writer as one fire-and-forget job.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Mapping

import pyarrow as pa

from promolab.errors import InputError
from promolab.service.evaluate import evaluate_each
from promolab.service.writer import EXPOSURE_SCHEMA, WriterStopped

log = logging.getLogger("promolab.service")

Result = list[tuple[str, int]]  # (experiment key, variant index) per assignment


class AssignBatcher:
    def __init__(self, state, max_batch: int = 2048):
        self.state = state
        self.max_batch = max_batch
        self._pending: list[tuple[str, Mapping[str, Any] | None, str | None, bool, asyncio.Future]] = []
        self._scheduled = False

    def assign(self, user_id: str, attributes: Mapping[str, Any] | None, experiment: str | None,
               track: bool) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((user_id, attributes, experiment, track, fut))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        items, self._pending = self._pending, []
        if not items:
            return
        try:
            results = evaluate_items(self.state, [(u, a, e) for u, a, e, _, _ in items])
        except Exception as exc:  # never leave a request hanging
            for *_, fut in items:
                if not fut.done():
                    fut.set_exception(exc)
            return
        tracked = [(items[i][0], res) for i, res in enumerate(results)
                   if items[i][3] and not isinstance(res, InputError)]
        record_exposures(self.state, tracked)
        for (*_, fut), res in zip(items, results):
            if fut.done():  # cancelled (client went away)
                continue
            if isinstance(res, InputError):
                fut.set_exception(res)
            else:
                fut.set_result(res)


def evaluate_items(state, items: list[tuple[str, Mapping[str, Any] | None, str | None]]) -> list[Result | InputError]:
    """Assignments for (user_id, attributes, experiment or None for all running) items."""
    catalog = state.catalog
    out: list[Result | InputError] = [[] for _ in items]
    for running in catalog.running:
        idx = [i for i, (_, _, e) in enumerate(items) if e is None or e == running.key]
        if not idx:
            continue
        values = evaluate_each(running, [items[i][0] for i in idx], [items[i][1] for i in idx])
        for i, v in zip(idx, values):
            if isinstance(out[i], InputError):
                continue
            if isinstance(v, InputError):
                out[i] = v
            elif v >= 0:
                out[i].append((running.key, v))
    return out


def record_exposures(state, tracked: list[tuple[str, Result]]) -> None:
    """Queue first-exposure rows for assignments that were served (no wait for commit)."""
    users, keys, variants = [], [], []
    catalog = state.catalog
    for user_id, res in tracked:
        for key, index in res:
            users.append(user_id)
            keys.append(key)
            variants.append(catalog.experiments[key].variants[index].key)
    if not users:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    table = pa.table({"experiment_key": keys, "user_id": users, "variant": variants,
                      "ts": pa.array([now] * len(users), pa.timestamp("us")), "source": ["assign"] * len(users)},
                     schema=EXPOSURE_SCHEMA)
    try:
        state.writer.record_exposures(table)
    except WriterStopped:
        log.warning("writer stopped: %d exposures not recorded", len(users))
