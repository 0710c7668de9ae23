"""Every chart is shown through one call, so every chart behaves alike.

Plotly's toolbar (zoom, pan, download) is off. On hover it covered the chart titles and
legends (the three allocation charts of the Simulation lab, the Sequential and segment
charts), and a marketer reading the page needs none of it. Streamlit's own element menu
still offers full screen.

The browser loads Streamlit's chart code (one 4.7 MB module with plotly.js) the first time a
page draws a chart: about a second of fetching and compiling on top of that page.
``preload_charts`` has the browser load it as soon as the first page is drawn, while the
visitor reads it (or while the server computes the page they clicked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

CHART_CONFIG: dict[str, Any] = {"displayModeBar": False, "displaylogo": False}
FRONTEND_JS = Path(st.__file__).parent / "static" / "static" / "js"
QUIET_MS = 100  # the page unchanged this long, then the browser idle: the chart code loads

# The module is imported by URL: the browser keeps one instance per URL, so Streamlit's own
# import of it on the first chart finds it loaded. The URL is resolved against Streamlit's
# entry script, which also holds under a server base path.
PRELOAD = """<script>
(() => {
  if (window.__promolabCharts) return;
  window.__promolabCharts = true;
  const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
  if (!entry) return;
  const url = new URL(%s, entry.src).href;
  let timer = null;
  const load = () => {
    watch.disconnect();
    const start = () => import(url).catch(() => {});
    'requestIdleCallback' in window ? requestIdleCallback(start, {timeout: 2000}) : start();
  };
  const watch = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(load, %d); });
  watch.observe(document.body, {subtree: true, childList: true, characterData: true});
  timer = setTimeout(load, %d);
})();
</script>"""


def chart_module() -> str | None:
    """The file name of Streamlit's chart module (``PlotlyChart.<hash>.js``), None if this
    Streamlit has none."""
    found = sorted(FRONTEND_JS.glob("PlotlyChart.*.js"))
    return found[0].name if found else None


def preload_charts() -> None:
    """Have the browser load the chart module once the page has not changed for ``QUIET_MS``
    and the browser is idle (``app.py`` draws this last in every run; a browser that has
    loaded the module does nothing)."""
    name = chart_module()
    if name is not None:
        st.html(PRELOAD % (json.dumps(name), QUIET_MS, QUIET_MS), unsafe_allow_javascript=True)


def show_chart(fig: go.Figure, key: str, **options: Any) -> Any:
    """``st.plotly_chart`` with the dashboard's chart settings."""
    return st.plotly_chart(fig, key=key, config=CHART_CONFIG, **options)
