"""Text output of the issue-8 report sections: filtering, guardrails, economics, segments,
and the filtered-versus-unfiltered comparison (``--no-filter``).

Every cell, title and header is user data (metric names, variants, segment values, rule
descriptions naming events and attributes): it reaches rich as ``Text``, never as markup."""

from __future__ import annotations

from rich.text import Text

from promolab.analysis import Report
from promolab.cli.app import console
from promolab.cli.output import COMPACT, Table, plain, say


def _p(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


class _Table(Table):
    """A report table whose cells are shown as written (see module doc)."""

    def add_row(self, *cells, style=None, **options) -> None:  # type: ignore[override]
        super().add_row(*(None if c is None else plain(c) for c in cells), style=style, **options)


def _table(title: str, columns: list[str], text: int = 1) -> Table:
    """A report table whose first ``text`` columns are names (they may wrap), the rest values."""
    table = _Table(title=plain(title, "table.title"), title_justify="left", **COMPACT)
    for i, col in enumerate(columns):
        table.add_column(plain(col), text=i < text)
    return table


def print_filtering(report: Report) -> None:
    f = report.filtering
    if f is None:
        return
    variants = list(f.exposed)
    table = _table("Abuse and bot filtering: users excluded per variant", ["rule"] + variants + ["imbalance p"])
    for r in f.rules:
        table.add_row(f"{r.rule} ({r.description})", *[f"{r.flagged[v]:,}" for v in variants], _p(r.p_value))
    table.add_row("excluded (any rule)", *[f"{f.excluded[v]:,} ({f.excluded[v] / max(f.exposed[v], 1):.2%})"
                                           for v in variants], _p(f.p_value), style="bold")
    table.add_row("analysed", *[f"{f.kept[v]:,} of {f.exposed[v]:,}" for v in variants], "")
    console.print(table)
    if f.alert:
        say(f"ALERT: {f.alert_text()}", "bold red")
    for note in f.notes:
        say(f"  note: {note}")


def print_guardrails(report: Report) -> None:
    if not report.guardrails:
        return
    console.print("[bold]Guardrails[/bold] (non-inferiority: the harmful end of the CI must stay inside the margin)")
    for variant, checks in report.guardrails.items():
        for c in checks:
            mark = ("pass", "green") if c.passed else ("FAIL", "bold red")
            console.print(Text.assemble(plain(f"  {variant}: "), mark, plain(f" {c.text}")))


def print_economics(report: Report) -> None:
    e = report.economics
    if e is None:
        return
    per = f"{e.per_users:,}"
    table = _table(f"Promotion economics per {per} users (revenue: {e.revenue_metric}, margin rate {e.margin_rate:g}; "
                   f"{1 - e.alpha:.0%} CI)", ["variant", "cost", "revenue", "promo cost", "incr. revenue [CI]",
                                               "incr. margin [CI]", "break-even lift", "volume lift [CI]"])
    for v in e.variants:
        cost = ", ".join(f"{k}={x:g}" for k, x in v.cost.items()) or "none"
        if v.incremental_revenue is None:
            table.add_row(f"{v.variant} (ctl)", cost, f"{v.revenue.value:,.0f}", f"{v.promotion_cost.value:,.0f}",
                          "", "", "", "")
            continue
        ir, im, vl = v.incremental_revenue, v.incremental_margin, v.volume_lift
        style = "green" if im.ci_low > 0 else ("red" if im.ci_high < 0 else "")
        table.add_row(
            v.variant, cost, f"{v.revenue.value:,.0f}", f"{v.promotion_cost.value:,.0f}",
            f"{ir.value:+,.0f} [{ir.ci_low:+,.0f}, {ir.ci_high:+,.0f}]",
            f"{im.value:+,.0f} [{im.ci_low:+,.0f}, {im.ci_high:+,.0f}]",
            "never" if v.break_even_lift is None else f"{v.break_even_lift * 100:+.1f}%",
            f"{vl.value * 100:+.1f}% [{vl.ci_low * 100:+.1f}, {vl.ci_high * 100:+.1f}]", style=style)
    console.print(table)
    for note in e.notes:
        say(f"  note: {note}")


def print_contextual(report: Report) -> None:
    c = report.contextual
    if c is None:
        return
    level = f"{1 - report.alpha:.0%} CI"
    lift = c.policy_vs_holdout
    if lift is None:
        say(f"Policy vs holdout ({c.metric}): {c.policy_users:,} policy and {c.holdout_users:,} holdout users so far; "
            "at least 2 in each are needed")
    else:
        say(f"Policy vs holdout ({c.metric}): {lift.treatment_mean:.4g} vs {lift.control_mean:.4g}, "
            f"{lift.absolute:+.4g} [{lift.abs_ci_low:+.4g}, {lift.abs_ci_high:+.4g}] ({level}), p = {_p(lift.p_value)}; "
            f"{c.policy_users:,} policy and {c.holdout_users:,} holdout users", "bold")
    table = _table(f"{c.metric} had every user got each variant (self-normalised IPS on the logged propensities; "
                   f"{level})", ["variant", "users", "mean [CI]", "effective n"])
    for variant, m in c.variants.items():
        if m is None:
            table.add_row(variant, "0", "", "")
        else:
            table.add_row(variant, f"{m.n:,}", f"{m.value:.4g} [{m.lower:.4g}, {m.upper:.4g}]", f"{m.effective_n:,.0f}")
    console.print(table)
    if c.unlogged:
        say(f"  note: {c.unlogged:,} exposed users have no logged propensity and are left out of the IPS means")


def print_segments(report: Report) -> None:
    for d in report.segments:
        table = _table(f"Segments by {d.column} ({d.correction} across {d.family_size} tests)",
                       ["segment", "metric", "variant", "users", "mean", "rel lift [CI]", "p", "p adj"], text=3)
        for s in d.segments:
            for m in s.metrics:
                if m.guardrail:
                    continue
                for v in m.variants:
                    if v.lift is None:
                        continue
                    lf = v.lift
                    style = ("green" if lf.significant and (lf.absolute > 0) == (m.direction == "increase")
                             else "red" if lf.significant else "dim" if s.small else "")
                    table.add_row(f"{s.value}{' (small)' if s.small else ''}", m.name, v.variant, f"{v.n:,}",
                                  f"{v.mean:.4g}",
                                  f"{lf.relative * 100:+.1f}% [{lf.ci_low * 100:+.1f}, {lf.ci_high * 100:+.1f}]",
                                  _p(lf.p_value), _p(lf.p_value_adjusted), style=style)
        console.print(table)
        for w in d.warnings:
            say(f"  warning: {w}", "yellow")


def print_unfiltered(report: Report) -> None:
    u = report.unfiltered
    if u is None:
        return
    table = _table("Filtered vs unfiltered (--no-filter)", ["metric", "variant", "filtered lift [CI]", "p adj",
                                                          "unfiltered lift [CI]", "p adj"], text=2)
    for m in report.metrics:
        other = u.metric(m.name)
        for v in m.variants:
            if v.lift is None:
                continue
            a, b = v.lift, other.variant(v.variant).lift
            table.add_row(m.name, v.variant,
                          f"{a.relative * 100:+.1f}% [{a.ci_low * 100:+.1f}, {a.ci_high * 100:+.1f}]",
                          _p(a.p_value_adjusted),
                          f"{b.relative * 100:+.1f}% [{b.ci_low * 100:+.1f}, {b.ci_high * 100:+.1f}]",
                          _p(b.p_value_adjusted))
    console.print(table)
    say(f"  unfiltered verdict: {u.verdict.text}")


def print_health(report: Report) -> None:
    h = report.health
    x = h.exposures
    if x is not None:
        line = (f"Multiple exposures: {x.cross_variant_users:,} of {x.users:,} users saw more than one variant"
                + (f", {x.repeated_users:,} appear on more than one row" if x.repeated_users else "")
                + (f" ({'excluded' if x.policy == 'exclude' else 'kept'})" if x.cross_variant_users else ""))
        say(line, "yellow" if x.cross_variant_users else "")
    capped = [t for t in h.tails if t.cap is not None or t.heavy_tail]
    if capped:
        table = _table("Tails and caps", ["metric", "p99 (non-zero)", "max", "cap"])
        for t in capped:
            table.add_row(t.metric, "—" if t.p99 is None else f"{t.p99:,.4g}",
                          "—" if t.maximum is None else f"{t.maximum:,.4g}",
                          "none" if t.cap is None else f"{t.cap:,.4g}" + (
                              f" ({t.cap_rule})" if t.cap_rule and t.cap_rule.startswith("p") else ""),
                          style="yellow" if t.heavy_tail and t.cap is None else None)
        console.print(table)


def print_sections_before(report: Report) -> None:
    print_health(report)
    print_filtering(report)


def print_sections_after(report: Report) -> None:
    print_contextual(report)
    print_guardrails(report)
    print_economics(report)
    print_segments(report)
    print_unfiltered(report)
