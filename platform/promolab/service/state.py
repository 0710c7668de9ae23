"""What one service process holds: the registry, the writer, the keys and a catalog cache.

The catalog is an immutable snapshot of every experiment's status and spec plus the
running experiments' evaluation state and the config document (with its ETag). It is
rebuilt after every change this process makes (admin routes, bandit updates); the
service is the only writer of its DuckDB file, so nothing else can change it meanwhile.

Next to it live the first-exposure maps (``promolab.service.sticky``), which outlive
catalog swaps: one per experiment that is a draft, running or paused, loaded from the
``exposures`` table at startup and whenever a refresh finds an experiment without one
(created or launched), dropped when an experiment is stopped.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable

from promolab.service.evaluate import Running, config_document, config_etag, running_from_config
from promolab.service.sticky import StickyMaps, load_map
from promolab.spec import Experiment
from promolab.store import Registry
from promolab.store.keys import KeyRing
from promolab.service.writer import Writer

BanditUpdate = Callable[[Registry, str], dict[str, float]]


@dataclass(frozen=True)
class Catalog:
    statuses: dict[str, str]
    experiments: dict[str, Experiment]
    running: tuple[Running, ...]
    payloads: dict[str, tuple[dict[str, Any], ...]]
    document: dict[str, Any]
    body: bytes
    etag: str
    by_key: dict[str, Running]
    # the JSON of one assignment entry per (experiment, variant index), for fast responses
    fragments: dict[str, tuple[bytes, ...]]


def build_catalog(registry: Registry) -> Catalog:
    statuses: dict[str, str] = {}
    experiments: dict[str, Experiment] = {}
    running_specs = []
    for key in registry.experiment_keys():
        experiment = registry.get_experiment(key)
        status = registry.status(key)
        statuses[key], experiments[key] = status, experiment
        if status == "running":
            weights = registry.current_weights(key) if experiment.kind == "bandit" else None
            running_specs.append((experiment, weights))
    document = config_document(running_specs)
    running = tuple(running_from_config(document))
    payloads = {r.key: tuple(dict(v.payload) for v in r.experiment.variants) for r in running}
    body = json.dumps(document, separators=(",", ":")).encode()
    for r in running:
        r.scalar  # noqa: B018 - compile the one-user evaluation now, not on the first request
    fragments = {key: tuple(json.dumps({"experiment": key, "variant": v.key, "payload": payloads[key][i]},
                                       separators=(",", ":")).encode()
                            for i, v in enumerate(experiments[key].variants))
                 for key in payloads}
    return Catalog(statuses, experiments, running, payloads, document, body, config_etag(document),
                   {r.key: r for r in running}, fragments)


class ServiceState:
    def __init__(self, registry: Registry, writer: Writer, bandit_update: BanditUpdate | None = None):
        self.registry = registry
        self.writer = writer
        self.keys = KeyRing(registry)
        self.bandit_update = bandit_update
        self._refresh_lock = threading.Lock()
        self.sticky = StickyMaps()
        catalog = build_catalog(registry)
        self._sync_sticky(catalog, flush=False)
        self.catalog = catalog

    def _sync_sticky(self, catalog: Catalog, flush: bool = True) -> None:
        """Load a map for every draft/running/paused experiment without one; drop stopped ones.

        Maps are installed before the catalog that runs the experiment is swapped in, so
        no assign can see a running experiment without its map. ``flush`` first commits
        whatever the writer holds, so the table read is complete.
        """
        missing = [k for k, st in catalog.statuses.items() if st in ("draft", "running", "paused")
                   and k not in self.sticky]
        if missing and flush:
            self.writer.flush()
        for key in missing:
            self.sticky.install(key, load_map(self.registry, key, catalog.experiments[key].variant_keys))
        for key in self.sticky.keys():
            if catalog.statuses.get(key) not in ("draft", "running", "paused"):
                self.sticky.drop(key)

    def refresh(self) -> Catalog:
        """Rebuild the catalog after a change (atomic swap; readers never see half of it)."""
        with self._refresh_lock:
            catalog = build_catalog(self.registry)
            self._sync_sticky(catalog)
            self.catalog = catalog
            return self.catalog
