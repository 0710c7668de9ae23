"""``promolab sequential KEY``: the z path over K looks against the group-sequential
boundaries, with the always-valid p-value and confidence sequence (``analysis.sequential_path``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from promolab.analysis.sequential_path import SPENDINGS, SequentialPath, sequential_path
from promolab.cli.app import app, console
from promolab.cli.flags import SEQUENTIAL_FLAGS, flag_errors
from promolab.cli.options import DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say


def _tables(path: SequentialPath) -> list[Table]:
    looks = {k.look: k for k in path.looks}
    out = []
    for c in path.comparisons:
        crossing = c.first_crossing
        state = ("SRM: no read-out" if path.blocked else "boundary not crossed" if crossing is None
                 else f"boundary crossed at look {crossing}")
        table = Table(title=plain(f"{c.metric}: {c.variant} vs {path.control} — {state}", "table.title"))
        for col in ("look", "users", "info", "z", "boundary", "p (fixed)", f"p adj ({path.correction})",
                    "always-valid p", "CS on lift"):
            table.add_column(col)
        for p in c.points:
            k = looks[p.look]
            table.add_row(str(p.look), f"{k.users:,}", f"{k.information_fraction:.2f}", f"{p.z:.3f}",
                          f"±{k.boundary:.3f}", f"{p.p_value:.4g}", f"{p.p_value_adjusted:.4g}",
                          f"{p.always_valid_p:.4g}",
                          f"[{p.cs_abs_ci_low:.4g}, {p.cs_abs_ci_high:.4g}]",
                          style="bold" if p.crossed else None)
        out.append(table)
    return out


@app.command("sequential")
def sequential(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    looks: Annotated[Optional[int], typer.Option("--looks", help="Interim looks (default: the spec's, else 5).")] = None,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Only this metric (default: all).")] = None,
    spending: Annotated[Optional[str], typer.Option(
        "--spending", metavar="|".join(SPENDINGS),
        help="α-spending: " + " | ".join(SPENDINGS) + " (default: the spec's).")] = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """z path over K interim looks vs group-sequential boundaries, always-valid p and confidence sequence.

    Example: promolab sequential hillstrom-email --looks 5 --db promolab-demo.duckdb
    """
    with flag_errors(SEQUENTIAL_FLAGS):
        result = sequential_path(open_registry(db), key, looks, metric, spending)
    if json_:
        print_json(result.to_dict())
        return
    for table in _tables(result):
        console.print(table)
    srm = result.srm
    console.print(("[bold red]SAMPLE RATIO MISMATCH[/bold red]" if result.blocked else "[green]SRM ok[/green]")
                  + f" (p = {srm.p_value:.3g}, threshold {srm.threshold:g})")
    console.print(f"α = {result.alpha:g}, {SPENDINGS[result.spending]} spending, {result.correction} correction, "
                  f"{len(result.looks)} looks ({result.split} split).")
    for note in result.notes:
        say(f"note: {note}")
