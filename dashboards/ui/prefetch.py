"""Compute, in the background of a freshly started dashboard, the first view of each page.

While a user reads the Experiments page, a thread calls the same cached functions the pages
call, with the same arguments (``ui.defaults``): the reports, the lift over time, the
sequential looks, each bandit's regret, and the uplift models of the first A/B experiment on
the Targeting page (seconds of cross-fitting on the demo). A page visited later finds its
result cached; one visited meanwhile waits for the computation under way instead of starting a
second one (Streamlit locks each cached value while it is computed). Nothing is computed that a
page would not compute itself, and the caches expire and are cleared as usual.

Only ``promolab dashboard`` turns it on (``$PROMOLAB_DASHBOARD_PREFETCH=1``): tests and
``streamlit run`` compute on demand.
"""

from __future__ import annotations

import logging
import os
import threading

import streamlit as st

from promolab.analysis.allocation import PERIODS
from promolab.errors import PromolabError
from ui import data, defaults

ENV = "PROMOLAB_DASHBOARD_PREFETCH"
THREAD = "promolab-prefetch"
log = logging.getLogger("promolab.dashboard")


class _OutsideAScript(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for this thread: it runs no script
    on purpose (its cached calls show no spinner)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


def first_views(path: str) -> None:
    """Fill the caches each page reads on its first view, cheapest first."""
    summaries = [s for s in data.experiments(path) if s.exposures]
    specs = {s.key: data.experiment(path, s.key) for s in summaries}
    for key, spec in specs.items():
        data.report(path, key, defaults.cuped(spec), False)
    if summaries:
        first = specs[summaries[0].key]
        data.over_time(path, first.key, "day", defaults.cuped(first))
        data.attribute_values(path, first.key)
        data.sequential_path(path, first.key, *defaults.sequential_design(first))
    for key, spec in specs.items():
        if spec.kind == "bandit":
            data.bandit_regret(path, key)
    for spec in specs.values():  # the first contextual experiment's allocation, the first A/B test's models
        if spec.kind == "contextual":
            data.segment_allocation(path, spec.key, spec.contextual.features.names[0], PERIODS[0])
            break
    ab = next((spec for spec in specs.values() if defaults.targeting_rank(spec) == 1), None)
    if ab is not None:
        data.uplift_report(path, ab.key, defaults.UPLIFT_LEARNERS, defaults.UPLIFT_MODEL, defaults.UPLIFT_SHARES[0])


def _run(path: str) -> None:
    try:
        first_views(path)
    except PromolabError as exc:  # the page will say the same when it is visited
        log.info("prefetch stopped: %s", exc)


@st.cache_resource(show_spinner=False)
def start(path: str) -> bool:
    """Start the prefetch of ``path`` once per server process (when ``$PROMOLAB_DASHBOARD_PREFETCH``
    is 1); True if started."""
    if os.environ.get(ENV) != "1":
        return False
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_OutsideAScript())
    threading.Thread(target=_run, args=(path,), name=THREAD, daemon=True).start()
    return True
