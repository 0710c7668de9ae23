"""Sticky assignment in the service: first-exposure map, then the current weights.

For each running experiment a user is asked about:

1. a user found in the experiment's first-exposure map (``state.sticky``) gets the
   stored variant - whatever the current weights, coverage or targeting say, exactly as
   ``promolab.adaptive.sticky_assign`` answers from the ``exposures`` table;
2. anyone else is hashed into the current weights (one user: the scalar path,
   ``evaluate_one``; a batch: the vectorised path), and when the assign is tracked the
   variant goes into the map *before* its exposure is buffered for the writer, so the
   next request for the user (which may arrive before the commit) sees it.

Everything here runs on the event loop thread (the only mutator of the maps), without
awaiting, so a request's lookups, map updates and exposure buffering are atomic with
respect to other requests.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from promolab.errors import InputError
from promolab.service.evaluate import evaluate_each, evaluate_one
from promolab.service.writer import WriterStopped

log = logging.getLogger("promolab.service")

Result = list[tuple[str, int]]  # (experiment key, variant index) per assignment


def assign_user(state, catalog, user_id: str, attributes: Mapping[str, Any] | None, experiment: str | None,
                track: bool) -> Result:
    """The user's assignments in ``experiment`` (None: every running one); may raise InputError.

    Nothing is recorded unless every experiment evaluated without error.
    """
    if experiment is None:
        chosen = catalog.running
    else:
        one = catalog.by_key.get(experiment)
        chosen = () if one is None else (one,)
    sticky = state.sticky
    out: Result = []
    fresh: list[tuple[Any, str, int]] = []
    for running in chosen:
        key = running.key
        m = sticky.get(key)
        index = m.get(user_id) if m is not None else None
        if index is None:
            index = evaluate_one(running, user_id, attributes)  # may raise InputError
            if index < 0:
                continue
            if track and m is not None:
                fresh.append((m, key, index))
        out.append((key, index))
    if fresh:
        _record(state, catalog, user_id, fresh)
    return out


def _record(state, catalog, user_id: str, fresh: list[tuple[Any, str, int]]) -> None:
    ts = time.time_ns() // 1000
    writer = state.writer
    for m, key, index in fresh:
        m.setdefault(user_id, index)  # looked up just before, in this same synchronous call
        try:
            writer.record_exposure(key, user_id, catalog.experiments[key].variants[index].key, ts)
        except WriterStopped:
            log.warning("writer stopped: exposure of %s to %s not recorded", user_id, key)


def assign_users(state, catalog, users: list[tuple[str, Mapping[str, Any] | None]], experiment: str | None,
                 track: bool) -> list[Result | InputError]:
    """``assign_user`` for a batch: known users from the maps, the rest vectorised.

    When any user's attributes are unusable, that user's entry is its ``InputError`` and
    nothing is recorded for the batch (the route rejects it whole).
    """
    out: list[Result | InputError] = [[] for _ in users]
    fresh: list[tuple[int, Any, str, int]] = []
    for running in catalog.running:
        if experiment is not None and running.key != experiment:
            continue
        key = running.key
        m = state.sticky.get(key)
        known: dict[int, int] = {}
        unknown: list[int] = []
        for i, (u, _) in enumerate(users):
            index = m.get(u) if m is not None else None
            if index is None:
                unknown.append(i)
            else:
                known[i] = index
        values = evaluate_each(running, [users[i][0] for i in unknown], [users[i][1] for i in unknown]) \
            if unknown else []
        computed = dict(zip(unknown, values))
        for i in range(len(users)):
            if isinstance(out[i], InputError):
                continue
            if i in known:
                out[i].append((key, known[i]))
                continue
            v = computed[i]
            if isinstance(v, InputError):
                out[i] = v
            elif v >= 0:
                out[i].append((key, v))
                if track and m is not None:
                    fresh.append((i, m, key, v))
    if track and fresh and not any(isinstance(r, InputError) for r in out):
        ts = time.time_ns() // 1000
        writer = state.writer
        for i, m, key, v in fresh:
            user_id = users[i][0]
            stored = m.get(user_id)
            if stored is not None:  # the same new user twice in one batch: recorded once
                if stored != v:
                    out[i] = [(k, stored if k == key else x) for k, x in out[i]]  # type: ignore[union-attr]
                continue
            m.setdefault(user_id, v)
            try:
                writer.record_exposure(key, user_id, catalog.experiments[key].variants[v].key, ts)
            except WriterStopped:
                log.warning("writer stopped: exposure of %s to %s not recorded", user_id, key)
    return out
