"""Compute the first view of each page into the dashboard's caches, ahead of the visitor.

``promolab dashboard`` calls ``run`` from a background thread of the server once the server
has started (``promolab.cli.dashboard_server``). It calls the same cached functions the pages
call, with the same arguments (``ui.defaults``): the Experiments page's rows (exposure dates,
days running: the page draws them before its verdicts, and a report holds the registry for all
its queries) and reports first; then, each when no page is being drawn (``Activity``), the lift
over time, each bandit's regret, a contextual experiment's allocation, the sequential looks
and the uplift models of the first A/B experiment (a second, and two seconds of cross-fitting on
the demo: begun before the other steps, in a child process at the lowest CPU priority,
``ui.background``). A
page visited later finds its result cached; one visited meanwhile waits for the computation
under way instead of starting a second one (Streamlit locks each cached value while it is
computed). Nothing is computed that a page would not compute itself, and the caches expire and
are cleared as usual. Tests and ``streamlit run`` compute on demand.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor

from promolab.analysis.allocation import PERIODS
from promolab.errors import PromolabError
from ui import background, data, defaults

log = logging.getLogger("promolab.dashboard")


class _OutsideAScript(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning from one thread, which runs no script
    on purpose (its cached calls show no spinner)."""

    def __init__(self, thread: str) -> None:
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != self.thread


IDLE_WAIT = 60.0  # seconds a step waits for the pages to be idle before it runs anyway
QUIET = 0.3  # seconds after the last script run before the next step starts (the browser draws meanwhile)


class Activity:
    """The dashboard's script runs: how many are under way, and when the last one ended.

    ``app.py`` calls ``begin`` and ``end`` around each run. The prefetch starts each step
    after the first page only when no run is under way and none ended in the last ``QUIET``
    seconds, so its work (the uplift models: seconds of cross-fitting) does not compete with
    a page the visitor is waiting for; a step already running finishes first.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.running = 0
        self.runs = 0  # runs ended so far
        self.ended = time.monotonic()

    def begin(self) -> None:
        with self._changed:
            self.running += 1

    def end(self) -> None:
        with self._changed:
            self.running -= 1
            self.runs += 1
            self.ended = time.monotonic()
            self._changed.notify_all()

    def wait_idle(self, limit: float, quiet: float = QUIET, first_run: bool = True) -> None:
        """Return once a first run has ended (with ``first_run``; else at once if no run has
        begun), none is under way and the last ended ``quiet`` seconds ago; or after ``limit``
        seconds."""
        deadline = time.monotonic() + limit
        with self._changed:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                if self.running == 0 and (self.runs or not first_run):
                    calm = self.ended + quiet - now
                    if calm <= 0:
                        return
                    self._changed.wait(min(calm, deadline - now))
                else:
                    self._changed.wait(deadline - now)


activity = Activity()


def first_views(path: str, wait: float = 0.0, pool: Executor | None = None) -> None:
    """Fill the caches each page reads on its first view: the Experiments page's rows and
    reports, then the others, each once the pages are idle (``activity``; at most ``wait``
    seconds each, so as not to slow a page being drawn). With a ``pool`` the sequential looks
    and the uplift models are computed there, begun once no page is being drawn (``ui.background``)."""
    listed = data.experiments(path)
    summaries = [s for s in listed if s.exposures]
    specs = {s.key: data.experiment(path, s.key) for s in summaries}
    ab = next((spec for spec in specs.values() if defaults.targeting_rank(spec) == 1), None)
    uplift = None if ab is None else (ab.key, defaults.UPLIFT_LEARNERS, defaults.UPLIFT_MODEL,
                                      defaults.UPLIFT_SHARES[0])  # the first A/B test's models
    for s in listed:
        data.exposure_window(path, s.key)
        data.days_running(path, s)
    for key, spec in specs.items():
        data.report(path, key, defaults.cuped(spec), False)
    first = specs[summaries[0].key] if summaries else None
    # the long computations: in the pool's low-priority process when there is one (``ui.background``)
    jobs = [] if first is None else [(background.sequential_path, data.sequential_path,
                                      (first.key, *defaults.sequential_design(first)))]
    if uplift is not None:
        jobs.append((background.uplift_report, data.uplift_report, uplift))
    if jobs and pool is not None:
        # Not while a page is drawn: the worker's own start-up runs at normal priority (its
        # initializer lowers it), and begun beside the first page it slowed that page's last draw.
        # With no visitor yet it starts at once.
        activity.wait_idle(wait, first_run=False)
        for job, _, args in jobs:
            background.start(pool, job, path, *args)
    steps: list[tuple] = []
    if first is not None:
        steps += [(data.over_time, first.key, "day", defaults.cuped(first)), (data.attribute_values, first.key)]
    steps += [(data.bandit_regret, key) for key, spec in specs.items() if spec.kind == "bandit"]
    contextual = next((spec for spec in specs.values() if spec.kind == "contextual"), None)
    if contextual is not None:  # the first contextual experiment's allocation
        steps.append((data.segment_allocation, contextual.key, contextual.contextual.features.names[0], PERIODS[0]))
    steps += [(cached, *args) for _, cached, args in jobs]  # last: each takes its job's result, waiting for it
    for compute, *args in steps:
        activity.wait_idle(wait)
        compute(path, *args)


def run(path: str) -> None:
    """``first_views(path)`` outside any script run: quietly, the sequential looks and the
    uplift models in a low-priority process (``ui.background``), and a registry the pages
    will report on (missing, unreadable) stops it."""
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        _OutsideAScript(threading.current_thread().name))
    try:
        with background.low_priority_pool() as pool:
            first_views(path, IDLE_WAIT, pool)
    except PromolabError as exc:  # the page will say the same when it is visited
        log.info("prefetch stopped: %s", exc)
