"""A report as rich tables: SRM first, one table per metric, the verdict last."""

from __future__ import annotations

from rich import box
from rich.table import Table

from promolab.analysis import Report
from promolab.cli.app import console
from promolab.cli.render_sections import print_sections_after, print_sections_before


def _p(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _sequential_line(variant: str, seq: dict) -> str:
    line = (f"{variant}: always-valid p {_p(seq['always_valid_p_value'])}, "
            f"CI [{seq['always_valid_ci_low']:+.4g}, {seq['always_valid_ci_high']:+.4g}]")
    if seq["method"] == "gst":
        line += (f"; look {seq['look']}/{seq['looks']} (t = {seq['information_fraction']:.2f}): "
                 f"|z| = {abs(seq['z']):.2f} vs boundary {seq['boundary']:.3f}")
    return line + (" — crossed" if seq["crossed"] else " — not crossed")


def print_report(report: Report) -> None:
    srm = report.srm
    title = f"Experiment {report.experiment}" if report.experiment else "Analysis"
    console.print(f"[bold]{title}[/bold]  control: {report.control}  alpha: {report.alpha}  "
                  f"correction: {report.correction}")
    observed = ", ".join(f"{k} {v:,}" for k, v in srm.observed.items())
    if srm.ok:
        console.print(f"[green]SRM ok[/green] (p = {_p(srm.p_value)}): {observed}")
    else:
        console.print(f"[bold red]SAMPLE RATIO MISMATCH[/bold red] (p = {_p(srm.p_value)}): {observed}")
    print_sections_before(report)
    for m in report.metrics:
        kind = f"{m.kind}{', guardrail' if m.guardrail else ''}, {m.direction} is better"
        table = Table(title=f"{m.name} ({kind})", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("variant", "users", "mean", "abs lift", "rel lift [CI]", "p", "p adj", "P(win)"):
            table.add_column(col, justify="left" if col == "variant" else "right")
        for v in m.variants:
            if v.lift is None:
                table.add_row(f"{v.variant} (ctl)", f"{v.n:,}", f"{v.mean:.4g}", "", "", "", "", "")
                continue
            lf = v.lift
            style = "green" if lf.significant and (lf.absolute > 0) == (m.direction == "increase") else (
                "red" if lf.significant else "")
            table.add_row(
                v.variant, f"{v.n:,}", f"{v.mean:.4g}", f"{lf.absolute:+.3g}",
                f"{lf.relative * 100:+.1f}% [{lf.ci_low * 100:+.1f}, {lf.ci_high * 100:+.1f}]",
                _p(lf.p_value), _p(lf.p_value_adjusted), f"{lf.chance_to_win:.1%}",
                style=style,
            )
        console.print(table)
        for v in m.variants:
            seq = v.lift.extra.get("sequential") if v.lift is not None else None
            if seq:
                console.print("  " + _sequential_line(v.variant, seq))
    print_sections_after(report)
    colour = {"ship": "green", "stop": "red", "investigate": "bold red", "do not ship": "red"}.get(
        report.verdict.decision, "yellow")
    console.print(f"[{colour}]Verdict: {report.verdict.text}[/{colour}]")
    for note in report.notes:
        console.print(f"note: {note}")
