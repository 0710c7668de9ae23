"""``promolab report KEY --over-time``: one compact table per metric, one row per period.

Per row: the users first exposed in the period, each variant's cumulative mean and each treatment's
cumulative relative lift with its CI (the last row is the report's); with a sequential plan,
|z| against the group-sequential boundary (``gst``) or the always-valid p-value (``msprt``)."""

from __future__ import annotations

import math

from promolab.analysis.over_time import LiftPoint, OverTime
from promolab.cli.app import console
from promolab.cli.output import COMPACT, Table, plain, say

STAMP = {"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00"}


def _rel(p: LiftPoint) -> str:
    if math.isnan(p.relative):
        return "n/a"
    return f"{p.relative * 100:+.1f}% [{p.ci_low * 100:+.1f}, {p.ci_high * 100:+.1f}]"


def _sequential(p: LiftPoint, method: str) -> str:
    if p.beyond_boundary is None:
        return ""
    mark = " *" if p.beyond_boundary else ""
    if method == "gst":
        return f"{abs(p.z):.2f} / {p.boundary:.2f}{mark}"
    return f"{p.always_valid_p:.3g}{mark}"


def print_over_time(result: OverTime) -> None:
    variants = list(result.users)
    treatments = [v for v in variants if v != result.control]
    seq = {"gst": "|z| / bound", "msprt": "AV p"}.get(result.sequential or "")
    shown = set()
    for m in result.metrics:
        name = m.title if m.title == m.name else f"{m.title} [{m.name}]"
        table = Table(title=plain(f"{name} ({m.kind}{', guardrail' if m.guardrail else ''}): cumulative per "
                                  f"{result.period}, vs {result.control}", "table.title"),
                      title_justify="left", **COMPACT)
        table.add_column(result.period, text=True)
        table.add_column("new users")
        for v in variants:
            table.add_column(f"{v} mean")
        for v in treatments:
            table.add_column(f"{v} lift [CI]")
            if seq:
                table.add_column(f"{v} {seq}")
        lifts = {s.variant: s.points for s in m.lifts}
        for k, start in enumerate(result.starts):
            row = [start.strftime(STAMP[result.period]), f"{sum(result.users[v][k] for v in variants):,}"]
            row += [f"{m.cumulative_means[v][k]:.4g}" for v in variants]
            for v in treatments:
                row.append(_rel(lifts[v][k]))
                if seq:
                    row.append(_sequential(lifts[v][k], result.sequential))
            table.add_row(*row)
        console.print(table)
        for s in m.lifts:
            say(f"  trend: {s.trend_note}", "dim")
            shown.add(s.trend_note)
    if result.sequential:
        say(f"{seq}: * beyond the {result.sequential} boundary at α = {result.alpha:g} (before correction)", "dim")
    for note in result.notes:
        if note not in shown:
            say(f"note: {note}")
