"""The process ``promolab dashboard`` becomes: Streamlit's own command line, plus a warm-up.

Streamlit runs a page's script in the server process, so the first visitor of a freshly started
dashboard pays for importing the analysis stack (pandas, scipy, statsmodels, DuckDB: about
2 s). Here a background thread imports it while the server starts, and the first page finds it
loaded. ``python -m promolab.cli.dashboard_server run APP [streamlit flags] -- --db FILE`` takes
exactly ``streamlit``'s arguments.
"""

from __future__ import annotations

import importlib
import threading

from streamlit.web.cli import main as streamlit_main

WARM_MODULES = ("promolab.analysis", "promolab.store", "plotly.graph_objects", "pandas")


def warm(modules: tuple[str, ...] = WARM_MODULES) -> None:
    """Import ``modules`` (once; a later import is a dictionary look-up)."""
    for name in modules:
        importlib.import_module(name)


def main() -> None:
    threading.Thread(target=warm, name="promolab-warm-imports", daemon=True).start()
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
