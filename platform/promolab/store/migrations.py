"""Numbered, versioned schema migrations for the DuckDB registry.

Each migration is applied once, in order, inside one transaction, and recorded in
``schema_version``. A file whose schema is newer than this code knows is refused.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import duckdb

from promolab.errors import StateError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "experiments, variants, metrics, status history, exposures, events, user attributes",
        """
        CREATE TABLE experiments (
            key VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            hypothesis VARCHAR NOT NULL,
            owner VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            control VARCHAR NOT NULL,
            coverage DOUBLE NOT NULL,
            layer_key VARCHAR,
            layer_start DOUBLE,
            layer_end DOUBLE,
            status VARCHAR NOT NULL,
            spec_json VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE variants (
            experiment_key VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            weight DOUBLE NOT NULL,
            payload_json VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (experiment_key, key)
        );
        CREATE TABLE metrics (
            experiment_key VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            event VARCHAR,
            aggregate VARCHAR,
            numerator VARCHAR,
            denominator VARCHAR,
            direction VARCHAR NOT NULL,
            cap DOUBLE,
            covariate VARCHAR,
            is_guardrail BOOLEAN NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (experiment_key, key)
        );
        CREATE TABLE status_history (
            experiment_key VARCHAR NOT NULL,
            from_status VARCHAR,
            to_status VARCHAR NOT NULL,
            coverage DOUBLE NOT NULL,
            changed_by VARCHAR NOT NULL,
            changed_at TIMESTAMP NOT NULL,
            reason VARCHAR NOT NULL
        );
        CREATE TABLE exposures (
            experiment_key VARCHAR NOT NULL,
            user_id VARCHAR NOT NULL,
            variant_key VARCHAR NOT NULL,
            first_exposed_at TIMESTAMP NOT NULL,
            source VARCHAR NOT NULL,
            PRIMARY KEY (experiment_key, user_id)
        );
        CREATE TABLE events (
            source VARCHAR NOT NULL,
            event_id VARCHAR NOT NULL,
            user_id VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            ts TIMESTAMP NOT NULL,
            PRIMARY KEY (source, event_id)
        );
        CREATE TABLE user_attributes (
            user_id VARCHAR NOT NULL,
            attribute VARCHAR NOT NULL,
            value_num DOUBLE,
            value_text VARCHAR,
            PRIMARY KEY (user_id, attribute)
        );
        """,
    ),
    Migration(
        2,
        "bandit weight history",
        """
        CREATE TABLE bandit_weights (
            experiment_key VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            variant_key VARCHAR NOT NULL,
            weight DOUBLE NOT NULL,
            policy VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            PRIMARY KEY (experiment_key, updated_at, variant_key)
        );
        """,
    ),
    Migration(
        3,
        "API keys (hashes only) for the HTTP service",
        """
        CREATE TABLE api_keys (
            key_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            key_hash VARCHAR NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL,
            revoked_at TIMESTAMP
        );
        """,
    ),
    Migration(
        4,
        "exposure conflicts: users exposed to another variant than their stored first exposure",
        """
        CREATE TABLE exposure_conflicts (
            experiment_key VARCHAR NOT NULL,
            user_id VARCHAR NOT NULL,
            variant_key VARCHAR NOT NULL,
            exposed_at TIMESTAMP NOT NULL,
            source VARCHAR NOT NULL,
            PRIMARY KEY (experiment_key, user_id, variant_key)
        );
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data) -> Iterator[str]:
    """``data`` (a DataFrame or Arrow table) visible to SQL as ``name`` inside the block."""
    con.register(name, data)
    try:
        yield name
    finally:
        con.unregister(name)


def first_row(cursor: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row of a result, consuming it whole (DuckDB 2 keeps unfinished results open)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open database (0 for an empty file)."""
    exists = con.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    row = first_row(con.execute("SELECT MAX(version) FROM schema_version"))
    return int(row[0] or 0)


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Bring the schema to LATEST_VERSION; refuse a file written by a newer promolab."""
    version = current_version(con)
    if version > LATEST_VERSION:
        raise StateError(
            f"{path}: schema version {version} is newer than this promolab supports "
            f"(up to {LATEST_VERSION}); upgrade promolab to open it"
        )
    for m in MIGRATIONS:
        if m.version <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            if m.version == 1:
                con.execute(
                    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                    "description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
                )
            con.execute(m.sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [m.version, m.description]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return LATEST_VERSION
