"""``promolab alerts [--experiment KEY] [--all] [--json]``, ``alerts ack ID`` and ``alerts check [KEY...]``:
the health alerts the service's scheduled checks raise (``promolab.analysis.health_checks``).

Listing and acknowledging read and write the registry only (DuckDB, no pandas); ``check``
runs the analysis, as the service's schedule does, for a cron job or a look now.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from promolab.cli.app import app, console
from promolab.cli.options import ByOption, DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say

alerts_app = typer.Typer(help="Health alerts of running experiments: list, acknowledge, check now.\n\n"
                              "Example: promolab alerts --json", invoke_without_command=True)
app.add_typer(alerts_app, name="alerts")


def _table(alerts) -> Table:
    table = Table("id", "raised", "experiment", "kind", "subject", "message", "state",
                  text=("experiment", "kind", "subject", "message", "state"))
    for a in alerts:
        state = "acknowledged by " + a.acknowledged_by if a.acknowledged else "open" if a.open else "resolved"
        if a.action:
            state += f", {a.action}"
        table.add_row(str(a.id), f"{a.raised_at:%Y-%m-%d %H:%M}", plain(a.experiment), a.kind, plain(a.subject),
                      plain(a.message), state)
    return table


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    experiment: Annotated[Optional[str], typer.Option("--experiment", metavar="KEY",
                                                      help="Only this experiment's alerts.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Acknowledged alerts too.")] = False,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Unacknowledged alerts, newest first (--all: acknowledged ones too).

    Example: promolab alerts --experiment checkout-coupon --json
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = open_registry(db).alerts(experiment, include_acknowledged=all_)
    if json_:
        print_json([a.to_dict() for a in rows])
        return
    if not rows:
        say("no alerts" if all_ else "no unacknowledged alerts")
        return
    console.print(_table(rows))


@alerts_app.command("ack")
def ack(alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id (see promolab alerts).")],
        db: DbOption = None, by: ByOption = "cli", json_: JsonOption = False) -> None:
    """Acknowledge an alert (it leaves the default listing and the dashboard banner).

    Example: promolab alerts ack 3 --by alice
    """
    alert = open_registry(db).acknowledge_alert(alert_id, by)
    if json_:
        print_json(alert.to_dict())
        return
    say(f"alert {alert.id} on {alert.experiment} ({alert.kind}) acknowledged by {alert.acknowledged_by}")


@alerts_app.command("check")
def check(keys: Annotated[Optional[list[str]], typer.Argument(
              metavar="[KEY]...", help="Experiments to check (default: every running one).")] = None,
          db: DbOption = None, json_: JsonOption = False) -> None:
    """Run the health checks now (as the service does on its schedule) and record new alerts.

    Example: promolab alerts check checkout-coupon
    """
    from promolab.analysis.health_checks import check_running

    outcomes = check_running(open_registry(db), keys or None)
    if json_:
        print_json([o.to_dict() for o in outcomes])
        return
    if not outcomes:
        say("no running experiment to check")
    for o in outcomes:
        if o.error:
            say(f"{o.experiment}: not checked ({o.error})")
            continue
        failed = o.evaluation.failed
        say(f"{o.experiment}: {len(failed)} condition(s) failing, {len(o.alerts)} new alert(s)")
        for f in failed:
            say(f"  {f.kind}{' ' + f.subject if f.subject else ''}: {f.message}")
        if o.paused:
            say(f"  paused by promolab ([safety] auto_pause): everyone now gets the control, {o.experiment!r} "
                "records no exposures until someone resumes it (promolab experiment launch)")
