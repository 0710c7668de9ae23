"""What one service process holds: the registry, the writer, the keys and a catalog cache.

The catalog is an immutable snapshot of every experiment's status and spec plus the
running experiments' evaluation state and the config document (with its ETag). It is
rebuilt after every change this process makes (admin routes, bandit updates); the
service is the only writer of its DuckDB file, so nothing else can change it meanwhile.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable

from promolab.service.evaluate import Running, config_document, config_etag, running_from_config
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
    return Catalog(statuses, experiments, running, payloads, document, body, config_etag(document))


class ServiceState:
    def __init__(self, registry: Registry, writer: Writer, bandit_update: BanditUpdate | None = None):
        self.registry = registry
        self.writer = writer
        self.keys = KeyRing(registry)
        self.bandit_update = bandit_update
        self._refresh_lock = threading.Lock()
        self.catalog = build_catalog(registry)

    def refresh(self) -> Catalog:
        """Rebuild the catalog after a change (atomic swap; readers never see half of it)."""
        with self._refresh_lock:
            self.catalog = build_catalog(self.registry)
            return self.catalog
