"""The DuckDB registry: schema migrations, experiments, status history, exposures, events."""

from promolab.store.batches import events_batch, exposures_batch
from promolab.store.migrations import LATEST_VERSION
from promolab.store.registry import (
    DB_ENV,
    DEFAULT_DB,
    ExperimentSummary,
    IngestResult,
    Registry,
    StatusChange,
    resolve_db_path,
)

__all__ = [
    "DB_ENV", "DEFAULT_DB", "LATEST_VERSION", "ExperimentSummary", "IngestResult", "Registry",
    "StatusChange", "events_batch", "exposures_batch", "resolve_db_path",
]
