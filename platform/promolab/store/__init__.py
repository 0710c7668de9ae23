"""The DuckDB registry: schema migrations, experiments, status history, exposures (and cross-variant
exposure conflicts), events."""

from promolab.store.batches import MAX_EVENT_FUTURE, MIN_EVENT_TS, check_event_ts, events_batch, exposures_batch
from promolab.store.events import insert_events
from promolab.store.exposures import CONFLICTS_TABLE, CROSS_VARIANT_USERS_SQL
from promolab.store.files import RegistryFileError
from promolab.store.location import DEMO_DB, demo_fallback, missing_hint
from promolab.store.migrations import LATEST_VERSION
from promolab.store.registry import (
    DB_ENV,
    DEFAULT_DB,
    ExperimentSummary,
    ExposureHealth,
    IngestResult,
    Registry,
    StatusChange,
    resolve_db_path,
)

__all__ = [
    "CONFLICTS_TABLE", "CROSS_VARIANT_USERS_SQL", "DB_ENV", "DEFAULT_DB", "DEMO_DB", "LATEST_VERSION",
    "MAX_EVENT_FUTURE", "MIN_EVENT_TS", "ExperimentSummary", "ExposureHealth", "IngestResult", "Registry",
    "RegistryFileError", "StatusChange", "check_event_ts", "demo_fallback", "events_batch", "exposures_batch",
    "insert_events", "missing_hint", "resolve_db_path",
]
