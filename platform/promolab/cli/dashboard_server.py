"""The server ``promolab dashboard`` runs: Streamlit's own command line, plus a head start.

Streamlit runs a page's script in the server process, so the first visitor of a freshly started
dashboard would pay for importing the analysis stack (pandas, scipy, DuckDB: about 0.7 s of one
core) and for every page's first computation. Here one background thread waits until the server
has started (importing meanwhile would slow the start and the serving of the frontend's files:
one interpreter runs one thread at a time), imports that stack while the browser loads the
frontend, and then computes each page's first view into the runtime's caches
(``dashboards/ui/prefetch.py``), the Experiments page's first. The prefetch's worker process
(``dashboards/ui/background.py``) runs in a session of its own, out of reach of the signals
sent to the server's process group; ``main`` terminates it when the server stops.

Once the stack is imported, its objects move to the collector's permanent generation
(``gc.freeze``): Streamlit runs a full garbage collection after every script run, which
otherwise walks every imported module's objects (about 130,000; 0.06 s alone, 0.2 s with
the browser loading beside it) before the page's last message goes out.

Streamlit's runtime, as it starts, reads the metadata of every installed distribution to find
packaged custom components (``BidiComponentManager.discover_and_register_components``): 0.18 s
of the main thread with the development extras' 125 distributions, before the server answers.
The dashboard's pages use no custom component, so the server skips that scan
(``skip_component_discovery``); first-page medians went from 2.97 to 2.71 s (8 interleaved
fresh starts each).

``main(["run", APP, *streamlit flags, "--", "--db", FILE])`` (or ``python -m
promolab.cli.dashboard_server run APP … -- --db FILE``) takes exactly ``streamlit``'s arguments.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from streamlit import runtime
from streamlit.runtime.runtime import RuntimeState
from streamlit.web.cli import main as streamlit_main

try:  # a Streamlit with custom components v2 (1.67 here) scans the installed packages for them
    from streamlit.components.v2.component_manager import BidiComponentManager
except ImportError:  # an older Streamlit: there is no such scan to skip
    BidiComponentManager = None

WARM_MODULES = ("promolab.analysis", "promolab.store", "plotly.graph_objects", "pandas")
RUNTIME_WAIT = 30.0  # seconds to wait for Streamlit's server to start before giving the head start up


def app_and_registry(argv: Sequence[str]) -> tuple[Path, str] | None:
    """(the app file, the registry path as the dashboard resolves it) from ``run APP … -- --db FILE``."""
    args = list(argv)
    if len(args) < 2 or args[0] != "run" or "--db" not in args:
        return None
    db = args[args.index("--db") + 1] if args.index("--db") + 1 < len(args) else None
    return (Path(args[1]).resolve(), str(Path(db).resolve())) if db else None


def server_started(timeout: float = RUNTIME_WAIT) -> bool:
    """Wait until Streamlit's runtime has started serving (False after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not (runtime.exists() and runtime.get_instance().state != RuntimeState.INITIAL):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def head_start(app: Path | None, db: str | None) -> None:
    """Once the server has started, import the analysis stack and prefetch the pages' first views."""
    if not server_started():
        return
    for name in WARM_MODULES:
        importlib.import_module(name)
    if app is None or db is None:
        gc.freeze()
        return
    if str(app.parent) not in sys.path:
        sys.path.insert(0, str(app.parent))  # as app.py does: the pages' ``ui`` package, the same modules
    prefetch = importlib.import_module("ui.prefetch")
    gc.freeze()  # what is imported lives as long as the server: no collection need walk it again
    prefetch.run(db)


def _no_packaged_components(self, *, start_file_watching: bool = True) -> None:
    """The dashboard's pages use no packaged custom component: none to register, no asset to watch."""


def skip_component_discovery() -> None:
    """Have Streamlit's runtime start without scanning the installed packages for custom components."""
    if BidiComponentManager is not None:
        BidiComponentManager.discover_and_register_components = _no_packaged_components


def main(argv: Sequence[str] | None = None) -> None:
    """``streamlit`` with ``argv`` (default: this process's arguments), and the head start."""
    args = list(sys.argv[1:] if argv is None else argv)
    app, db = app_and_registry(args) or (None, None)
    skip_component_discovery()
    threading.Thread(target=head_start, args=(app, db), name="promolab-head-start", daemon=True).start()
    try:
        streamlit_main(args=args, prog_name="streamlit")
    finally:  # the prefetch's worker process (in a session of its own: no signal reaches it) ends with the server
        for child in multiprocessing.active_children():
            child.terminate()


if __name__ == "__main__":
    main()
