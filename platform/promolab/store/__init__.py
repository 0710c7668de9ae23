"""The DuckDB registry: schema migrations, experiments, status history, exposures (and cross-variant
exposure conflicts), events."""

from promolab.store.batches import events_batch, exposures_batch
from promolab.store.exposures import CONFLICTS_TABLE, CROSS_VARIANT_USERS_SQL
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
    "CONFLICTS_TABLE", "CROSS_VARIANT_USERS_SQL", "DB_ENV", "DEFAULT_DB", "LATEST_VERSION", "ExperimentSummary",
    "ExposureHealth", "IngestResult", "Registry", "StatusChange", "events_batch", "exposures_batch",
    "resolve_db_path",
]
