"""``promolab bandit update|weights|regret|allocation``: recompute and inspect a bandit's traffic weights,
a contextual experiment's model and its allocation by segment."""

from __future__ import annotations

from typing import Annotated

import typer

from promolab.adaptive import update_weights
from promolab.adaptive.contextual import update_model
from promolab.analysis.allocation import segment_allocation
from promolab.cli.app import app, console
from promolab.cli.flags import flag_errors
from promolab.cli.options import ByOption, DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say

bandit_app = typer.Typer(help="Bandit and contextual experiments: weight and model updates and their history.\n\n"
                              "Example: promolab bandit regret coupon-bandit --db promolab-demo.duckdb",
                         no_args_is_help=True)
app.add_typer(bandit_app, name="bandit")


@bandit_app.command("update")
def update(key: Annotated[str, typer.Argument(help="Experiment key.")], db: DbOption = None,
           by: ByOption = "cli", json_: JsonOption = False) -> None:
    """Recompute the weights (a contextual experiment: refit its model) from the data so far and store them.

    Example: promolab bandit update coupon-bandit --db promolab-demo.duckdb
    """
    registry = open_registry(db)
    if registry.get_experiment(key).kind == "contextual":
        model = update_model(registry, key, by=by)
        if json_:
            print_json({"experiment": key, "version": model.version, "updated_at": model.updated_at,
                        "policy": model.policy, "users": model.users, "reason": model.reason})
        else:
            stored = f"model version {model.version} stored" if model.version is not None else "no model stored"
            say(f"{key}: {model.reason}; {stored}")
        return
    result = update_weights(registry, key, by=by)
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
    """The stored weight history (every change with its time); a contextual experiment: its model versions.

    Example: promolab bandit weights coupon-bandit --db promolab-demo.duckdb
    """
    registry = open_registry(db)
    if registry.get_experiment(key).kind == "contextual":
        models = registry.model_history(key)
        if json_:
            print_json(models.to_dict("records"))
            return
        table = Table("version", "updated_at", "policy", "users", "reason", text=("policy", "reason"))
        for r in models.itertuples():
            table.add_row(str(r.version), str(r.updated_at), plain(r.policy), f"{r.users:,}", plain(r.reason))
        console.print(table)
        return
    history = registry.weight_history(key)
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


@bandit_app.command("allocation")
def allocation(
    key: Annotated[str, typer.Argument(help="Contextual experiment key.")],
    feature: Annotated[str, typer.Option("--feature", metavar="NAME", help="A feature of the experiment's policy.")],
    period: Annotated[str, typer.Option("--period", metavar="day|hour", help="Period of first exposure.")] = "day",
    db: DbOption = None, json_: JsonOption = False,
) -> None:
    """How a contextual policy allocates its variants by segment, period by period (holdout left out).

    Example: promolab bandit allocation hillstrom-targeted --feature channel --db promolab-demo.duckdb
    """
    with flag_errors({"feature": "--feature", "period": "--period"}):
        result = segment_allocation(open_registry(db), key, feature, period)
    if json_:
        print_json(result.to_dict())
        return
    table = Table(title=plain(f"{key}: variant shares by {feature} per {period} ({result.policy_users:,} policy "
                              "users)", "table.title"))
    for header in ("period", feature, *result.variants):
        table.add_column(header, text=header in ("period", feature))
    cells = {(c.period, c.segment, c.variant): c for c in result.cells}
    for p, segment in dict.fromkeys((c.period, c.segment) for c in result.cells):
        table.add_row(p, plain(segment), *(f"{cells[p, segment, v].share:.0%}" if (p, segment, v) in cells
                                           else "0%" for v in result.variants))
    console.print(table)
