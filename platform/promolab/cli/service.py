"""``promolab serve`` and ``promolab keys create|list|revoke``."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from promolab.cli.app import app, console, err_console
from promolab.cli.listen import check_listen
from promolab.cli.options import DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, say

keys_app = typer.Typer(help="API keys for the HTTP service (only their hashes are stored).\n\n"
                            "Example: promolab keys create --kind sdk --name storefront",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    bandit_period: Annotated[Optional[float], typer.Option(
        "--bandit-period", help="Seconds between scheduled bandit weight updates (default: none).")] = None,
    log_level: Annotated[str, typer.Option("--log-level", metavar="LEVEL", help="uvicorn log level.")] = "info",
    report_timeout: Annotated[float, typer.Option(
        "--report-timeout", help="Seconds a report may take before it is cancelled (answer 504).")] = 30.0,
    workers: Annotated[int, typer.Option(
        "--workers", help="Service processes sharing the port and the registry (1-64).")] = 1,
    health_period: Annotated[float, typer.Option(
        "--health-period", metavar="SECONDS",
        help="Seconds between health checks of every running experiment (alerts); 0 turns them off.")] = 3600.0,
    webhook: Annotated[Optional[list[str]], typer.Option(
        "--webhook", metavar="URL", help="POST each new alert as JSON to this http(s) URL (repeatable).")] = None,
) -> None:
    """Run the HTTP API (assign, events, experiments, reports) on the registry.

    Example: promolab serve --port 8000 --bandit-period 3600 --webhook https://hooks.example.com/promolab
    """
    import logging

    import uvicorn

    from promolab.service import create_app
    from promolab.service.app import BANDIT_PERIOD_ENV, HEALTH_PERIOD_ENV, MAX_WORKERS, REPORT_TIMEOUT_ENV, WEBHOOKS_ENV
    from promolab.service.webhooks import check_webhook_url

    if bandit_period is not None and not bandit_period > 0:
        from promolab.errors import InputError

        raise InputError("--bandit-period", bandit_period, "a number of seconds > 0")
    if not 0 < report_timeout < float("inf"):
        from promolab.errors import InputError

        raise InputError("--report-timeout", report_timeout, "a number of seconds > 0")
    if not 1 <= workers <= MAX_WORKERS:
        from promolab.errors import InputError

        raise InputError("--workers", workers, f"a number of processes from 1 to {MAX_WORKERS}")
    if not 0 <= health_period < float("inf"):
        from promolab.errors import InputError

        raise InputError("--health-period", health_period, "a number of seconds >= 0 (0: no health checks)")
    webhooks = [check_webhook_url(u, "--webhook") for u in webhook or []]
    from promolab.store import DB_ENV, Registry, resolve_db_path

    check_listen(host, port)
    Registry.open(db, read_only=False)  # a damaged, foreign or read-only file: one line here, not a traceback
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    processes = f", {workers} processes" if workers > 1 else ""
    err_console.print(f"promolab service on http://{host}:{port} (docs at /docs){processes}", markup=False,
                      highlight=False)
    if workers == 1:
        application = create_app(db, bandit_period=bandit_period, report_timeout=report_timeout,
                                 health_period=health_period or None, webhooks=webhooks)
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False, workers=1)
        return
    # each worker process builds its own app from the environment (uvicorn's factory)
    os.environ[DB_ENV] = str(resolve_db_path(db))
    os.environ[REPORT_TIMEOUT_ENV] = repr(report_timeout)
    if bandit_period is not None:
        os.environ[BANDIT_PERIOD_ENV] = repr(bandit_period)
    os.environ[HEALTH_PERIOD_ENV] = repr(health_period)
    os.environ[WEBHOOKS_ENV] = " ".join(webhooks)
    uvicorn.run("promolab.service.app:app_from_env", factory=True, host=host, port=port, log_level=log_level,
                access_log=False, workers=workers)


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Option("--kind", metavar="sdk|admin",
                                      help="sdk (assign, events) or admin (everything).")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    db: DbOption = None,
) -> None:
    """Create a key and print it once (it cannot be shown again).

    Example: promolab keys create --kind sdk --name storefront
    """
    from promolab.store.keys import create_key

    token, record = create_key(open_registry(db, must_exist=False), kind, name)
    print(token)
    err_console.print(f"created {record.kind} key {record.key_id}: store it now, it is not shown again",
                      markup=False, highlight=False)


@keys_app.command("list")
def keys_list(db: DbOption = None, json_: JsonOption = False) -> None:
    """Keys by id, kind and name (never the secret).

    Example: promolab keys list
    """
    from promolab.store.keys import list_keys

    rows = list_keys(open_registry(db))
    if json_:
        print_json(rows)
        return
    table = Table("id", "kind", "name", "created", "revoked", text=("id", "kind", "name"))
    for k in rows:
        table.add_row(plain(k.key_id), k.kind, plain(k.name), f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see keys list).")], db: DbOption = None) -> None:
    """Revoke a key: requests with it get 401 (restart a running service to apply).

    Example: promolab keys revoke KEY_ID
    """
    from promolab.store.keys import revoke_key

    revoke_key(open_registry(db), key_id)
    say(f"revoked {key_id}")
