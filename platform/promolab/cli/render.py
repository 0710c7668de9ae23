"""A report as rich tables: SRM first, one table per metric, the verdict last.

Names, variants and notes are user data: they reach rich as ``Text`` (``plain`` / ``say``),
never as markup, so ``[/bold]`` or ``\\[`` in a name prints as written."""

from __future__ import annotations

import math

from rich.text import Text

from promolab.analysis import Report
from promolab.analysis.report import RELATIVE_CI_METHOD
from promolab.analysis.results import SequentialReadout, good_direction
from promolab.cli.app import console
from promolab.cli.output import COMPACT, Table, plain, say
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
    if math.isnan(lf.relative):
        return "n/a (control mean 0)"
    return f"{lf.relative * 100:+.1f}% [{lf.ci_low * 100:+.1f}, {lf.ci_high * 100:+.1f}]"


def print_report(report: Report) -> None:
    srm = report.srm
    title = f"Experiment {report.experiment}" if report.experiment else "Analysis"
    console.print(Text.assemble(plain(title, "bold"), plain(f"  control: {report.control}  alpha: {report.alpha}  "
                                                            f"correction: {report.correction}")))
    observed = ", ".join(f"{k} {v:,}" for k, v in srm.observed.items())
    if srm.ok:
        console.print(Text.assemble(("SRM ok", "green"), plain(f" (p = {_p(srm.p_value)} >= threshold "
                                                               f"{srm.threshold:g}): {observed}")))
    else:
        console.print(Text.assemble(("SAMPLE RATIO MISMATCH", "bold red"), plain(
            f" (p = {_p(srm.p_value)} < threshold {srm.threshold:g}): {observed}")))
    print_sections_before(report)
    for m in report.metrics:
        kind = f"{m.kind}{', guardrail' if m.guardrail else ''}, {m.direction} is better"
        adjusted = any(v.lift is not None and v.lift.cuped is not None for v in m.variants)
        name = m.title if m.title == m.name else f"{m.title} [{m.name}]"
        table = Table(title=plain(f"{name} ({kind}{', CUPED-adjusted lifts' if adjusted else ''})", "table.title"),
                      title_justify="left", **COMPACT)
        for col in ("variant", "users", "mean", "abs lift [CI]", "rel lift [CI]", "p", "p adj", "P(win)"):
            table.add_column(col, text=col == "variant")
        for v in m.variants:
            if v.lift is None:
                table.add_row(plain(f"{v.variant} (ctl)"), f"{v.n:,}", f"{v.mean:.4g}", "", "", "", "", "")
                continue
            lf = v.lift
            style = "green" if lf.significant and good_direction(m.direction, lf) else ("red" if lf.significant
                                                                                         else "")
            table.add_row(plain(v.variant), f"{v.n:,}", f"{v.mean:.4g}", _abs_ci(lf), _rel_ci(lf), _p(lf.p_value),
                          _p(lf.p_value_adjusted), f"{lf.chance_to_win:.1%}", style=style)
        console.print(table)
        for v in m.variants:
            if v.lift is not None and v.lift.cuped is not None:
                c = v.lift.cuped
                say(f"  {v.variant}: CUPED on {c.covariate}, theta = {c.theta:.4g}, "
                    f"variance reduced by {c.variance_reduction:.1%}")
            if v.lift is not None and v.lift.sequential is not None:
                say("  " + _sequential_line(v.variant, v.lift.sequential, v.lift.p_value_adjusted, report.correction))
    say(f"relative CI: {RELATIVE_CI_METHOD}; p adj: {report.correction} on the {_decision(report)}", "dim")
    print_sections_after(report)
    colour = {"ship": "green", "stop": "red", "investigate": "bold red", "do not ship": "red"}.get(
        report.verdict.decision, "yellow")
    say(f"Verdict: {report.verdict.text}", colour)
    for note in report.notes:
        say(f"note: {note}")


def _decision(report: Report) -> str:
    lifts = [v.lift for m in report.metrics for v in m.variants if v.lift is not None]
    return lifts[0].decision if lifts else "fixed-horizon p"
