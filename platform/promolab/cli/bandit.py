"""``promolab bandit update|weights``: recompute and inspect a bandit's traffic weights."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from promolab.adaptive import update_weights
from promolab.cli.app import app, console
from promolab.cli.options import ByOption, DbOption, JsonOption
from promolab.cli.output import print_json
from promolab.store import Registry

bandit_app = typer.Typer(help="Bandit experiments: weight updates and their history.", no_args_is_help=True)
app.add_typer(bandit_app, name="bandit")


@bandit_app.command("update")
def update(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
           by: ByOption = "cli", json_: JsonOption = False) -> None:
    """Recompute the weights from the data so far and store them."""
    result = update_weights(Registry.open(db), key, by=by)
    if json_:
        print_json({"experiment": key, "weights": result.weights, "updated_at": result.updated_at,
                    "policy": result.policy, "reason": result.reason,
                    "arms": {k: {"n": s.n, "mean": s.mean if s.n else None} for k, s in result.arms.items()}})
        return
    table = Table("variant", "users", "mean reward", "new weight")
    for k, w in result.weights.items():
        s = result.arms[k]
        table.add_row(k, f"{s.n:,}", f"{s.mean:.4g}" if s.n else "", f"{w:.1%}")
    console.print(table)
    console.print(f"{key}: {result.reason}")


@bandit_app.command("weights")
def weights(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
            json_: JsonOption = False) -> None:
    """The stored weight history (every change with its time)."""
    history = Registry.open(db).weight_history(key)
    if json_:
        print_json(history.to_dict("records"))
        return
    wide = history.pivot_table(index="updated_at", columns="variant_key", values="weight")
    table = Table("updated_at", *map(str, wide.columns))
    for ts, row in wide.iterrows():
        table.add_row(str(ts), *(f"{w:.1%}" for w in row))
    console.print(table)
