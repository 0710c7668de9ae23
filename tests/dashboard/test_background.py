"""The prefetch's low-priority worker: a started job's result is taken once, by whoever asks
first; nothing started means computing here; a registry change drops what was started."""

from __future__ import annotations

import os
import sys
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from promolab.errors import PromolabError

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
sys.path.insert(0, str(APP.parent))
from ui import background  # noqa: E402


@pytest.fixture(scope="module")
def pool():
    with background.low_priority_pool() as executor:
        yield executor


def test_a_started_job_runs_in_a_child_at_the_lowest_priority(pool) -> None:
    background.start(pool, os.getpid)
    background.start(pool, os.nice, 0)  # os.nice(0) returns the niceness unchanged
    background.start(pool, os.getsid, 0)
    assert background.compute(os.getpid) != os.getpid()
    assert background.compute(os.nice, 0) == min(os.nice(0) + background.NICENESS, 19)
    assert background.compute(os.getsid, 0) != os.getsid(0)  # a session (on Linux a CPU group) of its own
    assert background.compute(os.getpid) == os.getpid()  # taken once: the next call computes here


def test_a_job_is_started_once_and_forgotten_on_change(pool) -> None:
    background.start(pool, os.getpid)
    background.start(pool, os.getpid)  # the second start is the same job
    background.forget()
    assert background.compute(os.getpid) == os.getpid()


class DeadWorker(Executor):
    """An executor whose worker process died: every job ends in BrokenProcessPool."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return future


def test_a_dead_worker_means_computing_here() -> None:
    background.start(DeadWorker(), os.getpid)
    assert background.compute(os.getpid) == os.getpid()


def test_a_failed_job_raises_its_error_where_it_is_taken(pool, tmp_path: Path) -> None:
    missing = str(tmp_path / "none.duckdb")
    background.start(pool, background.uplift_report, missing, "k", ("x",), "ridge", None)
    with pytest.raises(PromolabError) as child:
        background.compute(background.uplift_report, missing, "k", ("x",), "ridge", None)
    with pytest.raises(PromolabError) as here:
        background.uplift_report(missing, "k", ("x",), "ridge", None)
    assert type(child.value) is type(here.value) and str(child.value) == str(here.value)
    assert "k" in str(child.value)
