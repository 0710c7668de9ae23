"""Loading Streamlit's element code in the browser ahead of the elements that need it.

Streamlit's frontend loads each element's code (a JavaScript module, ``<Element>.<hash>.js``,
and the modules it imports) the first time a page draws such an element. On a freshly
opened dashboard that code is fetched and compiled only after the server has sent the
element, on top of the wait for the data: for the table (``DataFrame``, 1.3 MB with its
Arrow code) about 0.3 s of the browser's main thread, for the charts (``PlotlyChart``,
4.7 MB with plotly.js) about a second.

``preload`` has the browser load named modules before that: at once (``app.py`` asks for
the first page's elements before the first page computes anything, so the code loads while
the server works), or once the script run is over, the page has been unchanged for
``QUIET_MS`` and the browser is idle (the charts and the select box the other pages pick an
experiment with: their compile, a quarter of a second of the main thread for the charts, would
otherwise delay drawing the end of the first page; the first page draws no select box). It
mirrors Streamlit's own loader: a ``<link rel="modulepreload">`` for each module the
element's module imports (fetched in parallel, compiled, not run), then ``import()`` of the
element's module. Both use the URLs Streamlit's own imports use (resolved against its entry
script, also under a server base path), and the browser keeps one instance of a module per
URL, so Streamlit's later import finds the module loaded.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

JS = Path(st.__file__).parent / "static" / "static" / "js"
QUIET_MS = 100  # an idle preload waits until the page has been unchanged this long, then for the browser to idle
HEAD_BYTES = 32_768  # a module's static imports come first: within its first 10 kB in Streamlit 1.67
QUOTED_MODULE = re.compile(r'"\./([^"/]+\.js)"')  # a static import when after from / import: import{a}from"./x.js"
HIDE = "<style>[class*='st-key-promolab-preload'] {display: none;}</style>"  # the scripts' containers take no room

# The first page's elements besides text (the Experiments page; most pages have a table), and what
# the other pages draw: the charts, and the select box that picks the experiment on each of them.
PAGE_ELEMENTS = ("DataFrame", "Metric", "Button")
LATER_ELEMENTS = ("PlotlyChart", "Selectbox")

LOADER = """<script>
(() => {
  const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
  if (!entry) return;
  const loaded = window.__promolabModules || (window.__promolabModules = new Set());
  const url = (file) => new URL(file, entry.src).href;
  const load = () => {
    for (const [element, imports] of %(modules)s) {
      if (loaded.has(element)) continue;
      loaded.add(element);
      for (const file of imports) {
        if (document.querySelector(`link[rel="modulepreload"][href="${url(file)}"]`)) continue;
        const link = document.createElement('link');
        link.rel = 'modulepreload';
        link.href = url(file);
        document.head.appendChild(link);
      }
      import(url(element)).catch(() => {});
    }
  };
  if (!%(idle)s) return load();
  let timer = null;
  const app = document.querySelector('[data-testid="stApp"]');
  const start = () => {
    if (app && app.getAttribute('data-test-script-state') === 'running') return;  // the run's end changes the page
    watch.disconnect();
    'requestIdleCallback' in window ? requestIdleCallback(load, {timeout: 2000}) : load();
  };
  const watch = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(start, %(quiet)d); });
  watch.observe(document.body, {subtree: true, childList: true, characterData: true});
  if (app) watch.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  timer = setTimeout(start, %(quiet)d);
})();
</script>"""


@functools.cache
def module(element: str) -> str | None:
    """The file name of Streamlit's module for ``element`` (``DataFrame`` → ``DataFrame.<hash>.js``),
    None if this Streamlit has none."""
    found = sorted(JS.glob(f"{element}.*.js"))
    return found[0].name if found else None


def head(name: str, size: int = HEAD_BYTES) -> str:
    """The first ``size`` bytes of a module, as text ('' if there is no such file)."""
    try:
        with open(JS / name, "rb") as f:
            return f.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


@functools.cache
def direct_imports(name: str) -> frozenset[str]:
    """The modules ``name`` names in its static imports (``from"./x.js"``, ``import"./x.js"``;
    read from the module's head, where they are)."""
    text = head(name)
    return frozenset(m.group(1) for m in QUOTED_MODULE.finditer(text)
                     if text[max(m.start() - 7, 0):m.start()].rstrip().endswith(("from", "import")))


def imports(name: str) -> frozenset[str]:
    """The modules ``name`` imports statically, directly or through others (file names)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for found in direct_imports(todo.pop()) - seen:
            seen.add(found)
            todo.append(found)
    seen.discard(name)
    return frozenset(seen)


@functools.cache
def entry_imports() -> frozenset[str]:
    """What Streamlit's entry script (``index.<hash>.js``) loads with the page itself."""
    entry = sorted(JS.glob("index.*.js"))
    return frozenset() if not entry else imports(entry[0].name) | {entry[0].name}


def plan(elements: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(element module, the modules it needs that the page has not loaded yet) per element
    this Streamlit has."""
    return [(name, sorted(imports(name) - entry_imports())) for name in map(module, elements) if name]


def preload(elements: Sequence[str], idle: bool = False) -> None:
    """Have the browser load the code of ``elements`` (Streamlit's names: ``DataFrame``,
    ``PlotlyChart``, …) now, or with ``idle`` once the page is drawn and the browser idle.
    Draws nothing; each module loads once per browser page."""
    modules = plan(elements)
    if modules:
        with st.container(key=f"promolab-preload-{'idle' if idle else 'now'}"):
            st.html(HIDE + LOADER % {"modules": json.dumps(modules), "idle": json.dumps(idle), "quiet": QUIET_MS},
                    unsafe_allow_javascript=True)
