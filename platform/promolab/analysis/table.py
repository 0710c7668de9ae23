"""Any per-user table (CSV or Parquet) as a DuckDB relation, checked before analysis.

Checks give one-line errors naming the column and value: unknown columns, non-numeric
metric columns, binomial values outside {0, 1}, a control value absent from the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import duckdb

from promolab.analysis.sql import ColumnMetric, literal, quote
from promolab.errors import InputError
from promolab.store.migrations import first_row

METRIC_KINDS = ("binomial", "mean", "ratio")
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "BOOLEAN")


def parse_metric(text: str, covariate: str | None = None) -> ColumnMetric:
    """``COL:binomial`` | ``COL:mean`` | ``NUM/DEN:ratio`` (optionally ``:decrease``)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[1] not in METRIC_KINDS:
        raise InputError("--metric", text, "COL:binomial, COL:mean or NUM/DEN:ratio")
    column, kind = parts[0], parts[1]
    direction = parts[2] if len(parts) == 3 else "increase"
    if direction not in ("increase", "decrease"):
        raise InputError("--metric", text, "an optional direction ':increase' or ':decrease'")
    if kind == "ratio":
        num, sep, den = column.partition("/")
        if not sep or not num or not den:
            raise InputError("--metric", text, "NUM/DEN:ratio with two column names")
        return ColumnMetric(f"{num}/{den}", "ratio", numerator=num, denominator=den, direction=direction)
    if not column:
        raise InputError("--metric", text, "a column name before ':'")
    return ColumnMetric(column, kind, column=column, covariate=covariate, direction=direction)


def open_table(con: duckdb.DuckDBPyConnection, path: str | Path, name: str = "per_user_input") -> str:
    """Create a view ``name`` over a CSV or Parquet file; return the view's name."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FILE", str(path), "an existing CSV or Parquet file")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        reader = f"read_parquet({literal(str(path))})"
    elif suffix.endswith((".csv", ".csv.gz", ".tsv")):
        reader = f"read_csv_auto({literal(str(path))})"
    else:
        raise InputError("FILE", str(path), "a file ending in .csv, .csv.gz, .tsv or .parquet")
    try:
        con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT * FROM {reader}")
        con.execute(f"SELECT * FROM {quote(name)} LIMIT 0").fetchall()
    except duckdb.Error as exc:
        raise InputError("FILE", str(path), f"a readable CSV or Parquet file ({str(exc).splitlines()[0]})") from exc
    return name


def column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {quote(relation)}").fetchall()
    return {r[0]: r[1] for r in rows}


def check_columns(types: Mapping[str, str], is_numeric: Callable[[str], bool], variant: str,
                  metrics: Sequence[ColumnMetric], source: str) -> None:
    """Every named column exists and every metric column is numeric (any engine's types)."""
    available = ", ".join(types)

    def need(column: str, flag: str) -> None:
        if column not in types:
            raise InputError(flag, column, f"a column of {source} ({available})")

    need(variant, "--variant")
    for m in metrics:
        for column in (m.column, m.numerator, m.denominator, m.covariate):
            if column is None:
                continue
            need(column, "--covariate" if column == m.covariate else "--metric")
            if not is_numeric(types[column]):
                raise InputError(f"column {column}", types[column], "a numeric column")


def non_binary_sql(relation: str, column: str) -> str:
    """The first value of ``column`` that is neither 0 nor 1 (none for a valid binomial column)."""
    return (f"SELECT {quote(column)} FROM {quote(relation)} WHERE {quote(column)} IS NOT NULL "
            f"AND CAST({quote(column)} AS DOUBLE) NOT IN (0, 1) LIMIT 1")


def _duckdb_numeric(type_name: str) -> bool:
    base = type_name.split("(")[0]
    return base in NUMERIC_TYPES or base.startswith("DECIMAL")


def check_table(con: duckdb.DuckDBPyConnection, relation: str, variant: str, control: str,
                metrics: list[ColumnMetric], source: str) -> None:
    """Raise InputError for the first problem in the table given the requested analysis."""
    check_columns(column_types(con, relation), _duckdb_numeric, variant, metrics, source)
    for m in metrics:
        if m.kind == "binomial":
            bad = first_row(con.execute(non_binary_sql(relation, m.column)))
            if bad is not None:
                raise InputError(f"column {m.column}", bad[0], "only 0 or 1 in a binomial metric")
    present = first_row(con.execute(
        f"SELECT COUNT(*) FROM {quote(relation)} WHERE CAST({quote(variant)} AS VARCHAR) = ?", [control]
    ))[0]
    if not present:
        values = [r[0] for r in con.execute(
            f"SELECT DISTINCT CAST({quote(variant)} AS VARCHAR) FROM {quote(relation)} ORDER BY 1 LIMIT 20"
        ).fetchall()]
        raise InputError("--control", control, f"a value of column {variant}: " + ", ".join(map(str, values)))
