"""The source tables a registry analysis reads, where each lives in a Parquet folder, and
the one-line error for a missing column."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from promolab.errors import InputError

# Columns the experiment SQL reads from each source table (a Parquet file or folder each).
SOURCE_COLUMNS = {
    "exposures": ("experiment_key", "user_id", "variant_key", "first_exposed_at"),
    "events": ("user_id", "event", "value", "ts"),
    "user_attributes": ("user_id", "attribute", "value_num"),
    "exposure_conflicts": ("experiment_key", "user_id", "variant_key"),
}
REQUIRED = ("exposures", "events")
# The relation every analysis query reads: the report's analysed users, one row each.
ANALYSIS_USERS = "analysis_users"


@dataclass
class SqlSession:
    """An open source on an engine: ``run`` executes its SQL over the relations ``tables``
    (a per-user table is the one ``relation``, with column ``types`` and ``numeric``).
    ``temporary``: ``run`` may create temporary tables, which live until the engine drops
    the ``pinned`` ones as the session ends."""

    run: Callable[[str], pd.DataFrame]
    tables: frozenset[str]
    relation: str = ""
    types: dict[str, str] = field(default_factory=dict)
    numeric: Callable[[str], bool] = lambda type_name: False
    temporary: bool = False
    pinned: list[str] = field(default_factory=list)

    def query(self, sql: str) -> pd.DataFrame:
        return self.run(sql)

    def pin(self, ctes: str) -> str:
        """``ctes`` (``WITH`` clauses whose last one is ``analysis_users``) with that relation
        computed once: where the engine has temporary tables, ``CREATE TEMP TABLE`` from it
        and the last clause reads the table, so a report's several queries join the per-user
        rows once instead of each; elsewhere ``ctes`` unchanged."""
        head, clause, _ = ctes.rpartition(f"{ANALYSIS_USERS} AS (")
        if not clause:
            raise ValueError(f"WITH clauses ending in {ANALYSIS_USERS}, got: {ctes[-200:]}")
        if not self.temporary:
            return ctes
        name = f"promolab_{ANALYSIS_USERS}_{uuid.uuid4().hex[:12]}"
        self.run(f"CREATE TEMP TABLE {name} AS {ctes}SELECT * FROM {ANALYSIS_USERS}")
        self.pinned.append(name)
        return f"{head}{clause}SELECT * FROM {name})\n"

    def unpin(self) -> None:
        """Drop the temporary tables ``pin`` created."""
        while self.pinned:
            self.run(f"DROP TABLE IF EXISTS {self.pinned.pop()}")

    def has(self, table: str) -> bool:
        return table in self.tables


def parquet_location(data: str | Path, table: str, required: bool = True) -> str | None:
    """``DATA/<table>.parquet`` if that file exists, else ``DATA/<table>`` (a file or a
    folder of Parquet parts; for a URI such as ``s3a://bucket/lake`` always the latter).
    A local table that is not there: an error when ``required``, else None."""
    text = str(data).rstrip("/")
    if "://" not in text:
        for candidate in (Path(text) / f"{table}.parquet", Path(text) / table):
            if candidate.exists():
                return str(candidate)
        if not required:
            return None
        raise InputError("data", text, f"a folder holding {table}.parquet or {table}/ (Parquet)")
    return f"{text}/{table}"


def check_source_columns(table: str, location: str, columns: Sequence[str]) -> None:
    """One-line error naming the first column the experiment query needs but is missing."""
    present = set(columns)
    for column in SOURCE_COLUMNS[table]:
        if column not in present:
            raise InputError(f"{table} column", column, f"a column of {location} ({', '.join(columns)})")
