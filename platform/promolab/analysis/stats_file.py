"""Per-variant sufficient statistics computed elsewhere (a warehouse, a notebook), read
back from a CSV or JSON file into the same plan and report as any other analysis.

An analyst runs ``promolab sql KEY --dialect …`` where the data lives, saves its few rows
(one per variant) and gets the report with ``promolab analyze-stats FILE``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from promolab.analysis.metrics import ColumnMetric, Margin
from promolab.analysis.pipeline import StatsSource, run
from promolab.analysis.plan import ReportPlan
from promolab.analysis.report import Report
from promolab.analysis.sequential import SequentialPlan
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.vocabulary import DEFAULT_SRM_THRESHOLD, DIRECTIONS, METRIC_KINDS, Correction

JOINT_SUFFIXES = ("__sum_x", "__sum_x2", "__sum_xy")


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
    if rest in DIRECTIONS and ":" in name:
        direction = rest
        name, sep, rest = name.rpartition(":")
    if not sep or not name or rest not in METRIC_KINDS:
        raise InputError("metric", text, "NAME:binomial, NAME:mean or NAME:ratio (optionally :decrease)")
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
        if kind not in METRIC_KINDS:
            raise InputError(f"metric {name}", kind, "binomial, mean or ratio", source=source)
        if direction not in DIRECTIONS:
            raise InputError(f"metric {name}", direction, "direction increase or decrease", source=source)
        out.append((str(name), kind, direction))
    return out


def _read_frame(path: Path) -> tuple[pd.DataFrame, dict]:
    source = str(path)
    if not path.is_file():
        raise InputError("stats file", source, "an existing .csv or .json file of per-variant sufficient statistics")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype={"variant": str}), {}
        if suffix != ".json":
            raise InputError("stats file", source, "a file ending in .csv, .tsv or .json")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("stats file", source, f"valid CSV or JSON ({str(exc).splitlines()[0]})") from exc
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
    ``<m>__sum_x2``, ``<m>__sum_xy``; for a metric with a conversion window, ``<m>__n``: the
    users whose window has closed (the sums are over them). Column names match case-insensitively (Snowflake
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
        raise InputError("metric", None, f"the kind of each metric ({', '.join(found) or 'none found'}), "
                                           f"e.g. {example}, or a JSON \"metrics\" header")
    if not declared:
        raise InputError("metric", None, "at least one metric")

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
        windowed = col(name + "__n") is not None
        if windowed:
            frame[name + "__n"] = counted = numbers(name + "__n", integer=True)
            if (counted > frame["n"]).any():
                i = int((counted > frame["n"]).to_numpy().nonzero()[0][0])
                raise InputError(f"column {name}__n", int(counted.iloc[i]), f"at most n ({int(frame['n'].iloc[i])}): "
                                 "the users whose conversion window has closed", source=source)
        window = {"windowed": windowed, "window_hours": spec.window_hours if spec is not None else None,
                  "delay_hours": spec.delay_hours if spec is not None else 0}
        if kind == "ratio":
            num = spec.numerator if spec is not None and spec.numerator else "numerator"
            den = spec.denominator if spec is not None and spec.denominator else "denominator"
            metrics.append(ColumnMetric(name, "ratio", numerator=num, denominator=den, direction=direction, **window))
        else:
            covariate = (spec.covariate if spec is not None and spec.covariate else "covariate") if joint else None
            metrics.append(ColumnMetric(name, kind, column=name, direction=direction, covariate=covariate, **window))

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


def plan_for_stats(data: StatsFile, control: str | None = None, alpha: float | None = None,
                   correction: Correction | None = None, weights: Mapping[str, float] | None = None,
                   experiment: Experiment | None = None, srm_threshold: float | None = None) -> ReportPlan:
    """The plan of a stats file. Precedence for control, alpha, correction, SRM threshold and
    weights: arguments, then the file's JSON header, then ``experiment``'s spec, then the
    defaults (alpha 0.05, holm, 0.001, equal weights). With ``experiment`` its guardrails
    (with margins), labels and declared sequential plan apply as in ``promolab report``."""
    variants = [str(v) for v in data.frame["variant"]]
    control = control or data.control or (experiment.control if experiment else None)
    if control is None:
        raise InputError("plan.control", None, "the control variant: one of " + ", ".join(sorted(variants)))
    if weights is None:
        weights = data.weights
    if weights is None and experiment is not None:
        weights = dict(zip(experiment.variant_keys, experiment.weights))
    spec = experiment.plan if experiment is not None else None
    metrics = data.metrics
    sequential = None
    if spec is not None:
        declared = {m.key: m for m in experiment.metrics + experiment.guardrails}
        guardrails = {m.key for m in experiment.guardrails}
        metrics = [replace(m, label=declared[m.name].label if m.name in declared else "",
                           guardrail=m.name in guardrails,
                           margin=(Margin(declared[m.name].margin, declared[m.name].margin_type)
                                   if m.name in declared and declared[m.name].margin is not None else None))
                   for m in metrics]
        if spec.sequential is not None:
            sequential = SequentialPlan(spec.sequential, spec.looks, None, spec.spending, spec.target_users)
    return ReportPlan(
        control=control, metrics=tuple(metrics),
        alpha=alpha if alpha is not None else data.alpha if data.alpha is not None else spec.alpha if spec else 0.05,
        correction=correction or (spec.correction if spec else "holm"),
        srm_threshold=srm_threshold if srm_threshold is not None else (spec.srm_threshold if spec
                                                                       else DEFAULT_SRM_THRESHOLD),
        weights=None if weights is None else dict(weights), sequential=sequential,
        experiment=experiment.key if experiment else None)


def analyze_stats_file(path: str | Path, metric_flags: Sequence[str] = (), control: str | None = None,
                       alpha: float | None = None, correction: Correction | None = None,
                       weights: Mapping[str, float] | None = None, experiment: Experiment | None = None,
                       srm_threshold: float | None = None, final: bool = False) -> Report:
    """``run(plan_for_stats(...), StatsSource(...))``: the report of a stats file (``final``: the
    experiment is stopped, so a declared sequential plan is at its last look)."""
    data = read_stats_file(path, metric_flags, experiment)
    plan = plan_for_stats(data, control, alpha, correction, weights, experiment, srm_threshold)
    return run(plan, StatsSource(data.frame, final))
