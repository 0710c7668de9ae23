"""The DuckDB registry: schema migrations, experiments, status history, exposures (and cross-variant
exposure conflicts), events.

The names below are loaded from their submodule on first use (PEP 562), as in
``promolab.stats``: ``from promolab.store import Registry`` imports the registry and DuckDB but
not pandas (only the ingest helpers ``events_batch`` / ``exposures_batch`` and the ingest
methods need it), and ``from promolab.store import DB_ENV`` imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promolab.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy table below resolves to, for type checkers and IDEs
    from promolab.store.batches import MAX_EVENT_FUTURE, MIN_EVENT_TS, check_event_ts, events_batch, exposures_batch
    from promolab.store.events import insert_events
    from promolab.store.exposures import CONFLICTS_TABLE, CROSS_VARIANT_USERS_SQL
    from promolab.store.preflight import RegistryFileError
    from promolab.store.location import DB_ENV, DEFAULT_DB, DEMO_DB, demo_fallback, missing_hint, resolve_db_path
    from promolab.store.migrations import LATEST_VERSION
    from promolab.store.registry import ExperimentSummary, ExposureHealth, IngestResult, Registry, StatusChange

# public name → submodule of promolab.store that defines it
_SOURCES: dict[str, str] = {
    "MAX_EVENT_FUTURE": "batches",
    "MIN_EVENT_TS": "batches",
    "check_event_ts": "batches",
    "events_batch": "batches",
    "exposures_batch": "batches",
    "insert_events": "events",
    "CONFLICTS_TABLE": "exposures",
    "CROSS_VARIANT_USERS_SQL": "exposures",
    "RegistryFileError": "preflight",
    "DB_ENV": "location",
    "DEFAULT_DB": "location",
    "DEMO_DB": "location",
    "demo_fallback": "location",
    "missing_hint": "location",
    "resolve_db_path": "location",
    "LATEST_VERSION": "migrations",
    "ExperimentSummary": "registry",
    "ExposureHealth": "registry",
    "IngestResult": "registry",
    "Registry": "registry",
    "StatusChange": "registry",
}

__all__ = sorted(_SOURCES)


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, globals())
