"""Any per-user table (CSV or Parquet) as a DuckDB relation, checked before analysis.

Checks give one-line errors naming the column and value: unknown columns, non-numeric
metric columns, binomial values outside {0, 1}, a control value absent from the data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import duckdb

from promolab.analysis.metrics import ColumnMetric
from promolab.analysis.sql import literal, quote
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.analysis.engines import SqlSession

GLOB_CHARACTERS = re.compile(r"([*?\[])")
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "BOOLEAN")


def open_table(con: duckdb.DuckDBPyConnection, path: str | Path, name: str = "per_user_input", *,
               field: str = "table") -> str:
    """Create a view ``name`` over one CSV or Parquet file with at least one row; return the
    view's name. ``field`` names the argument in errors (``FILE``, ``--file``).

    The path is a path, never a pattern: DuckDB expands ``*``, ``?``, ``[`` and ``**`` in
    file names, so each of them is written as a one-character class (``[*]``) that matches
    only itself; the path is made absolute so that ``~`` or a ``scheme://`` is not read as
    a home folder or a remote file either."""
    path = Path(path)
    if not path.is_file():
        raise InputError(field, str(path), "an existing CSV or Parquet file")
    suffix = "".join(path.suffixes[-2:]).lower()
    exact = literal(exact_path(path))
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        reader = f"read_parquet({exact})"
    elif suffix.endswith((".csv", ".csv.gz", ".tsv")):
        reader = f"read_csv_auto({exact})"
    else:
        raise InputError(field, str(path), "a file ending in .csv, .csv.gz, .tsv or .parquet")
    try:
        con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT * FROM {reader}")
        has_rows = bool(con.execute(f"SELECT 1 FROM {quote(name)} LIMIT 1").fetchall())
    except duckdb.Error as exc:
        raise InputError(field, str(path), f"a readable CSV or Parquet file ({str(exc).splitlines()[0]})") from exc
    if not has_rows:
        empty = path.stat().st_size == 0
        raise InputError(field, str(path), "a CSV or Parquet file with a header row and at least one row "
                         f"({'the file is empty' if empty else 'the file has no rows'})")
    return name


def exact_path(path: str | Path) -> str:
    """``path`` absolute, with DuckDB's glob characters ``*``, ``?``, ``[`` written as
    one-character classes that match only themselves: a path, never a pattern."""
    return GLOB_CHARACTERS.sub(r"[\1]", str(Path(path).absolute()))


def column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {quote(relation)}").fetchall()
    return {r[0]: r[1] for r in rows}


def duckdb_numeric(type_name: str) -> bool:
    base = type_name.split("(")[0]
    return base in NUMERIC_TYPES or base.startswith("DECIMAL")


def non_binary_sql(relation: str, column: str) -> str:
    """The first value of ``column`` that is neither 0 nor 1 (none for a valid binomial column)."""
    return (f"SELECT {quote(column)} FROM {quote(relation)} WHERE {quote(column)} IS NOT NULL "
            f"AND CAST({quote(column)} AS DOUBLE) NOT IN (0, 1) LIMIT 1")


def check_table(session: "SqlSession", source: str, variant: str, control: str, metrics: Sequence[ColumnMetric],
                columns: Mapping[str, Sequence[str]] = {}) -> None:
    """Raise InputError for the first problem in the table given the requested analysis:
    an unknown column, a non-numeric metric column, a binomial value outside {0, 1}, a
    control value absent from the data. ``columns``: other columns the plan names, by field."""
    types = session.types
    available = ", ".join(types)

    def need(column: str, field: str) -> None:
        if column not in types:
            raise InputError(field, column, f"a column of {source} ({available})")

    need(variant, "table.variant")
    for field, names in columns.items():
        for column in names:
            need(column, field)
    for m in metrics:
        for column in (m.column, m.numerator, m.denominator, m.covariate):
            if column is None:
                continue
            need(column, f"metric {m.name}" + (".covariate" if column == m.covariate else ""))
            if not session.numeric(types[column]):
                raise InputError(f"column {column}", types[column], "a numeric column")
    for m in metrics:
        if m.kind == "binomial":
            bad = session.query(non_binary_sql(session.relation, m.column))
            if len(bad):
                value = bad.iloc[0, 0]
                raise InputError(f"column {m.column}", value.item() if hasattr(value, "item") else value,
                                 "only 0 or 1 in a binomial metric")
    present = session.query(f"SELECT COUNT(*) AS n FROM {quote(session.relation)} "
                            f"WHERE CAST({quote(variant)} AS VARCHAR) = {literal(control)}")["n"].iloc[0]
    if not present:
        values = session.query(f"SELECT DISTINCT CAST({quote(variant)} AS VARCHAR) AS v FROM "
                               f"{quote(session.relation)} WHERE {quote(variant)} IS NOT NULL ORDER BY 1 LIMIT 20"
                               )["v"].astype(str).tolist()
        raise InputError("plan.control", control, f"a value of column {variant}: " + ", ".join(values[:20]))
