"""Number formats a marketer reads at a glance."""

from __future__ import annotations

import math


def is_num(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """0.1234 → '12.3 %' (or '+12.3 %')."""
    if not is_num(x):
        return "—"
    return f"{x * 100:+.{digits}f} %" if signed else f"{x * 100:.{digits}f} %"


def pvalue(p: float | None) -> str:
    """0.0123 → '0.012'; anything below 0.001 → '< 0.001' (further digits decide nothing)."""
    if not is_num(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_tick(p: float) -> str:
    """An axis label for a p-value: '1', '0.05', '0.001', then powers of ten as '10⁻⁴'."""
    if p >= 0.001:
        return f"{p:g}"
    exponent = round(math.log10(p))
    return "10" + str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def num(x: float | None, digits: int = 4) -> str:
    if not is_num(x):
        return "—"
    return f"{x:,.{digits}g}" if abs(x) < 1e5 else f"{x:,.0f}"


def metric_value(x: float | None, kind: str) -> str:
    """A variant mean: a rate for binomial metrics, dollars for money, a plain number otherwise."""
    if kind == "money":
        return money(x, signed=False)
    return pct(x, 2) if kind == "binomial" else num(x)


def absolute_unit(kind: str) -> str:
    """Unit of an absolute lift: percentage points for rates, the metric's unit otherwise."""
    return {"binomial": "pp", "money": "$"}.get(kind, "units")


def absolute(x: float | None, kind: str, signed: bool = True) -> str:
    if not is_num(x):
        return "—"
    if kind == "binomial":
        return f"{x * 100:+.2f} pp" if signed else f"{x * 100:.2f} pp"
    if kind == "money":
        return money(x, signed)
    return f"{x:+,.4g}" if signed else f"{x:,.4g}"


def users(n: float | None) -> str:
    return "—" if not is_num(n) else f"{int(n):,}"


def money(x: float | None, signed: bool = True) -> str:
    """Dollars with thousands separators: +$1,234 (cents below $100)."""
    if not is_num(x):
        return "—"
    sign = ("−" if x < 0 else "+") if signed else ("−" if x < 0 else "")
    return f"{sign}${abs(x):,.2f}" if abs(x) < 100 else f"{sign}${abs(x):,.0f}"
