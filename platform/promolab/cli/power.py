"""``promolab power``: sample size for an MDE, or the MDE for a sample size.

Its own module so the command loads ``promolab.stats.power`` and nothing of the analysis
pipeline or the registry (no DuckDB); see ``promolab.cli.app.COMMANDS``.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from promolab.cli.app import app, console
from promolab.cli.common_options import JsonOption
from promolab.cli.flags import POWER_FLAGS, flag_errors
from promolab.cli.output import print_json
from promolab.errors import InputError
from promolab.stats import mde_mean, mde_proportion, sample_size_mean, sample_size_proportion


@app.command()
def power(
    baseline: Annotated[float, typer.Option("--baseline", help="Control conversion rate, or mean for --kind mean.")],
    mde: Annotated[Optional[float], typer.Option("--mde", help="Relative minimum detectable effect, e.g. 0.05.")] = None,
    n: Annotated[Optional[int], typer.Option("--n", help="Users per variant: solve for the MDE instead.")] = None,
    kind: Annotated[str, typer.Option("--kind", metavar="binomial|mean", help="binomial | mean")] = "binomial",
    sd: Annotated[Optional[float], typer.Option("--sd", help="Standard deviation (for --kind mean).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level (two-sided).")] = 0.05,
    power_: Annotated[float, typer.Option("--power", help="Target power.")] = 0.8,
    variants: Annotated[int, typer.Option("--variants", help="Number of variants incl. control.")] = 2,
    daily_users: Annotated[Optional[int], typer.Option("--daily-users", help="Eligible users per day.")] = None,
    json_: JsonOption = False,
) -> None:
    """Sample size for an MDE, or the MDE for a sample size.

    Example: promolab power --baseline 0.05 --mde 0.1 --daily-users 2000
    """
    if (mde is None) == (n is None):
        raise InputError("--mde/--n", f"mde={mde}, n={n}", "exactly one of --mde or --n")
    if kind not in ("binomial", "mean"):
        raise InputError("--kind", kind, "binomial or mean")
    if kind == "mean" and sd is None:
        raise InputError("--sd", sd, "a standard deviation > 0 for --kind mean")
    with flag_errors(POWER_FLAGS):
        if kind == "binomial":
            result = (sample_size_proportion(baseline, mde, alpha, power_, variants) if mde is not None
                      else mde_proportion(baseline, n, alpha, power_, variants))
        else:
            result = (sample_size_mean(baseline, sd, mde, alpha, power_, variants) if mde is not None
                      else mde_mean(baseline, sd, n, alpha, power_, variants))
    days = None
    if daily_users is not None:
        if daily_users <= 0:
            raise InputError("--daily-users", daily_users, "a positive number of users per day")
        days = -(-result.n_total // daily_users)
    if json_:
        print_json({**result.__dict__, "days": days})
        return
    console.print(f"{result.n_per_variant:,} users per variant ({result.n_total:,} in total) detect a "
                  f"{result.mde_relative:.2%} relative ({result.mde_absolute:.4g} absolute) change from "
                  f"{result.baseline:.4g} with power {result.power:.0%} at alpha {result.alpha:g} ({result.method}).")
    if days is not None:
        console.print(f"At {daily_users:,} users a day that takes {days} days.")
