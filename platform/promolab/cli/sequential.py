"""``promolab peeking``: the A/A peeking simulator on the command line."""

from __future__ import annotations

import typer

from promolab.cli.app import app, console
from promolab.cli.flags import flag_errors
from promolab.cli.output import Table, print_json
from promolab.sim.peeking import MAX_RUNS, MAX_USERS_PER_LOOK, PeekingResult, simulate_peeking
from promolab.spec.vocabulary import MAX_LOOKS

PEEKING_FLAGS = {"looks": "--looks", "runs": "--runs", "users_per_look": "--users-per-look", "rate": "--rate",
                 "alpha": "--alpha", "seed": "--seed", "spending": "--spending"}


def _table(result: PeekingResult) -> Table:
    table = Table(
        title=(
            f"A/A false-positive rate: {result.runs:,} runs, {result.looks} looks, "
            f"{result.users_per_look:,} users/arm/look, rate {result.rate:g}, α = {result.alpha:g}"
        )
    )
    table.add_column("method", text=True)
    table.add_column("false positives")
    table.add_column("rate")
    table.add_column("95 % CI (Wilson)")
    rows = [
        ("naive z-test at every look", result.naive_any_look),
        ("z-test once, at the last look", result.fixed_horizon),
        (f"group-sequential ({result.spending})", result.group_sequential),
        ("mSPRT (always-valid p)", result.msprt),
    ]
    for label, est in rows:
        style = "red" if est.low > result.alpha else None
        table.add_row(label, f"{est.rejections:,}", f"{est.rate:.4f}", f"[{est.low:.4f}, {est.high:.4f}]", style=style)
    return table


@app.command("peeking")
def peeking(
    looks: int = typer.Option(30, "--looks", help=f"Looks (e.g. days) per A/A test, 1 to {MAX_LOOKS}."),
    runs: int = typer.Option(10_000, "--runs", help=f"Simulated A/A tests, 1 to {MAX_RUNS:,}."),
    users_per_look: int = typer.Option(1_000, "--users-per-look",
                                       help=f"New users per arm per look, 1 to {MAX_USERS_PER_LOOK:,}."),
    rate: float = typer.Option(0.05, "--rate", help="Conversion rate in both arms."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    spending: str = typer.Option("obf", "--spending", metavar="obf|pocock|hsd|power",
                                 help="Group-sequential spending: obf, pocock, hsd, power."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Simulate A/A tests with repeated looks: naive peeking vs group-sequential vs mSPRT.

    Example: promolab peeking --looks 30 --runs 2000 --spending pocock
    """
    with flag_errors(PEEKING_FLAGS):  # every number is bounded before anything is drawn
        result = simulate_peeking(
            looks=looks, runs=runs, users_per_look=users_per_look, rate=rate, alpha=alpha, seed=seed,
            spending=spending,
        )
    if as_json:
        print_json(result)
    else:
        console.print(_table(result))
