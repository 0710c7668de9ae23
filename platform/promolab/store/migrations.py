"""Numbered, versioned schema migrations for the DuckDB registry.

Each migration is applied once, in order, inside one transaction, and recorded in
``schema_version``. A file whose schema is newer than this code knows is refused, and so
is a DuckDB file that is not a promolab registry (tables but no promolab
``schema_version``): it is someone else's data, and nothing is written to it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import duckdb

from promolab.store.files import user_tables
from promolab.store.preflight import RegistryFileError


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
    Migration(
        5,
        "exposure propensities and contexts (for off-policy evaluation), contextual policy model history",
        """
        ALTER TABLE exposures ADD COLUMN propensity DOUBLE;
        ALTER TABLE exposures ADD COLUMN context_json VARCHAR;
        CREATE TABLE contextual_models (
            experiment_key VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            policy VARCHAR NOT NULL,
            users BIGINT NOT NULL,
            model_json VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            PRIMARY KEY (experiment_key, version)
        );
        """,
    ),
    Migration(
        6,
        "health alerts of running experiments (scheduled checks), with acknowledgement",
        """
        CREATE TABLE alerts (
            id BIGINT PRIMARY KEY,
            experiment_key VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            subject VARCHAR NOT NULL,
            raised_at TIMESTAMP NOT NULL,
            message VARCHAR NOT NULL,
            numbers_json VARCHAR NOT NULL,
            action VARCHAR,
            resolved_at TIMESTAMP,
            acknowledged BOOLEAN NOT NULL,
            acknowledged_by VARCHAR,
            acknowledged_at TIMESTAMP
        );
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

#: the small tables nearly every command reads; read in full when a registry is opened
CONTROL_TABLES = ("schema_version", "experiments", "variants", "metrics", "status_history", "bandit_weights",
                  "api_keys", "contextual_models", "alerts")
SCHEMA_VERSION_COLUMNS = ("version", "description", "applied_at")


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data) -> Iterator[str]:
    """``data`` (a DataFrame or Arrow table) visible to SQL as ``name`` inside the block."""
    con.register(name, data)
    try:
        yield name
    except BaseException:
        try:  # in an aborted transaction unregister fails too; the first error is the one to see
            con.unregister(name)
        except duckdb.Error:
            pass
        raise
    con.unregister(name)


def first_row(cursor: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row of a result, consuming it whole (DuckDB 2 keeps unfinished results open)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _names(tables: list[str]) -> str:
    shown = ", ".join(tables[:3])
    return f"{shown}, … ({len(tables)} in all)" if len(tables) > 3 else shown


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open database (0 for an empty file)."""
    if "schema_version" not in user_tables(con):
        return 0
    row = first_row(con.execute("SELECT MAX(version) FROM schema_version"))
    return int(row[0] or 0)


def schema_version(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The promolab schema version of an open DuckDB file, reading only: 0 for a file without
    tables (a new registry). Refused with a RegistryFileError: a file with tables but no
    promolab ``schema_version`` (someone else's database), and a schema newer than this code."""
    tables = user_tables(con)
    if not tables:
        return 0
    if "schema_version" not in tables:
        raise RegistryFileError(f"{path}: is a DuckDB database but not a promolab registry (it has tables "
                                f"{_names(tables)} and no schema_version table); use another file for the registry")
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_name = 'schema_version' ORDER BY ordinal_position").fetchall()]
    if not set(SCHEMA_VERSION_COLUMNS) <= set(columns):
        raise RegistryFileError(f"{path}: is a DuckDB database but not a promolab registry (its schema_version "
                                f"table has columns {', '.join(columns)}, not {', '.join(SCHEMA_VERSION_COLUMNS)}); "
                                "use another file for the registry")
    version = current_version(con)
    others = [t for t in tables if t != "schema_version"]
    if version == 0 and others:
        raise RegistryFileError(f"{path}: is a DuckDB database but not a promolab registry (its schema_version "
                                f"table is empty and it has tables {_names(others)}); "
                                "use another file for the registry")
    if version > LATEST_VERSION:
        raise RegistryFileError(
            f"{path}: schema version {version} is newer than this promolab supports "
            f"(up to {LATEST_VERSION}); upgrade promolab to open it"
        )
    return version


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Bring the schema to LATEST_VERSION. Before writing anything, refuse (RegistryFileError)
    a file written by a newer promolab and a DuckDB file that is not a promolab registry."""
    version = schema_version(con, path)
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
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
    return LATEST_VERSION
