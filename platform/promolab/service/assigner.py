"""Sticky assignment in the service: first-exposure map, then the current weights.

For each running experiment a user is asked about:

0. a paused experiment gives everyone its control and records nothing;
1. a user found in the experiment's first-exposure map (``state.sticky``) gets the
   stored variant - whatever the current weights, coverage or targeting say, exactly as
   ``promolab.adaptive.sticky_assign`` answers from the ``exposures`` table;
2. anyone else is hashed into the current weights, or for a contextual experiment drawn
   from its policy given the user's attributes (``decide_one``; a batch: the vectorised
   path), and when the assign is tracked the variant goes into the map *before* its
   exposure - with the probability it was chosen with, and a contextual decision's
   features - is buffered for the writer, so the next request for the user (which may
   arrive before the commit) sees it.

Everything here runs on the event loop thread (the only mutator of the maps), without
awaiting, so a request's lookups, map updates and exposure buffering are atomic with
respect to other requests.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from promolab.errors import InputError
from promolab.service.evaluate import Decision, decide_each, decide_one
from promolab.service.writer import WriterStopped

log = logging.getLogger("promolab.service")

Result = list[tuple[str, int]]  # (experiment key, variant index) per assignment


def assign_user(state, catalog, user_id: str, attributes: Mapping[str, Any] | None, experiment: str | None,
                track: bool) -> Result:
    """The user's assignments in ``experiment`` (None: every running or paused one); may raise InputError
    when ``experiment`` is named and the attributes cannot serve it (a contextual experiment's
    missing or invalid feature); asked for every running experiment, such an experiment leaves
    the user out, as a targeting rule on a missing attribute does.

    Nothing is recorded unless every experiment evaluated without error.
    """
    if experiment is None:
        chosen = catalog.served
    else:
        one = catalog.by_key.get(experiment)
        chosen = () if one is None else (one,)
    sticky = state.sticky
    out: Result = []
    fresh: list[tuple[Any, str, Decision]] = []
    for running in chosen:
        key = running.key
        if running.paused:
            out.append((key, running.control_index))
            continue
        m = sticky.get(key)
        index = m.get(user_id) if m is not None else None
        if index is None:
            try:
                decision = decide_one(running, user_id, attributes)
            except InputError:
                if experiment is not None:
                    raise
                continue  # assigning every experiment: one the attributes cannot serve leaves the user out
            index = decision.index
            if index < 0:
                continue
            if track and m is not None:
                fresh.append((m, key, decision))
        out.append((key, index))
    if fresh:
        _record(state, catalog, user_id, fresh)
    return out


def _record(state, catalog, user_id: str, fresh: list[tuple[Any, str, Decision]]) -> None:
    ts = time.time_ns() // 1000
    writer = state.writer
    for m, key, d in fresh:
        m.setdefault(user_id, d.index)  # looked up just before, in this same synchronous call
        try:
            writer.record_exposure(key, user_id, catalog.experiments[key].variants[d.index].key, ts, d.propensity,
                                   d.context)
        except WriterStopped:
            log.warning("writer stopped: exposure of %s to %s not recorded", user_id, key)


def assign_users(state, catalog, users: list[tuple[str, Mapping[str, Any] | None]], experiment: str | None,
                 track: bool) -> list[Result | InputError]:
    """``assign_user`` for a batch: known users from the maps, the rest vectorised.

    When any user's attributes are unusable for the named ``experiment``, that user's entry is
    its ``InputError`` and nothing is recorded for the batch (the route rejects it whole);
    without a named experiment such an experiment leaves that user out.
    """
    out: list[Result | InputError] = [[] for _ in users]
    fresh: list[tuple[int, Any, str, Decision]] = []
    for running in catalog.served:
        if experiment is not None and running.key != experiment:
            continue
        key = running.key
        if running.paused:
            for entry in out:
                if not isinstance(entry, InputError):
                    entry.append((key, running.control_index))
            continue
        m = state.sticky.get(key)
        known: dict[int, int] = {}
        unknown: list[int] = []
        for i, (u, _) in enumerate(users):
            index = m.get(u) if m is not None else None
            if index is None:
                unknown.append(i)
            else:
                known[i] = index
        values = decide_each(running, [users[i][0] for i in unknown], [users[i][1] for i in unknown]) \
            if unknown else []
        computed = dict(zip(unknown, values))
        for i in range(len(users)):
            if isinstance(out[i], InputError):
                continue
            if i in known:
                out[i].append((key, known[i]))
                continue
            d = computed[i]
            if isinstance(d, InputError):
                if experiment is not None:
                    out[i] = d
            elif d.index >= 0:
                out[i].append((key, d.index))
                if track and m is not None:
                    fresh.append((i, m, key, d))
    if track and fresh and not any(isinstance(r, InputError) for r in out):
        ts = time.time_ns() // 1000
        writer = state.writer
        for i, m, key, d in fresh:
            user_id = users[i][0]
            stored = m.get(user_id)
            if stored is not None:  # the same new user twice in one batch: recorded once
                if stored != d.index:
                    out[i] = [(k, stored if k == key else x) for k, x in out[i]]  # type: ignore[union-attr]
                continue
            m.setdefault(user_id, d.index)
            try:
                writer.record_exposure(key, user_id, catalog.experiments[key].variants[d.index].key, ts,
                                       d.propensity, d.context)
            except WriterStopped:
                log.warning("writer stopped: exposure of %s to %s not recorded", user_id, key)
    return out
