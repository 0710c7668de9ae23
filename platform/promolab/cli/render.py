"""A report as rich tables: SRM first, one table per metric, the verdict last."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.table import Table

from promolab.analysis import Report
from promolab.analysis.report import RELATIVE_CI_METHOD
from promolab.analysis.results import SequentialReadout, good_direction
from promolab.cli.app import console
from promolab.cli.render_sections import print_sections_after, print_sections_before


def _p(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _sequential_line(variant: str, seq: SequentialReadout, p_adjusted: float, correction: str) -> str:
    line = (f"{variant}: always-valid p {_p(seq.always_valid_p_value)}, "
            f"CI [{seq.always_valid_ci_low:+.4g}, {seq.always_valid_ci_high:+.4g}]")
    if seq.method == "gst":
        line += (f"; look {seq.look}/{seq.looks} (t = {seq.information_fraction:.2f}): "
                 f"|z| = {abs(seq.z):.2f} vs boundary {seq.boundary:.3f}, repeated p {_p(seq.decision_p_value)}")
    if correction != "none":
        line += f", {correction}-adjusted {_p(p_adjusted)}"
    return line + (" — crossed" if seq.crossed else " — not crossed")


def _abs_ci(lf) -> str:
    return f"{lf.absolute:+.3g} [{lf.abs_ci_low:+.3g}, {lf.abs_ci_high:+.3g}]"


def _rel_ci(lf) -> str:
    return f"{lf.relative * 100:+.1f}% [{lf.ci_low * 100:+.1f}, {lf.ci_high * 100:+.1f}]"


def print_report(report: Report) -> None:
    srm = report.srm
    title = f"Experiment {escape(report.experiment)}" if report.experiment else "Analysis"
    console.print(f"[bold]{title}[/bold]  control: {escape(report.control)}  alpha: {report.alpha}  "
                  f"correction: {report.correction}")
    observed = escape(", ".join(f"{k} {v:,}" for k, v in srm.observed.items()))
    if srm.ok:
        console.print(f"[green]SRM ok[/green] (p = {_p(srm.p_value)} >= threshold {srm.threshold:g}): {observed}")
    else:
        console.print(f"[bold red]SAMPLE RATIO MISMATCH[/bold red] (p = {_p(srm.p_value)} < threshold "
                      f"{srm.threshold:g}): {observed}")
    print_sections_before(report)
    for m in report.metrics:
        kind = f"{m.kind}{', guardrail' if m.guardrail else ''}, {m.direction} is better"
        adjusted = any(v.lift is not None and v.lift.cuped is not None for v in m.variants)
        name = m.title if m.title == m.name else f"{m.title} [{m.name}]"
        table = Table(title=escape(f"{name} ({kind}{', CUPED-adjusted lifts' if adjusted else ''})"),
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("variant", "users", "mean", "abs lift [CI]", "rel lift [CI]", "p", "p adj", "P(win)"):
            table.add_column(col, justify="left" if col == "variant" else "right")
        for v in m.variants:
            if v.lift is None:
                table.add_row(escape(f"{v.variant} (ctl)"), f"{v.n:,}", f"{v.mean:.4g}", "", "", "", "", "")
                continue
            lf = v.lift
            style = "green" if lf.significant and good_direction(m.direction, lf) else ("red" if lf.significant
                                                                                         else "")
            table.add_row(escape(v.variant), f"{v.n:,}", f"{v.mean:.4g}", _abs_ci(lf), _rel_ci(lf), _p(lf.p_value),
                          _p(lf.p_value_adjusted), f"{lf.chance_to_win:.1%}", style=style)
        console.print(table)
        for v in m.variants:
            if v.lift is not None and v.lift.cuped is not None:
                c = v.lift.cuped
                console.print(f"  {escape(v.variant)}: CUPED on {escape(c.covariate)}, theta = {c.theta:.4g}, "
                              f"variance reduced by {c.variance_reduction:.1%}", highlight=False)
            if v.lift is not None and v.lift.sequential is not None:
                console.print("  " + escape(_sequential_line(v.variant, v.lift.sequential, v.lift.p_value_adjusted,
                                                             report.correction)), highlight=False)
    console.print(f"[dim]relative CI: {RELATIVE_CI_METHOD}; p adj: {report.correction} on the "
                  f"{_decision(report)}[/dim]")
    print_sections_after(report)
    colour = {"ship": "green", "stop": "red", "investigate": "bold red", "do not ship": "red"}.get(
        report.verdict.decision, "yellow")
    console.print(f"[{colour}]Verdict: {escape(report.verdict.text)}[/{colour}]")
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)


def _decision(report: Report) -> str:
    lifts = [v.lift for m in report.metrics for v in m.variants if v.lift is not None]
    return lifts[0].decision if lifts else "fixed-horizon p"
