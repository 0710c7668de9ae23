"""``promolab init`` and ``promolab experiment create|list|show|launch|pause|stop|ramp``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from promolab.cli.app import app, console
from promolab.cli.options import ByOption, DbOption, JsonOption, ReasonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say
from promolab.spec import experiment_to_dict, load_experiment
from promolab.store import LATEST_VERSION

experiment_app = typer.Typer(help="Create experiments from specs and move them through their life cycle.\n\n"
                                  "Example: promolab experiment list --db promolab-demo.duckdb",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")

KeyArg = Annotated[str, typer.Argument(help="Experiment key.")]


@app.command()
def init(db: DbOption = None) -> None:
    """Create (or migrate) the registry file.

    Example: promolab init --db promolab.duckdb
    """
    reg = open_registry(db, must_exist=False)
    say(f"registry {reg.path} at schema version {LATEST_VERSION}")


@experiment_app.command("create")
def create(spec: Annotated[Path, typer.Argument(help="Experiment spec (TOML).")], db: DbOption = None,
           by: ByOption = "cli") -> None:
    """Validate a spec and register it as a draft.

    Example: promolab experiment create experiments/checkout-coupon.toml
    """
    experiment = load_experiment(spec)
    open_registry(db, must_exist=False).create_experiment(experiment, by=by)
    say(f"created {experiment.key} (draft) from {spec}")


@experiment_app.command("list")
def list_(db: DbOption = None, json_: JsonOption = False) -> None:
    """All experiments with status, kind and exposures.

    Example: promolab experiment list --db promolab-demo.duckdb
    """
    rows = open_registry(db).list_experiments()
    if json_:
        print_json(rows)
        return
    table = Table("key", "name", "kind", "status", "traffic", "exposures", "launched",
                  text=("key", "name", "kind", "status"))
    for r in rows:
        table.add_row(plain(r.key), plain(r.name), r.kind, r.status, f"{r.coverage:.0%}", f"{r.exposures:,}",
                      r.launched_at.strftime("%Y-%m-%d %H:%M") if r.launched_at else "")
    console.print(table)


@experiment_app.command("show")
def show(key: KeyArg, db: DbOption = None, json_: JsonOption = False) -> None:
    """The spec, status and history of one experiment.

    Example: promolab experiment show hillstrom-email --db promolab-demo.duckdb
    """
    reg = open_registry(db)
    spec = experiment_to_dict(reg.get_experiment(key))
    data = {"status": reg.status(key), "spec": spec, "history": reg.status_history(key)}
    if json_:
        print_json(data)
        return
    # every name, payload and reason is user text: printed as Text, never read as markup
    line = f" — {spec['name']} ({data['status']}, {spec['kind']}, traffic {spec['traffic_percent']:g} %)"
    console.print(Text.assemble(plain(spec["key"], "bold"), plain(line)))
    if spec.get("hypothesis"):
        say(f"hypothesis: {spec['hypothesis']}")
    say(f"owner: {spec['owner']}")
    for v in spec["variants"]:
        marker = " (control)" if v["key"] == spec["control"] else ""
        payload = json.dumps(v["payload"], ensure_ascii=False)
        say(f"  variant {v['key']}{marker}: {v['name']}, weight {v['weight']:g}, payload {payload}")
    for m in spec["metrics"] + spec.get("guardrails", []):
        say(f"  metric {m['key']}: {m['kind']}" + (f" — {m['name']}" if m.get("name") else ""))
    for h in data["history"]:
        say(f"  {h.changed_at:%Y-%m-%d %H:%M:%S} {h.from_status or '-'} → {h.to_status} "
            f"traffic {h.coverage:.0%} by {h.changed_by} {h.reason}")


def _transition(key: str, to: str, db, by: str, reason: str) -> None:
    open_registry(db).set_status(key, to, by=by, reason=reason)
    say(f"{key}: {to}")


@experiment_app.command("launch")
def launch(key: KeyArg, db: DbOption = None, by: ByOption = "cli", reason: ReasonOption = "") -> None:
    """Start (or resume) assigning users.

    Example: promolab experiment launch checkout-coupon --by ann
    """
    _transition(key, "running", db, by, reason)


@experiment_app.command("pause")
def pause(key: KeyArg, db: DbOption = None, by: ByOption = "cli", reason: ReasonOption = "") -> None:
    """Stop assigning new users for now.

    Example: promolab experiment pause checkout-coupon --reason "tracking bug"
    """
    _transition(key, "paused", db, by, reason)


@experiment_app.command("stop")
def stop(key: KeyArg, db: DbOption = None, by: ByOption = "cli", reason: ReasonOption = "") -> None:
    """End the experiment (final).

    Example: promolab experiment stop checkout-coupon --reason "decided: ship"
    """
    _transition(key, "stopped", db, by, reason)


@experiment_app.command("ramp")
def ramp(key: KeyArg, percent: Annotated[float, typer.Argument(help="Traffic in percent, 0-100.")],
         db: DbOption = None, by: ByOption = "cli", reason: ReasonOption = "") -> None:
    """Change traffic coverage; users already in keep their variant.

    Example: promolab experiment ramp checkout-coupon 50
    """
    open_registry(db).ramp(key, percent, by=by, reason=reason)
    say(f"{key}: traffic {percent:g} %")
