"""The prefetch's long computations, run in a child process at the lowest CPU priority.

The prefetch (``ui.prefetch``) computes the Sequential page's looks (about a second: the
report's SQL rerun per look, and the boundaries) and the uplift models ahead of the Targeting
page (about two seconds of cross-fitting and bootstrap on the demo). In the server's own
process that work shares the interpreter (one thread runs at a time) and the cores with every
page a visitor opens meanwhile: the Report page's script took 1.0 s instead of 0.5 s while the
uplift models were fitted there, and a Report opened right after the first page took 2.34 s
instead of 2.03 s (medians of 5 interleaved runs) while the looks were computed there. In a
child process at nice 19 (and, on Linux, in a CPU group of its own: ``lowest_priority``) they
run on whatever CPU the server and the browser leave idle, one after the other. The server
terminates it when it stops (``promolab.cli.dashboard_server``).

``start`` submits a job; the cached function that needs its value calls ``compute`` with the
same job and arguments and takes the result (waiting if it is not ready) instead of
computing it a second time. Whichever thread asks first - the prefetch's step or a page
visited meanwhile - takes it, and Streamlit's cache holds it from then on. ``forget`` drops
the jobs started before the registry changed. A job is a module-level function of the
registry path (the child opens the file itself); this module imports nothing heavy, the
child imports what a job needs when it runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from promolab.store import Registry

NICENESS = 19  # the lowest CPU priority on Linux and macOS: the child runs on what others leave idle
AUTOGROUP = Path("/proc/self/autogroup")

T = TypeVar("T")
_started: dict[tuple, Future] = {}
_lock = threading.Lock()


def lowest_priority() -> None:
    """Lower this process's CPU priority as far as it goes. On Linux a session is also a
    scheduling group (autogroup) whose members share one slice against other sessions (the
    browser's), so the worker gets a session of its own and that group's niceness too."""
    if hasattr(os, "setsid"):
        os.setsid()
    try:
        AUTOGROUP.write_text(str(NICENESS))
    except OSError:  # no autogroup here: plain niceness is the whole story
        pass
    if hasattr(os, "nice"):
        os.nice(NICENESS)


def low_priority_pool() -> ProcessPoolExecutor:
    """One worker process at the lowest priority, started with its first job (``spawn``: a
    fresh interpreter, safe in a threaded server)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=lowest_priority)


def start(executor: Executor, job: Callable[..., Any], *args: Any) -> None:
    """Begin ``job(*args)`` in ``executor`` for a later ``compute(job, *args)`` (once per job)."""
    with _lock:
        if (job, args) not in _started:
            _started[(job, args)] = executor.submit(job, *args)


def compute(job: Callable[..., T], *args: Any) -> T:
    """``job(*args)``: the result of the job ``start`` began, else (nothing started, or the
    worker process died) computed here."""
    with _lock:
        future = _started.pop((job, args), None)
    if future is not None:
        try:
            return future.result()
        except BrokenExecutor:
            pass
    return job(*args)


def forget() -> None:
    """Drop the started jobs (the registry changed: their results may be out of date)."""
    with _lock:
        for future in _started.values():
            future.cancel()
        _started.clear()


def uplift_report(path: str, key: str, learners: tuple[str, ...], model: str, share: float | None):
    """``experiment_uplift`` on the registry file ``path``: a job a child process can run."""
    from promolab.uplift.experiment import experiment_uplift  # scikit-learn: loaded by the job

    return experiment_uplift(Registry.open(path), key, learners=learners, model=model, share=share)


def sequential_path(path: str, key: str, looks: int, spending: str):
    """``promolab.analysis.sequential_path`` on the registry file ``path``: a job a child process can run."""
    from promolab.analysis.sequential_path import sequential_path as compute  # loaded by the job

    return compute(Registry.open(path), key, looks, spending=spending)
