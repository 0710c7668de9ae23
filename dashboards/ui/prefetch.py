"""Compute the first view of each page into the dashboard's caches, ahead of the visitor.

``promolab dashboard`` calls ``run`` from a background thread of the server once the server
has started (``promolab.cli.dashboard_server``). It calls the same cached functions the pages
call, with the same arguments (``ui.defaults``): the Experiments page's rows (exposure dates,
days running: the page draws them before its verdicts, and a report holds the registry for all
its queries) and reports first, then the lift over time, the sequential looks, each bandit's
regret, a contextual experiment's allocation, and the uplift models of the first A/B
experiment (seconds of cross-fitting on the demo). A page visited later finds its result cached; one visited
meanwhile waits for the computation under way instead of starting a second one (Streamlit locks
each cached value while it is computed). Nothing is computed that a page would not compute
itself, and the caches expire and are cleared as usual. Tests and ``streamlit run`` compute on
demand.
"""

from __future__ import annotations

import logging
import threading

from promolab.analysis.allocation import PERIODS
from promolab.errors import PromolabError
from ui import data, defaults

log = logging.getLogger("promolab.dashboard")


class _OutsideAScript(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning from one thread, which runs no script
    on purpose (its cached calls show no spinner)."""

    def __init__(self, thread: str) -> None:
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != self.thread


FIRST_PAGE_WAIT = 60.0  # seconds the other pages' views wait for a first page to be drawn
first_page_drawn = threading.Event()  # set by app.py after each run: the first one releases the rest


def first_views(path: str, wait: float = 0.0) -> None:
    """Fill the caches each page reads on its first view: the Experiments page's rows and reports, then
    (after a first page is drawn, or ``wait`` seconds, so as not to slow it) the others."""
    listed = data.experiments(path)
    for s in listed:
        data.exposure_window(path, s.key)
        data.days_running(path, s)
    summaries = [s for s in listed if s.exposures]
    specs = {s.key: data.experiment(path, s.key) for s in summaries}
    for key, spec in specs.items():
        data.report(path, key, defaults.cuped(spec), False)
    first_page_drawn.wait(wait)
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


def run(path: str) -> None:
    """``first_views(path)`` outside any script run: quietly, and a registry the pages will
    report on (missing, unreadable) stops it."""
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        _OutsideAScript(threading.current_thread().name))
    try:
        first_views(path, FIRST_PAGE_WAIT)
    except PromolabError as exc:  # the page will say the same when it is visited
        log.info("prefetch stopped: %s", exc)
