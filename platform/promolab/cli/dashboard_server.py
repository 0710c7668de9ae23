"""The process ``promolab dashboard`` becomes: Streamlit's own command line, plus a warm-up.

Streamlit runs a page's script in the server process, so the first visitor of a freshly started
dashboard pays for importing the analysis stack (pandas, scipy, statsmodels, DuckDB: about
2 s). Here a background thread imports it while the server starts, and the first page finds it
loaded. ``python -m promolab.cli.dashboard_server run APP [streamlit flags] -- --db FILE`` takes
exactly ``streamlit``'s arguments, and turns on the dashboard's prefetch of each page's first view
(``dashboards/ui/prefetch.py``).
"""

from __future__ import annotations

import importlib
import os
import threading

from streamlit.web.cli import main as streamlit_main

WARM_MODULES = ("promolab.analysis", "promolab.store", "plotly.graph_objects", "pandas")


def warm(modules: tuple[str, ...] = WARM_MODULES) -> None:
    """Import ``modules`` (once; a later import is a dictionary look-up)."""
    for name in modules:
        importlib.import_module(name)


PREFETCH_ENV = "PROMOLAB_DASHBOARD_PREFETCH"  # read by dashboards/ui/prefetch.py


def main() -> None:
    os.environ.setdefault(PREFETCH_ENV, "1")  # compute each page's first view in the background
    threading.Thread(target=warm, name="promolab-warm-imports", daemon=True).start()
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
