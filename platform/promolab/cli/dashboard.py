"""``promolab dashboard``: start the Streamlit dashboard (``dashboards/app.py``) on a registry.

The server runs in this process (``promolab.cli.dashboard_server``: no second interpreter to
start, and signals reach the server directly). The registry file is passed to the app twice,
as ``$PROMOLAB_DB`` and as ``--db FILE`` after ``--`` on the ``streamlit run`` command line;
without ``--db`` it is ``$PROMOLAB_DB``, else ``promolab-demo.duckdb`` if it exists, else
``promolab.duckdb``.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from promolab.cli.app import app
from promolab.cli.listen import check_listen
from promolab.cli.output import say
from promolab.errors import InputError
from promolab.store.preflight import inspect_path
from promolab.store.location import DB_ENV, resolve_db_path

APP_ENV = "PROMOLAB_DASHBOARD_APP"


def dashboard_db(db: Path | None) -> Path:
    """The registry the dashboard shows: the CLI's rule (:func:`promolab.store.location.resolve_db_path`)."""
    return resolve_db_path(db)


def app_path() -> Path:
    """``dashboards/app.py`` of the source tree ($PROMOLAB_DASHBOARD_APP overrides)."""
    candidates = [os.environ.get(APP_ENV), Path(__file__).resolve().parents[3] / "dashboards" / "app.py",
                  Path.cwd() / "dashboards" / "app.py"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    raise InputError("dashboard app", str(candidates[1]),
                     f"dashboards/app.py of a promolab checkout (or set ${APP_ENV})")


def streamlit_args(db: Path, port: int, host: str, app_file: Path) -> list[str]:
    """The ``streamlit run …`` arguments for the dashboard."""
    return [
        "run", str(app_file),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
        "--theme.base", "light", "--client.toolbarMode", "minimal",
        "--", "--db", str(db),
    ]


@app.command()
def dashboard(
    db: Annotated[Optional[Path], typer.Option("--db", help="Registry file (default: $PROMOLAB_DB, else "
                                                             "promolab-demo.duckdb if present, else promolab.duckdb).")] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option("--host", help="Address to bind (127.0.0.1 = this machine only).")] = "127.0.0.1",
) -> None:
    """Open the dashboard: reports, sequential monitoring, bandits, simulation lab, launch form.

    Example: promolab dashboard --db promolab-demo.duckdb
    """
    path = dashboard_db(db)
    check_listen(host, port)
    inspect_path(path)  # a folder, an empty or foreign file: one line here, not on every page
    args = streamlit_args(path, port, host, app_path())
    os.environ[DB_ENV] = str(path)
    say(f"promolab dashboard on http://{host}:{port} — registry {path}")
    if not path.exists():
        say(f"(no registry at {path} yet: it is created empty; run `promolab demo` for example data)")
    sys.stdout.flush()
    # Streamlit loads with the server, not with this module: `promolab dashboard --help` stays quick.
    importlib.import_module("promolab.cli.dashboard_server").main(args)
