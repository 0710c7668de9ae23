"""Parse and validate experiment specs (TOML) into frozen dataclasses.

Every problem in a file is collected and reported at once, one line each, naming the
file, the field, the value and what was expected.
"""

from __future__ import annotations

import math
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Mapping

from promolab.errors import InputError, SpecError
from promolab.spec.features import FeatureSet
from promolab.spec.model import (
    AGGREGATES,
    ASSIGNMENT_KINDS,
    CORRECTIONS,
    DEFAULT_SRM_THRESHOLD,
    DIRECTIONS,
    MAX_LOOKS,
    METRIC_KINDS,
    TARGET_OPS,
    COST_KEYS,
    MARGIN_TYPES,
    SEQUENTIAL_METHODS,
    SPENDING_FUNCTIONS,
    AnalysisPlan,
    BanditConfig,
    ContextualConfig,
    Economics,
    Experiment,
    FilterRules,
    Layer,
    Metric,
    Safety,
    TargetRule,
    Variant,
)

MARGIN_REWARD = "margin"
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_EXPECTED = "a key of lowercase letters, digits, '-' or '_' (1-64 chars)"
# Bounds that keep every number of a spec finite through the SQL and arithmetic it feeds:
# amounts (caps, margins, costs, thresholds) times user counts and squared stay far from
# overflow; integers fit the registry's 64-bit columns; durations fit a timedelta.
MAX_NUMBER = 1e15
MAX_COUNT = 1_000_000_000
MAX_USERS = 1_000_000_000_000
MAX_SECONDS = 1_000_000_000
MAX_ACCOUNTS = 1_000_000
MAX_WINDOW_HOURS = 365 * 24  # a conversion window (and its delay) spans at most a year
INT64 = (-(2**63), 2**63 - 1)
MAX_DEPTH = 20  # nesting of payloads and bandit parameters
MAX_SHOWN = 200  # characters of a bad value repeated in an error
JSON_EXPECTED = "a JSON value: text, an integer, a finite number, true/false, or a list / table of those"
SCALAR_EXPECTED = "a text, an integer, a finite number or true/false"
# lone surrogates cannot be stored or printed; control characters (other than tab and new
# line) would rewrite the terminal of whoever reads a name
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
TEXT_EXPECTED = "a non-empty string of printable text"
TOP_LEVEL = {
    "key", "name", "hypothesis", "owner", "kind", "control", "variants", "metrics",
    "guardrails", "traffic_percent", "layer", "targeting", "salt", "analysis", "bandit",
    "contextual", "filtering", "economics", "safety",
}
CONTEXTUAL_FIELDS = {"policy", "params", "reward", "update_period_seconds", "floor", "holdout", "burn_in",
                     "features"}
TARGETING_POLICY = "targeting"
REWARD_WINDOW_EXPECTED = "a metric without a conversion window (policies learn from every reward so far)"


def _shown(value: object) -> object:
    """The value as an error shows it: itself, or its repr cut to MAX_SHOWN characters (a
    hostile value can be a megabyte of text, or an integer too long for ``repr``)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} too large to show>"
    return value if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


class _Problems:
    """Collects InputErrors for one source so a file reports every problem at once."""

    def __init__(self, source: str | None):
        self.source = source
        self.items: list[InputError] = []

    def add(self, field: str, value: object, expected: str) -> None:
        field = field if len(field) <= MAX_SHOWN else field[:MAX_SHOWN] + "…"  # e.g. an unknown 1 MB name
        self.items.append(InputError(field, _shown(value), expected, source=self.source))

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)


def load_experiment(path: str | Path) -> Experiment:
    """Read one TOML experiment spec; raise SpecError listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([InputError("file", source, f"a readable TOML file ({exc.strerror})")]) from exc
    except UnicodeDecodeError as exc:
        raise SpecError([InputError("file", source, f"a UTF-8 encoded TOML file (not UTF-8: byte "
                                    f"0x{exc.object[exc.start]:02x} at offset {exc.start})")]) from None
    return parse_experiment(text, source=source)


def parse_experiment(text: str, source: str | None = None) -> Experiment:
    """Parse TOML text of an experiment spec."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([InputError("toml", str(exc), "valid TOML", source=source)]) from exc
    except RecursionError:
        raise SpecError([InputError("toml", "deeply nested arrays or tables", "valid TOML nested at most "
                                    f"{MAX_DEPTH} levels deep", source=source)]) from None
    except ValueError as exc:  # e.g. an integer literal of thousands of digits
        raise SpecError([InputError("toml", str(exc)[:MAX_SHOWN], "valid TOML (integers of at most 64 bits)",
                                    source=source)]) from None
    return experiment_from_dict(raw, source=source)


def _is_text(value: Any, *, empty: bool = False) -> bool:
    """A str of printable text (no lone surrogates, no control characters but tab / new line)."""
    return isinstance(value, str) and (empty or bool(value.strip())) and not _BAD_TEXT.search(value)


def _str(p: _Problems, raw: Mapping[str, Any], field: str, prefix: str, *, required: bool = True,
         default: str = "") -> str:
    value = raw.get(field)
    if value is None:
        if required:
            p.add(f"{prefix}{field}", None, "a non-empty string")
        return default
    if not _is_text(value):
        p.add(f"{prefix}{field}", value, TEXT_EXPECTED if isinstance(value, str) else "a non-empty string")
        return default
    return value


def _opt_text(p: _Problems, raw: Mapping[str, Any], field: str, prefix: str) -> str:
    """An optional label: absent or "" is "", anything else must be printable text."""
    value = raw.get(field)
    if value is None or value == "":
        return ""
    if not _is_text(value):
        p.add(f"{prefix}{field}", value, "a string of printable text")
        return ""
    return value


def _names(p: _Problems, value: Any, field: str, expected: str) -> tuple[str, ...] | None:
    """A list of non-empty names (events, attributes); None (and a problem) otherwise."""
    if not isinstance(value, list) or not all(_is_text(x) for x in value):
        p.add(field, value, expected)
        return None
    return tuple(value)


def _int(p: _Problems, value: Any, field: str, lo: int, hi: int, expected: str | None = None) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        p.add(field, value, expected or f"a whole number in [{lo}, {hi}]")
        return None
    return value


def _json(p: _Problems, value: Any, field: str, depth: int = 0) -> Any:
    """A JSON-representable copy of ``value`` (payloads, parameters); problems name the path,
    e.g. ``variants[1].payload.starts``: TOML datetimes, inf / nan, ints beyond 64 bits,
    non-text keys and lone surrogates cannot be stored, served or printed."""
    if depth > MAX_DEPTH:
        p.add(field, "…", f"values nested at most {MAX_DEPTH} levels deep")
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            p.add(field, value, "an integer that fits in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            p.add(field, value, "a finite number")
        return value
    if isinstance(value, str):
        if _SURROGATE.search(value):
            p.add(field, value, "valid Unicode text")
        return value
    if isinstance(value, list):
        return [_json(p, x, f"{field}[{i}]", depth + 1) for i, x in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, x in value.items():
            if not isinstance(k, str) or _SURROGATE.search(k):
                p.add(f"{field}", k, "a table whose keys are valid Unicode text")
                continue
            out[k] = _json(p, x, f"{field}.{k}", depth + 1)
        return out
    p.add(field, value, JSON_EXPECTED)
    return None


def _scalar(p: _Problems, value: Any, field: str, expected: str = SCALAR_EXPECTED) -> bool:
    """A text, 64-bit integer, finite number or boolean (targeting values)."""
    ok = (isinstance(value, bool) or (isinstance(value, int) and INT64[0] <= value <= INT64[1])
          or (isinstance(value, float) and math.isfinite(value)) or _is_text(value, empty=True))
    if not ok:
        p.add(field, value, expected)
    return ok


def _key(p: _Problems, raw: Mapping[str, Any], field: str, prefix: str, *, required: bool = True) -> str:
    value = raw.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        p.add(f"{prefix}{field}", value, KEY_EXPECTED)
        return "" if not isinstance(value, str) else value
    return value


def _number(p: _Problems, value: Any, field: str, expected: str, lo: float, hi: float,
            lo_open: bool = False, hi_open: bool = False) -> float | None:
    """A finite number in the range; -0.0 becomes 0.0. Bounds must be finite."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if ok:
        try:
            number = float(value) + 0.0
        except OverflowError:
            ok = False
        else:
            ok = math.isfinite(number)
    if not ok:
        p.add(field, value, expected)
        return None
    return number


def _choice(p: _Problems, value: Any, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        p.add(field, value, "one of " + ", ".join(choices))
        return choices[0]
    return value


def _unknown(p: _Problems, raw: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    for name in raw:
        if name not in allowed:
            p.add(f"{prefix}{name}", raw[name], "no such field (allowed: " + ", ".join(sorted(allowed)) + ")")


def _variants(p: _Problems, raw: Any) -> tuple[Variant, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        p.add("variants", raw if not isinstance(raw, list) else f"{len(raw)} variant(s)",
              "at least two [[variants]] tables")
        return ()
    out: list[Variant] = []
    weights: list[float | None] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        prefix = f"variants[{i}]."
        if not isinstance(item, dict):
            p.add(f"variants[{i}]", item, "a table with key, name, weight")
            continue
        _unknown(p, item, {"key", "name", "weight", "payload", "cost"}, prefix)
        key = _key(p, item, "key", prefix)
        if key in seen:
            p.add(f"{prefix}key", key, "a key not used by another variant")
        seen.add(key)
        name = _str(p, item, "name", prefix, required=False, default=key)
        weight = _number(p, item.get("weight", 1.0), f"{prefix}weight", "a finite number > 0", 0.0,
                         sys.float_info.max, lo_open=True)
        weights.append(weight)
        payload = item.get("payload", {})
        if not isinstance(payload, dict):
            p.add(f"{prefix}payload", payload, "a table such as {discount_pct = 10}")
            payload = {}
        out.append(Variant(key=key, name=name, weight=weight or 1.0, payload=_json(p, payload, f"{prefix}payload"),
                           cost=_cost(p, item.get("cost", {}), f"{prefix}cost")))
    _check_weights(p, weights)
    return tuple(out)


def _check_weights(p: _Problems, weights: list[float | None]) -> None:
    """Weights are split into shares: their sum must be finite and every share > 0."""
    if None in weights or not weights:
        return
    total = sum(weights)
    if not math.isfinite(total):
        p.add("variants", f"weights {', '.join(f'{w:g}' for w in weights)}",
              "weights whose sum is finite (they are relative: scale them down)")
        return
    for i, w in enumerate(weights):
        if not w / total > 0:
            p.add(f"variants[{i}].weight", w, f"a weight large enough to get a share of the traffic "
                  f"next to the others (total {total:g})")


def _cost(p: _Problems, raw: Any, field: str) -> dict[str, float]:
    """A variant's promotion cost: {discount_pct, shipping_cost, coupon_value, per_user}."""
    if not isinstance(raw, dict):
        p.add(field, raw, "a table such as {discount_pct = 10} or {shipping_cost = 6.5}")
        return {}
    _unknown(p, raw, set(COST_KEYS), f"{field}.")
    out = {}
    for name in COST_KEYS:
        if name in raw:
            if name == "discount_pct":
                value = _number(p, raw[name], f"{field}.{name}", "a percentage in [0, 100)", 0.0, 100.0,
                                hi_open=True)
            else:
                value = _number(p, raw[name], f"{field}.{name}", f"a finite amount in [0, {MAX_NUMBER:g}]",
                                0.0, MAX_NUMBER)
            if value is not None:
                out[name] = value
    return out


def _filtering(p: _Problems, raw: Any) -> FilterRules | None:
    """The optional [filtering] table (see FilterRules); a rule is on when its threshold is set."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add("filtering", raw, "a [filtering] table of rules")
        return None
    defaults = FilterRules()
    _unknown(p, raw, set(FilterRules.__dataclass_fields__), "filtering.")
    values: dict[str, Any] = {}
    bounds = {"max_events_per_day": (1, MAX_COUNT), "burst_orders": (2, MAX_COUNT),
              "refunds_after_coupon": (1, MAX_COUNT), "burst_seconds": (1, MAX_SECONDS),
              "max_accounts": (1, MAX_ACCOUNTS)}
    for name, (low, high) in bounds.items():
        if name in raw:
            v = _int(p, raw[name], f"filtering.{name}", low, high)
            if v is not None:
                values[name] = v
    if "outlier_z" in raw:
        z = _number(p, raw["outlier_z"], "filtering.outlier_z",
                    f"a robust z-score threshold in (0, {MAX_NUMBER:g}] (e.g. 5)", 0.0, MAX_NUMBER, lo_open=True)
        if z is not None:
            values["outlier_z"] = z
    for name in ("order_event", "coupon_event", "refund_event"):
        if name in raw:
            values[name] = _str(p, raw, name, "filtering.", default=getattr(defaults, name))
    for name in ("rate_events", "shared_attributes"):
        if name in raw:
            names = _names(p, raw[name], f"filtering.{name}", "a list of names")
            if names is not None:
                values[name] = names
    return FilterRules(**values)


def _economics(p: _Problems, raw: Any, metrics: tuple[Metric, ...]) -> Economics | None:
    """The optional [economics] table: revenue / orders / buyers metric keys, margin_rate."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add("economics", raw, "an [economics] table {revenue, orders, buyers, margin_rate}")
        return None
    _unknown(p, raw, {"revenue", "orders", "buyers", "margin_rate"}, "economics.")
    by_key = {m.key: m for m in metrics}
    wanted = {"revenue": ("mean", "a mean metric summing order values"),
              "orders": ("mean", "a mean metric counting orders"), "buyers": ("binomial", "a binomial metric")}
    refs: dict[str, str | None] = {}
    for name, (kind, expected) in wanted.items():
        ref = raw.get(name)
        if ref is not None and (not isinstance(ref, str) or ref not in by_key or by_key[ref].kind != kind):
            p.add(f"economics.{name}", ref, f"the key of {expected} of this experiment")
            ref = None
        refs[name] = ref
    rate = _number(p, raw.get("margin_rate", 1.0), "economics.margin_rate", "a share in (0, 1]", 0.0, 1.0,
                   lo_open=True)
    return Economics(**refs, margin_rate=rate or 1.0)


def _safety(p: _Problems, raw: Any, guardrails: tuple[Metric, ...]) -> Safety:
    """The optional [safety] table: auto_pause (true/false), guardrails (keys that may pause)."""
    if raw is None:
        return Safety()
    if not isinstance(raw, dict):
        p.add("safety", raw, "a [safety] table {auto_pause, guardrails}")
        return Safety()
    _unknown(p, raw, {"auto_pause", "guardrails"}, "safety.")
    auto = raw.get("auto_pause", False)
    if not isinstance(auto, bool):
        p.add("safety.auto_pause", auto, "true or false")
        auto = False
    known = [m.key for m in guardrails]
    expected = f"guardrail keys of this experiment ({', '.join(known) or 'none declared'})"
    names = _names(p, raw.get("guardrails", []), "safety.guardrails", "a list of " + expected) or ()
    for name in names:
        if name not in known:
            p.add("safety.guardrails", name, "one of the " + expected)
    return Safety(auto, tuple(n for n in dict.fromkeys(names) if n in known))


def _metric(p: _Problems, item: Any, prefix: str) -> Metric | None:
    if not isinstance(item, dict):
        p.add(prefix.rstrip("."), item, "a table with key and kind")
        return None
    _unknown(p, item, {"key", "name", "kind", "event", "aggregate", "numerator", "denominator",
                       "direction", "cap", "covariate", "margin", "margin_type", "window_hours", "delay_hours"},
             prefix)
    key = _key(p, item, "key", prefix)
    kind = _choice(p, item.get("kind"), f"{prefix}kind", METRIC_KINDS)
    direction = _choice(p, item.get("direction", "increase"), f"{prefix}direction", DIRECTIONS)
    aggregate = _choice(p, item.get("aggregate", "sum"), f"{prefix}aggregate", AGGREGATES)
    event = item.get("event")
    numerator = item.get("numerator")
    denominator = item.get("denominator")
    if kind == "ratio":
        for field, value in (("numerator", numerator), ("denominator", denominator)):
            if not _is_text(value):
                p.add(f"{prefix}{field}", value, "the key of another metric of this experiment")
    elif not _is_text(event):
        p.add(f"{prefix}event", event, "the name of the event this metric counts (e.g. 'order')")
    cap = item.get("cap")
    if cap is not None:
        cap = _number(p, cap, f"{prefix}cap", f"a finite number in (0, {MAX_NUMBER:g}] (winsorisation cap)",
                      0.0, MAX_NUMBER, lo_open=True)
    covariate = item.get("covariate")
    if covariate is not None and not _is_text(covariate):
        p.add(f"{prefix}covariate", covariate, "the name of a numeric user attribute")
        covariate = None
    margin = item.get("margin")
    if margin is not None:
        margin = _number(p, margin, f"{prefix}margin", f"a non-inferiority margin in (0, {MAX_NUMBER:g}]",
                         0.0, MAX_NUMBER, lo_open=True)
    margin_type = _choice(p, item.get("margin_type", "absolute"), f"{prefix}margin_type", MARGIN_TYPES)
    if kind == "ratio":
        numerator = numerator if isinstance(numerator, str) else None
        denominator = denominator if isinstance(denominator, str) else None
    window, delay = _window(p, item, prefix, kind)
    return Metric(key=key, kind=kind, name=_opt_text(p, item, "name", prefix), event=event, aggregate=aggregate,
                  numerator=numerator, denominator=denominator, direction=direction, cap=cap,
                  covariate=covariate, margin=margin, margin_type=margin_type, window_hours=window,
                  delay_hours=delay)


def _window(p: _Problems, item: Mapping[str, Any], prefix: str, kind: str) -> tuple[int | None, int]:
    """A metric's conversion window: ``window_hours`` in [1, MAX_WINDOW_HOURS] and an optional
    ``delay_hours`` in [0, MAX_WINDOW_HOURS], whole hours; a ratio takes its components'."""
    window, delay = item.get("window_hours"), item.get("delay_hours")
    if kind == "ratio":
        for field, value in (("window_hours", window), ("delay_hours", delay)):
            if value is not None:
                p.add(f"{prefix}{field}", value, "no window on a ratio metric: its numerator and denominator "
                      "metrics carry their own")
        return None, 0
    if window is not None:
        window = _int(p, window, f"{prefix}window_hours", 1, MAX_WINDOW_HOURS,
                      f"a whole number of hours in [1, {MAX_WINDOW_HOURS}] (at most 365 days)")
    if delay is None:
        return window, 0
    if item.get("window_hours") is None:
        p.add(f"{prefix}delay_hours", delay, "a window_hours as well (the delay shifts a conversion window)")
        return None, 0
    delay = _int(p, delay, f"{prefix}delay_hours", 0, MAX_WINDOW_HOURS,
                 f"a whole number of hours in [0, {MAX_WINDOW_HOURS}] (at most 365 days)")
    return window, delay or 0


def _metrics(p: _Problems, raw: Any, field: str, required: bool) -> tuple[Metric, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw):
        p.add(field, raw, f"at least one [[{field}]] table" if required else f"a list of [[{field}]] tables")
        return ()
    return tuple(m for i, item in enumerate(raw) if (m := _metric(p, item, f"{field}[{i}].")) is not None)


def _check_metric_refs(p: _Problems, metrics: tuple[Metric, ...], guardrails: tuple[Metric, ...]) -> None:
    all_metrics = metrics + guardrails
    keys = [m.key for m in all_metrics]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            p.add("metrics.key", key, "a metric key used once across metrics and guardrails")
    by_key = {m.key: m for m in all_metrics}
    for m in all_metrics:
        if m.kind != "ratio":
            continue
        for field in ("numerator", "denominator"):
            ref = getattr(m, field)
            target = by_key.get(ref) if isinstance(ref, str) else None
            if isinstance(ref, str) and ref and (target is None or target.kind == "ratio"):
                p.add(f"metric {m.key}.{field}", ref, "the key of a binomial or mean metric of this experiment")


def _targeting(p: _Problems, raw: Any) -> tuple[TargetRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add("targeting", raw, "a list of [[targeting]] tables with attribute, op, value")
        return ()
    rules = []
    for i, item in enumerate(raw):
        prefix = f"targeting[{i}]."
        if not isinstance(item, dict):
            p.add(f"targeting[{i}]", item, "a table with attribute, op, value")
            continue
        _unknown(p, item, {"attribute", "op", "value"}, prefix)
        attribute = _str(p, item, "attribute", prefix)
        op = _choice(p, item.get("op"), f"{prefix}op", TARGET_OPS)
        value = item.get("value")
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                p.add(f"{prefix}value", value, f"a list of values for op '{op}'")
            else:
                for j, x in enumerate(value):
                    _scalar(p, x, f"{prefix}value[{j}]")
        elif op in ("lt", "lte", "gt", "gte"):
            if isinstance(value, (str, bool)):
                p.add(f"{prefix}value", value, f"a finite number for op '{op}'")
            else:
                _scalar(p, value, f"{prefix}value", f"a finite number for op '{op}'")
        elif value is None:
            p.add(f"{prefix}value", value, "a value to compare with")
        else:
            _scalar(p, value, f"{prefix}value")
        rules.append(TargetRule(attribute=attribute, op=op, value=value))
    return tuple(rules)


def _layer(p: _Problems, raw: Any) -> Layer | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"key": raw}
    if not isinstance(raw, dict):
        p.add("layer", raw, "a layer key or a table {key, start, end}")
        return None
    _unknown(p, raw, {"key", "start", "end"}, "layer.")
    key = _key(p, raw, "key", "layer.")
    start = _number(p, raw.get("start", 0.0), "layer.start", "a number in [0, 1)", 0.0, 1.0, hi_open=True)
    end = _number(p, raw.get("end", 1.0), "layer.end", "a number in (0, 1]", 0.0, 1.0, lo_open=True)
    if start is not None and end is not None and end <= start:
        p.add("layer.end", end, f"a number greater than layer.start ({start})")
    return Layer(key=key, start=start or 0.0, end=end or 1.0)


def _plan(p: _Problems, raw: Any) -> AnalysisPlan:
    if raw is None:
        return AnalysisPlan()
    if not isinstance(raw, dict):
        p.add("analysis", raw, "a table {alpha, correction, sequential, looks, spending}")
        return AnalysisPlan()
    _unknown(p, raw, {"alpha", "correction", "sequential", "looks", "spending", "target_users", "segments",
                      "srm_threshold"}, "analysis.")
    segments = _names(p, raw.get("segments", []), "analysis.segments",
                      "a list of user attribute names to drill down by") or ()
    alpha = _number(p, raw.get("alpha", 0.05), "analysis.alpha", "a number in (0, 1)", 0.0, 1.0,
                    lo_open=True, hi_open=True)
    correction = _choice(p, raw.get("correction", "holm"), "analysis.correction", CORRECTIONS)
    sequential = raw.get("sequential")
    if sequential is not None:
        sequential = _choice(p, sequential, "analysis.sequential", SEQUENTIAL_METHODS)
    looks = raw.get("looks")
    if (looks is not None or sequential == "gst") and (
            not isinstance(looks, int) or isinstance(looks, bool) or not 1 <= looks <= MAX_LOOKS):
        p.add("analysis.looks", looks, f"an integer in [1, {MAX_LOOKS}] (planned looks of the group-sequential design)")
        looks = None
    spending = _choice(p, raw.get("spending", "obf"), "analysis.spending", SPENDING_FUNCTIONS)
    target = raw.get("target_users")
    if target is not None or sequential == "gst":
        target = _int(p, target, "analysis.target_users", 2, MAX_USERS,
                      f"the planned number of users (an integer in [2, {MAX_USERS:.0e}]); "
                      "a group-sequential plan needs it to know the information fraction")
    srm_threshold = _number(p, raw.get("srm_threshold", DEFAULT_SRM_THRESHOLD), "analysis.srm_threshold",
                            "a number in (0, 1)", 0.0, 1.0, lo_open=True, hi_open=True)
    return AnalysisPlan(alpha=alpha or 0.05, correction=correction, sequential=sequential, looks=looks,
                        spending=spending, target_users=target, segments=tuple(segments),
                        srm_threshold=srm_threshold or DEFAULT_SRM_THRESHOLD)


def _params_and_floor(p: _Problems, raw: Mapping[str, Any], table: str, arms: int
                      ) -> tuple[dict[str, Any], bool, float | None]:
    """A [bandit] or [contextual] table's policy ``params`` (JSON values; ok when they have no
    problem, so the policy may be asked about them) and its exploration ``floor``."""
    params = raw.get("params", {})
    if not isinstance(params, dict):
        p.add(f"{table}.params", params, "a table of policy parameters")
        params = {}
    before = len(p.items)
    params = _json(p, params, f"{table}.params")
    ok = len(p.items) == before
    floor = _number(p, raw.get("floor", 0.0), f"{table}.floor", f"a number in [0, {1 / max(arms, 1):.4g}] "
                    "(every arm keeps at least this share)", 0.0, 1.0 / max(arms, 1))
    return params, ok, floor


def _reward_metric(p: _Problems, table: str, reward: Any, metrics: tuple[Metric, ...], policy: Any,
                   other: str = "") -> None:
    """A [bandit] or [contextual] reward: a binomial or mean metric (binomial for a policy that
    models 0/1 rewards), with no conversion window; ``other`` names what else is accepted."""
    by_key = {m.key: m for m in metrics}
    if not isinstance(reward, str) or reward not in by_key or by_key[reward].kind == "ratio":
        p.add(f"{table}.reward", reward, f"{other}the key of a binomial or mean metric of this experiment: "
              + ", ".join(m.key for m in metrics if m.kind != "ratio"))
    elif policy is not None and policy.bernoulli_only and by_key[reward].kind != "binomial":
        p.add(f"{table}.reward", reward, f"a binomial metric: policy {policy.name} models 0/1 rewards")
    elif by_key[reward].window_hours is not None:
        p.add(f"{table}.reward", reward, REWARD_WINDOW_EXPECTED)


def _schedule(p: _Problems, raw: Mapping[str, Any], table: str, users: str) -> tuple[float | None, int | None]:
    """``update_period_seconds`` and ``burn_in`` of a [bandit] or [contextual] table."""
    period = _number(p, raw.get("update_period_seconds", 3600.0), f"{table}.update_period_seconds",
                     f"a number of seconds in [1, {MAX_SECONDS:.0e}]", 1.0, MAX_SECONDS)
    burn_in = _int(p, raw.get("burn_in", 100), f"{table}.burn_in", 0, MAX_COUNT,
                   f"a whole number of {users} in [0, {MAX_COUNT:.0e}]")
    return period, burn_in


def _bandit(p: _Problems, raw: dict[str, Any], metrics: tuple[Metric, ...], arms: int,
            priced: bool) -> BanditConfig | None:
    """Validate [bandit]: the policy and its parameters through the bandit registry.

    ``reward = "margin"`` optimises the per-user margin after promotion costs (needs
    variant costs or [economics]; see ``promolab.analysis.economics``)."""
    from promolab.bandits import make_policy

    _unknown(p, raw, {"policy", "params", "reward", "update_period_seconds", "floor", "burn_in"}, "bandit.")
    name = raw.get("policy")
    params, params_ok, floor = _params_and_floor(p, raw, "bandit", arms)
    policy = None
    if not isinstance(name, str):
        p.add("bandit.policy", name, "the name of a bandit policy (e.g. 'thompson')")
    elif params_ok:
        try:
            policy = make_policy(name, {**params, "floor": floor or 0.0}, field="bandit.policy")
        except InputError as exc:
            p.items.append(InputError(exc.field.replace("bandit.policy.name", "bandit.policy"), exc.value,
                                      exc.expected, source=p.source))
    reward = raw.get("reward")
    if reward == MARGIN_REWARD:
        if not priced:
            p.add("bandit.reward", reward, "variant costs or an [economics] table to price the margin")
        elif policy is not None and policy.bernoulli_only:
            p.add("bandit.reward", reward, f"a binomial metric: policy {name} models 0/1 rewards "
                  "(use a normal prior or ucb1 / epsilon-greedy for margin)")
    else:
        _reward_metric(p, "bandit", reward, metrics, policy, "'margin' or ")
    period, burn_in = _schedule(p, raw, "bandit", "users per arm")
    if burn_in is None:
        burn_in = 100
    if not isinstance(name, str):
        return None
    return BanditConfig(policy=name, reward=reward if isinstance(reward, str) else "", params=dict(params),
                        update_period_seconds=period or 3600.0, floor=floor or 0.0, burn_in=burn_in)


def _contextual(p: _Problems, raw: dict[str, Any], metrics: tuple[Metric, ...], variants: tuple[Variant, ...],
                control: object) -> ContextualConfig | None:
    """Validate [contextual]: features, the policy and its parameters, holdout and floor.

    A learning policy goes through the contextual-bandit registry; ``targeting`` takes
    ``params.scores``: for every offer but the control, one weight per encoded feature
    column (``FeatureSet.columns``)."""
    from promolab.bandits import CONTEXTUAL_POLICIES, make_contextual_policy

    _unknown(p, raw, CONTEXTUAL_FIELDS, "contextual.")
    arms = max(len(variants), 1)
    features = None
    try:
        features = FeatureSet.from_dicts(raw.get("features"))
    except InputError as exc:
        p.items.append(InputError(f"contextual.{exc.field}", exc.value, exc.expected))
    params, params_ok, floor = _params_and_floor(p, raw, "contextual", arms)
    holdout = _number(p, raw.get("holdout", 0.1), "contextual.holdout",
                      "a share in [0, 1] of users assigned uniformly at random (for unbiased measurement)", 0.0, 1.0)
    name = raw.get("policy")
    choices = (*CONTEXTUAL_POLICIES, TARGETING_POLICY)
    policy = None
    if not isinstance(name, str) or name not in choices:
        p.add("contextual.policy", name, "one of " + ", ".join(choices))
    elif name == TARGETING_POLICY:
        if features is not None and params_ok:
            _targeting_scores(p, params, features, variants, control)
    elif params_ok:
        for economic in ("value", "cost"):  # the served form scores the reward metric itself
            if economic in params:
                p.add(f"contextual.params.{economic}", params[economic],
                      "no per-offer economics in an experiment: choose the reward metric instead")
                params = {k: v for k, v in params.items() if k != economic}
        try:
            policy = make_contextual_policy(name, {**params, "floor": floor or 0.0}, field="contextual.policy")
        except InputError as exc:
            p.items.append(exc)
    reward = raw.get("reward")
    if name == TARGETING_POLICY and reward is None:
        reward = metrics[0].key if metrics else ""
    _reward_metric(p, "contextual", reward, metrics, policy)
    period, burn_in = _schedule(p, raw, "contextual", "users with rewards")
    if features is None or not isinstance(name, str):
        return None
    return ContextualConfig(policy=name, reward=reward if isinstance(reward, str) else "", features=features,
                            params=dict(params), update_period_seconds=period or 3600.0, floor=floor or 0.0,
                            holdout=holdout if holdout is not None else 0.1,
                            burn_in=burn_in if burn_in is not None else 100)


def _targeting_scores(p: _Problems, params: dict[str, Any], features: FeatureSet, variants: tuple[Variant, ...],
                      control: object) -> None:
    """``params = {scores = {offer = [w₀, …]}}``: one weight vector per offer but the control."""
    _unknown(p, params, {"scores"}, "contextual.params.")
    scores = params.get("scores")
    offers = [v.key for v in variants if v.key != control]
    if not isinstance(scores, dict) or sorted(scores) != sorted(offers):
        p.add("contextual.params.scores", sorted(scores) if isinstance(scores, dict) else scores,
              "a table with one weight list per offer but the control: " + ", ".join(offers))
        return
    for offer, w in scores.items():
        ok = isinstance(w, list) and len(w) == features.dim and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= MAX_NUMBER
            for x in w)
        if not ok:
            p.add(f"contextual.params.scores.{offer}", w if not isinstance(w, list) else f"{len(w)} values",
                  f"{features.dim} finite numbers, one per encoded column: " + ", ".join(features.columns))


def experiment_from_dict(raw: Mapping[str, Any], source: str | None = None) -> Experiment:
    """Validate a parsed spec mapping; raise SpecError with one line per problem."""
    p = _Problems(source)
    if not isinstance(raw, Mapping):
        p.add("spec", raw, "a table of experiment fields (key, name, owner, variants, metrics, ...)")
        p.raise_if_any()
    _unknown(p, raw, TOP_LEVEL, "")
    key = _key(p, raw, "key", "")
    name = _str(p, raw, "name", "")
    hypothesis = _str(p, raw, "hypothesis", "", required=False)
    owner = _str(p, raw, "owner", "")
    kind = _choice(p, raw.get("kind", "ab"), "kind", ASSIGNMENT_KINDS)
    variants = _variants(p, raw.get("variants"))
    control = raw.get("control", variants[0].key if variants else None)
    if variants and (not isinstance(control, str) or control not in {v.key for v in variants}):
        p.add("control", control, "one of the variant keys: " + ", ".join(v.key for v in variants))
    metrics = _metrics(p, raw.get("metrics"), "metrics", required=True)
    guardrails = _metrics(p, raw.get("guardrails"), "guardrails", required=False)
    for i, m in enumerate(metrics):
        if m.margin is not None:
            p.add(f"metrics[{i}].margin", m.margin, "no margin: non-inferiority margins belong on [[guardrails]]")
    _check_metric_refs(p, metrics, guardrails)
    traffic = _number(p, raw.get("traffic_percent", 100), "traffic_percent", "a number in [0, 100]", 0.0, 100.0)
    salt = raw.get("salt", "")
    if not _is_text(salt, empty=True):
        p.add("salt", salt, "a string of printable text")
        salt = ""
    bandit = raw.get("bandit")
    if kind == "bandit" and not isinstance(bandit, dict):
        p.add("bandit", bandit, "a [bandit] table (policy, reward, update period) when kind = 'bandit'")
    if kind != "bandit" and bandit is not None:
        p.add("bandit", bandit, "no [bandit] table unless kind = 'bandit'")
    contextual = raw.get("contextual")
    if kind == "contextual" and not isinstance(contextual, dict):
        p.add("contextual", contextual, "a [contextual] table (policy, reward, features) when kind = 'contextual'")
    if kind != "contextual" and contextual is not None:
        p.add("contextual", contextual, "no [contextual] table unless kind = 'contextual'")
    priced = isinstance(raw.get("economics"), dict) or any(v.cost for v in variants)
    bandit_config = (_bandit(p, bandit, metrics, len(variants), priced)
                     if kind == "bandit" and isinstance(bandit, dict) else None)
    experiment = Experiment(
        key=key,
        name=name,
        hypothesis=hypothesis,
        owner=owner,
        variants=variants,
        control=control if isinstance(control, str) else "",
        metrics=metrics,
        guardrails=guardrails,
        # 10 decimals of a percent, as experiment_to_dict writes it: a stored spec reads back equal
        coverage=round(traffic if traffic is not None else 100.0, 10) / 100.0,
        layer=_layer(p, raw.get("layer")),
        targeting=_targeting(p, raw.get("targeting")),
        kind=kind,
        salt=salt,
        plan=_plan(p, raw.get("analysis")),
        bandit=bandit_config,
        contextual=(_contextual(p, contextual, metrics, variants, control)
                    if kind == "contextual" and isinstance(contextual, dict) else None),
        filtering=_filtering(p, raw.get("filtering")),
        economics=_economics(p, raw.get("economics"), metrics + guardrails),
        safety=_safety(p, raw.get("safety"), guardrails),
    )
    p.raise_if_any()
    return experiment
