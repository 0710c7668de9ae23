"""Keeping one service process in step with the other processes that share its registry.

The registry file is shared (:mod:`promolab.store.access`): the CLI, the dashboard and
other service processes change it while this one serves from memory. Every
``interval`` seconds (0.5 by default) :class:`RegistrySync`

1. reads the registry's control fingerprint (counts and latest change times of
   experiments, status changes, bandit weights and API keys); when another process
   changed any of them, it rebuilds the catalog (what is served, with which weights and
   coverage) and reloads the API keys - a key created or revoked from the CLI takes
   effect here within one interval;
2. reads the first exposures stored since it last looked (``exposures`` is append-only,
   read from a row position) and adds them to the first-exposure maps, so a user
   assigned by another process keeps that variant here after a weight change or a ramp.

Not covered: a new user assigned by two processes within one interval of a weight
change can be shown two variants; the registry keeps the first stored and records the
other in ``exposure_conflicts``, which the report's health section counts.
"""

from __future__ import annotations

import asyncio
import logging

from promolab.store import Registry

log = logging.getLogger("promolab.service.sync")

DEFAULT_SYNC_INTERVAL = 0.5


class RegistrySync:
    """Polls the registry for other processes' changes (see the module doc)."""

    def __init__(self, state, position: int, interval: float = DEFAULT_SYNC_INTERVAL):
        if not 0 < interval <= 60:
            raise ValueError(f"sync interval: got {interval!r}, expected seconds in (0, 60]")
        self.state = state
        self.interval = interval
        self.position = position
        self.registry: Registry = state.registry
        self.fingerprint = self.registry.control_fingerprint()
        self.refreshes = 0
        self.merged = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a busy or damaged file: log, keep serving from memory, try again
                log.exception("reading the registry's changes failed; serving what was read before")

    async def step(self) -> None:
        """One poll: refresh the catalog and keys if they changed, then merge new exposures."""
        fingerprint = await asyncio.to_thread(self.registry.control_fingerprint)
        if fingerprint != self.fingerprint:
            await asyncio.to_thread(self._refresh)
            self.fingerprint = fingerprint
        rows, self.position = await asyncio.to_thread(self.registry.exposures_after, self.position)
        self.merge(rows)

    def _refresh(self) -> None:
        self.state.refresh()
        self.state.keys.reload()
        self.refreshes += 1

    def merge(self, rows: list[tuple[str, str, str]]) -> None:
        """Add stored first exposures to the maps (on the event loop, like every map write);
        a user this process already knows keeps the variant it has."""
        sticky, experiments = self.state.sticky, self.state.catalog.experiments
        index: dict[str, dict[str, int]] = {}
        for key, user, variant in rows:
            m = sticky.get(key)
            if m is None:
                continue
            if key not in index:
                index[key] = {v: i for i, v in enumerate(experiments[key].variant_keys)}
            i = index[key].get(variant)
            if i is not None:
                m.setdefault(user, i)
                self.merged += 1


__all__ = ["DEFAULT_SYNC_INTERVAL", "RegistrySync"]
