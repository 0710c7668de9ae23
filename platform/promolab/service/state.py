"""What one service process holds: the registry, the writer, the keys and a catalog cache.

The catalog is an immutable snapshot of every experiment's status and spec plus the
running (and paused: control for everyone) experiments' evaluation state and the config
document (with its ETag). It is
rebuilt after every change this process makes (admin routes, bandit updates); the
service is the only writer of its DuckDB file, so nothing else can change it meanwhile.

Admin changes validate first and write second (:meth:`ServiceState.change`): under one
lock, the new state is read and modified in memory, and everything the service needs to
serve it - the config document, the evaluation state and response fragments of every
running experiment, the first-exposure maps - is built *before* the one store call that
writes it (one transaction). An experiment that cannot be served refuses the change
(:class:`NotServable`, 409) with nothing written; after the write only in-memory swaps
remain, so a change is either refused whole or stored and served.

An experiment already stored that cannot be served (written by an older version, say)
does not take the service down: it is left out of the served config, and logged, until
it is fixed or stopped; only a change *to* it is refused.

Next to it live the first-exposure maps (``promolab.service.sticky``), which outlive
catalog swaps: one per experiment that is a draft, running or paused, loaded from the
``exposures`` table at startup and whenever a change finds an experiment without one
(created or launched), dropped when an experiment is stopped.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

from promolab.adaptive.contextual import spec_model
from promolab.adaptive.served import ServedModel
from promolab.errors import InputError, PromolabError, SpecError, StateError
from promolab.service.evaluate import CONFIG_VERSION, Running, config_document, config_etag, running_from_config
from promolab.service.sticky import StickyMap, StickyMaps, load_map
from promolab.service.writer import Writer
from promolab.spec import Experiment
from promolab.store import Registry
from promolab.store.keys import KeyRing

log = logging.getLogger("promolab.service")

BanditUpdate = Callable[[Registry, str], dict[str, float]]
T = TypeVar("T")

SERVED_STATUSES = ("draft", "running", "paused")  # the statuses that keep a first-exposure map


class NotServable(StateError):
    """The service cannot serve this experiment (config document, assignment): nothing was changed."""

    def __init__(self, key: str, reason: str, field: str | None = None, value: Any = None,
                 expected: str | None = None):
        self.key, self.reason = key, reason
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"experiment {key}: cannot be served ({reason}); nothing was changed")

    def __reduce__(self):
        return type(self), (self.key, self.reason, self.field, self.value, self.expected)


@dataclass(frozen=True)
class Entry:
    """One experiment as the catalog sees it; ``weights``: a running bandit's current weights;
    ``model``: a running contextual experiment's current model (JSON, as stored)."""

    status: str
    experiment: Experiment
    weights: Mapping[str, float] | None = None
    model: str | None = None


@dataclass(frozen=True)
class Served:
    """What serving one running experiment takes: its config item, evaluation state and fragments."""

    item: dict[str, Any]
    running: Running
    payloads: tuple[dict[str, Any], ...]
    fragments: tuple[bytes, ...]


@dataclass(frozen=True)
class Catalog:
    """``served``: every running and paused experiment, in key order (what assignment answers
    for); ``running``: the running ones; ``by_key``: the served ones by key."""

    statuses: dict[str, str]
    experiments: dict[str, Experiment]
    served: tuple[Running, ...]
    running: tuple[Running, ...]
    payloads: dict[str, tuple[dict[str, Any], ...]]
    document: dict[str, Any]
    body: bytes
    etag: str
    by_key: dict[str, Running]
    # the JSON of one assignment entry per (experiment, variant index), for fast responses
    fragments: dict[str, tuple[bytes, ...]]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def serve(experiment: Experiment, weights: Mapping[str, float] | None, model: str | None = None,
          paused: bool = False) -> Served:
    """Everything needed to serve ``experiment`` running with ``weights`` (None: the spec's)
    and, for a contextual experiment, ``model`` (its stored JSON; None: none fitted yet);
    ``paused``: serving its control to everyone (its entries say ``"paused": true``).

    Raises :class:`NotServable` when any part fails: weights that are not one finite
    non-negative number per variant, a spec or payload that is not JSON (NaN, inf), a
    spec the config's readers (this service, local-evaluation clients) refuse, or
    evaluation state that cannot be compiled.
    """
    key = experiment.key
    try:
        if paused:
            (item,) = config_document([], [experiment])["experiments"]
        else:
            served_model = spec_model(experiment)
            if model is not None and served_model is None and experiment.contextual is not None:
                served_model = ServedModel.from_dict(json.loads(model), len(experiment.variants),
                                                     experiment.contextual.features.dim)
            (item,) = config_document([(experiment, weights, served_model)])["experiments"]
        w = item["weights"]
        if w is not None and (not all(math.isfinite(x) and x >= 0 for x in w) or not sum(w) > 0):
            raise InputError("weights", w, "one finite weight >= 0 per variant, not all 0")
        _dumps(item)  # what GET /v1/config serves must be JSON (no NaN/Infinity)
        (running,) = running_from_config({"experiments": [item]})  # as every reader of the config does
        if not paused:
            running.scalar  # noqa: B018 - compile the one-user evaluation now, not on the first request
        payloads = tuple(dict(v.payload) for v in running.experiment.variants)
        marker = {"paused": True} if paused else {}
        fragments = tuple(_dumps({"experiment": key, "variant": v.key, "payload": payloads[i], **marker}).encode()
                          for i, v in enumerate(experiment.variants))
    except SpecError as exc:
        first = exc.problems[0] if exc.problems else None
        raise NotServable(key, str(exc).replace("\n", "; "), first and first.field, first and first.value,
                          first and first.expected) from None
    except InputError as exc:
        raise NotServable(key, str(exc), exc.field, exc.value, exc.expected) from None
    except (PromolabError, ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        raise NotServable(key, f"{type(exc).__name__}: {exc}") from None
    return Served(item, running, payloads, fragments)


def read_entries(registry: Registry) -> dict[str, Entry]:
    """Every experiment's status and spec, and a running bandit's current weights, by key."""
    entries: dict[str, Entry] = {}
    with registry.hold():  # one open of the file for every read below
        for key in registry.experiment_keys():
            try:
                experiment = registry.get_experiment(key)
            except PromolabError as exc:  # a stored spec this version cannot read
                log.error("experiment %s: its stored spec cannot be read (%s); it is not served", key, exc)
                continue
            status = registry.status(key)
            weights = registry.current_weights(key) if status == "running" and experiment.kind == "bandit" else None
            current = registry.current_model(key) if status == "running" and experiment.kind == "contextual" else None
            entries[key] = Entry(status, experiment, weights, current and current[1])
    return entries


def catalog_from(entries: Mapping[str, Entry], strict: str | None = None) -> Catalog:
    """The catalog of ``entries`` (in key order). A running experiment that cannot be served
    raises :class:`NotServable` if it is ``strict`` (the one being changed), else it is
    logged and left out of the served config (as a paused one always is)."""
    statuses = {k: e.status for k, e in entries.items()}
    experiments = {k: e.experiment for k, e in entries.items()}
    served: dict[str, Served] = {}
    for key, e in entries.items():
        if e.status not in ("running", "paused"):
            continue
        try:
            served[key] = serve(e.experiment, e.weights, e.model, paused=e.status == "paused")
        except NotServable as exc:
            if key == strict and e.status == "running":  # taking one out of service is always possible
                raise
            log.error("%s; it is left out of the served config until it is fixed or stopped", exc)
    document = {"version": CONFIG_VERSION, "experiments": [s.item for s in served.values()]}
    body = json.dumps(document, separators=(",", ":")).encode()
    assignable = tuple(s.running for s in served.values())
    return Catalog(statuses, experiments, assignable, tuple(r for r in assignable if not r.paused),
                   {k: s.payloads for k, s in served.items()}, document, body, config_etag(document),
                   {r.key: r for r in assignable}, {k: s.fragments for k, s in served.items()})


def build_catalog(registry: Registry) -> Catalog:
    return catalog_from(read_entries(registry))


class ServiceState:
    def __init__(self, registry: Registry, writer: Writer, bandit_update: BanditUpdate | None = None):
        self.registry = registry
        self.writer = writer
        self.keys = KeyRing(registry)
        self.bandit_update = bandit_update
        self._change_lock = threading.RLock()
        self.sticky = StickyMaps()
        catalog = build_catalog(registry)
        self._install(catalog, self._missing_maps(catalog, flush=False))

    # -- first-exposure maps ---------------------------------------------------------------

    def _missing_maps(self, catalog: Catalog, flush: bool = True) -> dict[str, StickyMap]:
        """Maps for every draft/running/paused experiment of ``catalog`` without one, read now.

        ``flush`` first commits whatever the writer holds, so the table read is complete.
        """
        missing = [k for k, st in catalog.statuses.items() if st in SERVED_STATUSES and k not in self.sticky]
        if missing and flush:
            self.writer.flush()
        return {key: load_map(self.registry, key, catalog.experiments[key].variant_keys) for key in missing}

    def _install(self, catalog: Catalog, maps: Mapping[str, StickyMap]) -> None:
        """Swap in ``catalog`` (in memory only: nothing here reads or writes the database).

        Maps are installed before the catalog that runs the experiment is swapped in, so
        no assign can see a running experiment without its map; stopped ones are dropped.
        """
        for key, m in maps.items():
            if key not in self.sticky:
                self.sticky.install(key, m)
        for key in self.sticky.keys():
            if catalog.statuses.get(key) not in SERVED_STATUSES:
                self.sticky.drop(key)
        self.catalog = catalog

    # -- changes ---------------------------------------------------------------------------

    def change(self, key: str, modify: Callable[[dict[str, Entry]], None], write: Callable[[], T]) -> T:
        """Validate the new state, then write it, then serve it; one change at a time.

        ``modify`` edits the current entries (read afresh) into the new state; the catalog
        of that state is built with ``key`` strict (:class:`NotServable` if it cannot be
        served) and the maps it needs are loaded, all before ``write`` - one store call,
        one transaction, which may itself refuse the change (nothing written). After it,
        only in-memory swaps remain.
        """
        with self._change_lock:
            entries = read_entries(self.registry)
            modify(entries)
            entries = dict(sorted(entries.items()))
            catalog = catalog_from(entries, strict=key)
            maps = self._missing_maps(catalog)
            result = write()
            self._install(catalog, maps)
            return result

    def locked(self) -> threading.RLock:
        """The lock every change takes (key changes too): hold it to check and write as one."""
        return self._change_lock

    def refresh(self) -> Catalog:
        """Rebuild the catalog from the registry after a change made elsewhere (a bandit
        update function that stored its weights itself); never raises for one experiment
        that cannot be served (it is left out and logged)."""
        with self._change_lock:
            catalog = build_catalog(self.registry)
            self._install(catalog, self._missing_maps(catalog))
            return self.catalog


__all__ = ["Catalog", "Entry", "NotServable", "ServiceState", "build_catalog", "catalog_from", "read_entries",
           "serve"]
