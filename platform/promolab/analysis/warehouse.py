"""Warehouse-native analysis: the report SQL in any warehouse's dialect, the registry
exported to Parquet, and per-variant sufficient statistics read back from a file.

The SQL of ``promolab.analysis.sql`` is written once, in DuckDB SQL restricted to a
portable subset (CASE, COALESCE, LEAST, SUM, COUNT, MAX, GROUP BY expressions, plain
timestamp ranges with ``INTERVAL 'N' DAY``) and transpiled with sqlglot. It avoids what
does not travel: ``GROUP BY ALL`` (Postgres rejects it), ``arg_min`` (passed through
unchanged) and ``date_diff`` (boundaries crossed in DuckDB, elapsed time in Spark).

An analyst runs the printed query in the warehouse, saves its few rows (one per
variant) as CSV or JSON and gets the same report with ``promolab analyze-stats``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd

from promolab.analysis.engines import SOURCE_COLUMNS
from promolab.analysis.sql import ColumnMetric, experiment_stats_sql, literal
from promolab.errors import InputError

if TYPE_CHECKING:
    from promolab.spec import Experiment
    from promolab.store import Registry

DIALECTS = ("duckdb", "spark", "bigquery", "snowflake", "postgres")
KINDS = ("binomial", "mean", "ratio")
JOINT_SUFFIXES = ("__sum_x", "__sum_x2", "__sum_xy")


def to_dialect(sql: str, dialect: str, schema: str | None = None, pretty: bool = True) -> str:
    """DuckDB SQL → ``dialect`` (one of DIALECTS); ``schema`` (``db`` or ``catalog.db``,
    e.g. a BigQuery ``project.dataset``) qualifies the source tables exposures, events
    and user_attributes."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel

    key = (dialect or "").strip().lower()
    if key not in DIALECTS:
        raise InputError("--dialect", dialect, "one of " + ", ".join(DIALECTS))
    tree = sqlglot.parse_one(sql, read="duckdb")
    if schema:
        parts = schema.split(".")
        if len(parts) > 2 or not all(parts):
            raise InputError("--schema", schema, "a schema name, or catalog.schema (project.dataset)")
        for table in tree.find_all(exp.Table):
            if table.name in SOURCE_COLUMNS and not table.args.get("db"):
                table.set("db", exp.to_identifier(parts[-1]))
                if len(parts) == 2:
                    table.set("catalog", exp.to_identifier(parts[0]))
    return tree.sql(dialect=key, pretty=pretty, unsupported_level=ErrorLevel.RAISE)


def experiment_sql(experiment: "Experiment", dialect: str = "duckdb", cuped: bool = True,
                   window_days: int | None = None, schema: str | None = None) -> str:
    """The whole report query of ``experiment`` in ``dialect``."""
    return to_dialect(experiment_stats_sql(experiment, cuped, window_days), dialect, schema)


def export_parquet(registry: "Registry", out_dir: str | Path, key: str | None = None) -> dict[str, Path]:
    """Write exposures, events and user_attributes to ``out_dir/<table>.parquet``.

    With ``key`` only that experiment's exposures and its exposed users' events and
    attributes. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if key is not None:
        registry.get_experiment(key)  # unknown key → the registry's own error
    users = ("(SELECT user_id FROM exposures WHERE experiment_key = " + literal(key) + ")") if key else None
    queries = {
        "exposures": "SELECT * FROM exposures" + (f" WHERE experiment_key = {literal(key)}" if key else ""),
        "events": "SELECT * FROM events" + (f" WHERE user_id IN {users}" if key else ""),
        "user_attributes": "SELECT * FROM user_attributes" + (f" WHERE user_id IN {users}" if key else ""),
    }
    written = {}
    for table, query in queries.items():
        path = out / f"{table}.parquet"
        registry.query(f"COPY ({query}) TO {literal(str(path))} (FORMAT parquet)")
        written[table] = path
    return written


# -- per-variant sufficient statistics from a file ----------------------------------------


@dataclass(frozen=True)
class StatsFile:
    """A per-variant sufficient-statistics table and what it says about its metrics."""

    frame: pd.DataFrame  # columns variant, n, <metric>__sum, ... (canonical names)
    metrics: list[ColumnMetric]
    control: str | None
    weights: dict[str, float] | None
    alpha: float | None


def parse_metric_kind(text: str) -> tuple[str, str, str]:
    """``NAME:KIND`` or ``NAME:KIND:decrease`` → (name, kind, direction)."""
    name, sep, rest = text.rpartition(":")
    direction = "increase"
    if rest in ("increase", "decrease") and ":" in name:
        direction = rest
        name, sep, rest = name.rpartition(":")
    if not sep or not name or rest not in KINDS:
        raise InputError("--metric", text, "NAME:binomial, NAME:mean or NAME:ratio (optionally :decrease)")
    return name, rest, direction


def _json_metrics(value: object, source: str) -> list[tuple[str, str, str]]:
    """JSON ``metrics``: {"name": "kind"} or [{"name":…, "kind":…, "direction":…}] or ["name:kind"]."""
    out = []
    items = value.items() if isinstance(value, dict) else value
    if not isinstance(items, (list, tuple, type({}.items()))):
        raise InputError("metrics", value, 'a list of {"name", "kind"} objects or a {name: kind} map', source=source)
    for item in items:
        if isinstance(item, tuple):
            name, kind, direction = item[0], item[1], "increase"
        elif isinstance(item, str):
            name, kind, direction = parse_metric_kind(item)
        elif isinstance(item, dict) and "name" in item and "kind" in item:
            name, kind, direction = item["name"], item["kind"], item.get("direction", "increase")
        else:
            raise InputError("metrics", item, 'a {"name", "kind"} object', source=source)
        if kind not in KINDS:
            raise InputError(f"metric {name}", kind, "binomial, mean or ratio", source=source)
        if direction not in ("increase", "decrease"):
            raise InputError(f"metric {name}", direction, "direction increase or decrease", source=source)
        out.append((str(name), kind, direction))
    return out


def _read_frame(path: Path) -> tuple[pd.DataFrame, dict]:
    source = str(path)
    if not path.is_file():
        raise InputError("FILE", source, "an existing .csv or .json file of per-variant sufficient statistics")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype={"variant": str}), {}
        if suffix != ".json":
            raise InputError("FILE", source, "a file ending in .csv, .tsv or .json")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("FILE", source, f"valid CSV or JSON ({str(exc).splitlines()[0]})") from exc
    header: dict = {}
    rows = doc
    if isinstance(doc, dict):
        header = doc
        rows = doc.get("variants", doc.get("rows"))
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InputError("variants", type(rows).__name__ if not isinstance(rows, list) else f"{len(rows)} rows",
                         'a non-empty list of per-variant objects ("variants": [{"variant": ..., "n": ...}])',
                         source=source)
    return pd.DataFrame(rows), header


def read_stats_file(path: str | Path, metric_flags: Sequence[str] = (),
                    experiment: "Experiment | None" = None) -> StatsFile:
    """Read per-variant sufficient statistics (CSV or JSON) and validate them.

    Columns: ``variant``, ``n`` and per metric ``<m>__sum``, ``<m>__sum_sq`` plus, for a
    ratio metric (y = numerator, x = denominator) or a CUPED covariate x, ``<m>__sum_x``,
    ``<m>__sum_x2``, ``<m>__sum_xy``. Column names match case-insensitively (Snowflake
    upper-cases unquoted names). Metric kinds come from ``metric_flags``
    (``NAME:KIND[:decrease]``), else the JSON ``metrics`` header, else ``experiment``.
    """
    path = Path(path)
    source = str(path)
    raw, header = _read_frame(path)
    lower = {}
    for column in raw.columns:
        lower.setdefault(str(column).lower(), column)

    def col(name: str) -> str | None:
        return name if name in raw.columns else lower.get(name.lower())

    available = ", ".join(map(str, raw.columns))
    for needed in ("variant", "n"):
        if col(needed) is None:
            raise InputError("column", needed, f"a column of {source} ({available})")

    if metric_flags:
        declared = [parse_metric_kind(m) for m in metric_flags]
    elif "metrics" in header:
        declared = _json_metrics(header["metrics"], source)
    elif experiment is not None:
        declared = [(m.key, m.kind, m.direction) for m in experiment.metrics + experiment.guardrails]
    else:
        found = sorted({str(c)[: -len("__sum")] for c in raw.columns if str(c).endswith("__sum")})
        example = f"--metric {found[0]}:mean" if found else "--metric NAME:mean"
        raise InputError("--metric", None, f"the kind of each metric ({', '.join(found) or 'none found'}), "
                                           f"e.g. {example}, or a JSON \"metrics\" header")
    if not declared:
        raise InputError("--metric", None, "at least one metric")

    frame = pd.DataFrame({"variant": raw[col("variant")].astype(str).str.strip()})
    if frame["variant"].duplicated().any():
        dup = frame["variant"][frame["variant"].duplicated()].iloc[0]
        raise InputError("variant", dup, "one row per variant", source=source)

    def numbers(name: str, integer: bool = False) -> pd.Series:
        column = col(name)
        if column is None:
            raise InputError("column", name, f"a column of {source} ({available})")
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() | ~values.map(lambda v: isinstance(v, (int, float)) and math.isfinite(v))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(f"column {name}", raw[column].iloc[i], "a finite number in every row", source=source)
        if integer and ((values < 0) | (values != values.round())).any():
            i = int(((values < 0) | (values != values.round())).to_numpy().nonzero()[0][0])
            raise InputError(f"column {name}", raw[column].iloc[i], "a whole number of users >= 0", source=source)
        return values.astype("int64" if integer else "float64").reset_index(drop=True)

    frame["n"] = numbers("n", integer=True)
    spec_metrics = {m.key: m for m in experiment.metrics + experiment.guardrails} if experiment else {}
    metrics = []
    for name, kind, direction in declared:
        joint = any(col(name + s) is not None for s in JOINT_SUFFIXES)
        if kind == "ratio" and not joint:
            raise InputError("column", name + "__sum_x", f"a column of {source}: ratio metrics need "
                                                         "__sum_x, __sum_x2 and __sum_xy", source=None)
        for suffix in ("__sum", "__sum_sq") + (JOINT_SUFFIXES if joint else ()):
            frame[name + suffix] = numbers(name + suffix)
        if (frame[name + "__sum_sq"] < 0).any() or (joint and (frame[name + "__sum_x2"] < 0).any()):
            raise InputError(f"column {name}__sum_sq", float(frame[name + "__sum_sq"].min()),
                             "a sum of squares >= 0", source=source)
        spec = spec_metrics.get(name)
        if kind == "ratio":
            num = spec.numerator if spec is not None and spec.numerator else "numerator"
            den = spec.denominator if spec is not None and spec.denominator else "denominator"
            metrics.append(ColumnMetric(name, "ratio", numerator=num, denominator=den, direction=direction))
        else:
            covariate = (spec.covariate if spec is not None and spec.covariate else "covariate") if joint else None
            metrics.append(ColumnMetric(name, kind, column=name, direction=direction, covariate=covariate))

    weights = header.get("weights")
    if weights is not None and not (isinstance(weights, dict)
                                    and all(isinstance(w, (int, float)) and w >= 0 for w in weights.values())):
        raise InputError("weights", weights, 'a {"variant": weight} map of numbers >= 0', source=source)
    alpha = header.get("alpha")
    if alpha is not None and not isinstance(alpha, (int, float)):
        raise InputError("alpha", alpha, "a number in (0, 1)", source=source)
    control = header.get("control")
    return StatsFile(frame, metrics, None if control is None else str(control),
                     None if weights is None else {str(k): float(v) for k, v in weights.items()},
                     None if alpha is None else float(alpha))


def stats_file_report(path: str | Path, control: str | None = None, alpha: float | None = None,
                      correction: str | None = None, metric_flags: Sequence[str] = (),
                      weights: Mapping[str, float] | None = None, experiment: "Experiment | None" = None,
                      status: str = "running"):
    """The report of a per-variant sufficient-statistics file (same as ``report``/``analyze-table``).

    Precedence for control, alpha, correction and SRM weights: arguments, then the JSON
    header, then ``experiment``'s spec, then defaults (alpha 0.05, holm, equal weights).
    With ``experiment`` its declared sequential plan applies as in ``report`` (``status``
    is the experiment's registry status: a stopped experiment is at its final look).
    """
    from promolab.analysis.engine import stats_from_frame
    from promolab.analysis.report import build_report

    data = read_stats_file(path, metric_flags, experiment)
    stats = stats_from_frame(data.frame, data.metrics)
    control = control or data.control or (experiment.control if experiment else None)
    if control is None:
        raise InputError("--control", None, "the control variant: one of " + ", ".join(sorted(stats)))
    if weights is None:
        weights = data.weights
    if weights is None and experiment is not None:
        weights = dict(zip(experiment.variant_keys, experiment.weights))
    if weights is None:
        weights = {v: 1.0 for v in stats}
    if alpha is None:
        alpha = data.alpha if data.alpha is not None else (experiment.plan.alpha if experiment else 0.05)
    if correction is None:
        correction = experiment.plan.correction if experiment else "holm"
    kwargs: dict = {}
    notes: tuple[str, ...] = ()
    if experiment is not None:
        from promolab.analysis.engine import _declared_plan
        from promolab.analysis.sections import guardrail_margins

        names = {m.name for m in data.metrics}
        plan, notes = _declared_plan(experiment, sum(s.n for s in stats.values()), status)
        kwargs = {"guardrails": frozenset(m.key for m in experiment.guardrails if m.key in names),
                  "margins": {k: v for k, v in guardrail_margins(experiment).items() if k in names},
                  "experiment": experiment.key, "sequential": plan,
                  "labels": {m.key: m.label for m in experiment.metrics + experiment.guardrails}}
    report = build_report(stats, data.metrics, control, weights, alpha, correction, **kwargs)
    if notes:
        report = replace(report, notes=report.notes + tuple(notes))
    return report
