"""``promolab bandit update|weights``: recompute and inspect a bandit's traffic weights."""

from __future__ import annotations

from typing import Annotated

import typer

from promolab.adaptive import update_weights
from promolab.cli.app import app, console
from promolab.cli.options import ByOption, DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say

bandit_app = typer.Typer(help="Bandit experiments: weight updates and their history.\n\n"
                              "Example: promolab bandit regret coupon-bandit --db promolab-demo.duckdb",
                         no_args_is_help=True)
app.add_typer(bandit_app, name="bandit")


@bandit_app.command("update")
def update(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
           by: ByOption = "cli", json_: JsonOption = False) -> None:
    """Recompute the weights from the data so far and store them.

    Example: promolab bandit update coupon-bandit --db promolab-demo.duckdb
    """
    result = update_weights(open_registry(db), key, by=by)
    if json_:
        print_json({"experiment": key, "weights": result.weights, "updated_at": result.updated_at,
                    "policy": result.policy, "reason": result.reason,
                    "arms": {k: {"n": s.n, "mean": s.mean if s.n else None} for k, s in result.arms.items()}})
        return
    table = Table("variant", "users", "mean reward", "new weight", text=("variant",))
    for k, w in result.weights.items():
        s = result.arms[k]
        table.add_row(plain(k), f"{s.n:,}", f"{s.mean:.4g}" if s.n else "", f"{w:.1%}")
    console.print(table)
    say(f"{key}: {result.reason}")


@bandit_app.command("weights")
def weights(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
            json_: JsonOption = False) -> None:
    """The stored weight history (every change with its time).

    Example: promolab bandit weights coupon-bandit --db promolab-demo.duckdb
    """
    history = open_registry(db).weight_history(key)
    if json_:
        print_json(history.to_dict("records"))
        return
    wide = history.pivot_table(index="updated_at", columns="variant_key", values="weight")
    table = Table("updated_at")
    for column in wide.columns:
        table.add_column(plain(column))
    for ts, row in wide.iterrows():
        table.add_row(str(ts), *(f"{w:.1%}" for w in row))
    console.print(table)


@bandit_app.command("regret")
def regret(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
           period: Annotated[str, typer.Option("--period", metavar="hour|day|week", help="hour | day | week")] = "day",
           json_: JsonOption = False) -> None:
    """Reward, cumulative reward and plug-in estimated regret per period, and per-arm allocation.

    Example: promolab bandit regret coupon-bandit --period day --db promolab-demo.duckdb
    """
    from promolab.adaptive.regret import bandit_regret

    result = bandit_regret(open_registry(db), key, period)
    if json_:
        print_json(result.to_dict())
        return
    table = Table(period, "users")
    for header in (*result.variants, "reward", "cum. reward", "est. regret", "cum. regret"):
        table.add_column(plain(header))
    for p in result.periods:
        table.add_row(f"{p.start:%Y-%m-%d %H:%M}" if period == "hour" else f"{p.start:%Y-%m-%d}", f"{p.users:,}",
                      *(f"{p.share[v]:.0%}" for v in result.variants), f"{p.reward:.4g}",
                      f"{p.cumulative_reward:.6g}", f"{p.regret:.4g}", f"{p.cumulative_regret:.4g}")
    console.print(table)
    arms = Table("variant", "users", "mean reward", "gap to best", "regret", "current weight", text=("variant",))
    for a in result.arms:
        arms.add_row(plain(a.variant), f"{a.users:,}", "" if a.mean_reward is None else f"{a.mean_reward:.4g}",
                     "" if a.gap is None else f"{a.gap:.4g}", f"{a.regret:.4g}",
                     "" if a.current_weight is None else f"{a.current_weight:.1%}")
    console.print(arms)
    say(f"{key}: reward {result.reward_metric}; best arm so far {result.best_variant}; "
        f"estimated regret {result.total_regret:.4g} over {result.users:,} users")
    for note in result.notes:
        say(f"note: {note}")
