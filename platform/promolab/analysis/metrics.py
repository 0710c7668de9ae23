"""The metrics of an analysis as columns of a per-user relation, and the one syntax
that names them on the command line (``COL:kind[:direction][:option=value…]``).

A ``ColumnMetric`` is resolved: its kind, direction, cap, covariate, guardrail role and
non-inferiority margin are known, whatever declared it (a spec, flags, a stats file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from promolab.errors import InputError
from promolab.spec.vocabulary import DIRECTIONS, METRIC_KINDS, Direction, MarginType, MetricKind


@dataclass(frozen=True)
class Margin:
    """A guardrail's non-inferiority margin: absolute (metric units) or relative (share of control)."""

    value: float
    kind: MarginType = "absolute"


@dataclass(frozen=True)
class ColumnMetric:
    """A metric read from a per-user relation: ``column`` (or numerator/denominator columns).

    ``covariate`` is the pre-period column for CUPED. ``cap`` winsorises the per-user value
    at that level; ``cap_quantile`` (e.g. 0.99) asks for the cap to be that percentile of
    the metric over all analysed users, resolved by the pipeline before the query.
    """

    name: str
    kind: MetricKind
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    covariate: str | None = None
    cap: float | None = None
    direction: Direction = "increase"
    label: str = ""
    guardrail: bool = False
    margin: Margin | None = None
    cap_quantile: float | None = None
    # conversion windows: an empty (NULL) value in any of the metric's columns marks a user
    # whose window is still open, left out of this metric; window_hours / delay_hours say
    # which window made the values, when known (see ``promolab.analysis.windows``)
    windowed: bool = False
    window_hours: int | None = None
    delay_hours: int = 0

    @property
    def joint(self) -> bool:
        """Whether the metric needs cross sums (ratio, or any metric with a covariate)."""
        return self.kind == "ratio" or self.covariate is not None

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-user columns of the metric's value (a ratio's numerator and denominator)."""
        return tuple(c for c in ((self.numerator, self.denominator) if self.kind == "ratio" else (self.column,)) if c)

    @property
    def value_column(self) -> str:
        """The column whose per-user value is capped (the numerator of a ratio)."""
        return (self.numerator if self.kind == "ratio" else self.column) or self.name


OPTIONS = ("cap", "covariate", "margin")
SYNTAX = ("COL:binomial | COL:mean | NUM/DEN:ratio, then optionally :increase|:decrease, :cap=N|pNN, :covariate=COL "
          "and :windowed")
WINDOWED = "windowed"  # the table is windowed already: an empty value marks a conversion window still open


def parse_cap(text: str, field: str) -> tuple[float | None, float | None]:
    """``1000`` → (1000.0, None); ``p99`` or ``p99.5`` → (None, 0.99 / 0.995)."""
    raw = text.strip()
    try:
        if raw[:1] in ("p", "P"):
            pct = float(raw[1:])
            if not 50.0 <= pct < 100.0:
                raise ValueError
            return None, pct / 100.0
        value = float(raw)
    except ValueError:
        raise InputError(field, text, "a finite number, or a percentile pNN with 50 <= NN < 100 (e.g. p99)") from None
    if not math.isfinite(value):
        raise InputError(field, text, "a finite number, or a percentile pNN with 50 <= NN < 100 (e.g. p99)")
    return value, None


def parse_margin(text: str, field: str) -> Margin:
    """``0.005`` (absolute) or ``2%`` (relative, 0.02)."""
    raw = text.strip()
    try:
        margin = (Margin(float(raw[:-1]) / 100.0, "relative") if raw.endswith("%") else Margin(float(raw), "absolute"))
    except ValueError:
        raise InputError(field, text, "a margin: a number > 0, or N% of the control mean") from None
    if not (math.isfinite(margin.value) and margin.value > 0):
        raise InputError(field, text, "a margin: a finite number > 0, or N% of the control mean")
    return margin


def parse_metric(text: str, *, guardrail: bool = False, covariate: str | None = None) -> ColumnMetric:
    """``COL:kind[:direction][:cap=N|pNN][:covariate=COL]`` (``NUM/DEN:ratio`` for ratios).

    Guardrails (``guardrail=True``) also take ``:margin=M`` (or a trailing ``:M``; ``M%`` is
    relative). ``:windowed``: the column holds values inside a conversion window, empty for a
    user whose window is still open (left out of the metric). ``covariate`` is the default
    CUPED column of binomial and mean metrics (``--covariate``).
    Errors name the field ``metric`` or ``guardrail``.
    """
    field = "guardrail" if guardrail else "metric"
    parts = text.split(":")
    if len(parts) < 2 or parts[1] not in METRIC_KINDS:
        raise InputError(field, text, SYNTAX + (", :margin=M" if guardrail else ""))
    column, kind = parts[0], parts[1]
    direction = "increase"
    windowed = False
    options: dict[str, str] = {}
    for part in parts[2:]:
        if part in DIRECTIONS:
            direction = part
        elif part == WINDOWED:
            windowed = True
        elif "=" in part:
            key, _, value = part.partition("=")
            if key not in OPTIONS or (key == "margin" and not guardrail) or key in options:
                allowed = ", ".join(o for o in OPTIONS if guardrail or o != "margin")
                raise InputError(field, text, f"options {allowed}, each at most once")
            options[key] = value
        elif guardrail and "margin" not in options:
            options["margin"] = part
        else:
            raise InputError(field, text, SYNTAX)
    cap, quantile = parse_cap(options["cap"], f"{field} {column}.cap") if "cap" in options else (None, None)
    margin = parse_margin(options["margin"], f"{field} {column}.margin") if "margin" in options else None
    if kind == "ratio":
        num, sep, den = column.partition("/")
        if not sep or not num or not den:
            raise InputError(field, text, "NUM/DEN:ratio with two column names")
        if "covariate" in options:
            raise InputError(f"{field} {column}.covariate", options["covariate"], "no covariate on a ratio metric")
        return ColumnMetric(f"{num}/{den}", "ratio", numerator=num, denominator=den, direction=direction, cap=cap,
                            cap_quantile=quantile, guardrail=guardrail, margin=margin, windowed=windowed)
    if not column:
        raise InputError(field, text, "a column name before ':'")
    chosen = options.get("covariate", covariate)
    return ColumnMetric(column, kind, column=column, covariate=chosen or None, direction=direction, cap=cap,
                        cap_quantile=quantile, guardrail=guardrail, margin=margin, windowed=windowed)
