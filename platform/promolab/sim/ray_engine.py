"""Run a simulation grid's tasks on Ray: the same ``run_task`` and the same seeds as the process pool.

Imported only when ``--engine ray`` is chosen. Without ``address`` a private local Ray instance is
started with quiet settings (no dashboard, no token auth, a 512 MiB object store, a short temporary
directory of its own) and shut down afterwards; with ``address`` (``ray://HOST:10001``, ``HOST:6379``
or ``auto``) the tasks go to that cluster, whose nodes must have promolab installed. If Ray is already
initialised in this process (a notebook, a test session), that session is used and left running.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from promolab.errors import InputError
from promolab.sim.grid import GridTask, run_task
from promolab.sim.simulate import RunBatch

try:
    import ray
except ImportError:  # the [ray] extra is not installed
    raise InputError("--engine", "ray", "Ray to be installed: pip install 'promolab[ray]'") from None

OBJECT_STORE_BYTES = 512 * 1024**2

_remote_run_task = ray.remote(run_task)


def local_cpus() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to ``address`` or start a local Ray; shut down on exit only what was started here."""
    if ray.is_initialized():
        yield
        return
    temp_dir = None
    if address:
        kwargs = {"address": address}
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # else Ray 2.60 writes ~/.ray/auth_token
        # Unix socket paths live under the temp dir and must stay short (about 100 characters).
        temp_dir = os.environ.get("PROMOLAB_RAY_TMPDIR") or tempfile.mkdtemp(prefix="plray-")
        kwargs = {"address": "local", "num_cpus": num_cpus or local_cpus(), "include_dashboard": False,
                  "_temp_dir": temp_dir, "object_store_memory": OBJECT_STORE_BYTES}
    try:
        ray.init(logging_level=logging.WARNING, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        if temp_dir and "PROMOLAB_RAY_TMPDIR" not in os.environ:
            shutil.rmtree(temp_dir, ignore_errors=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError("--address", address or "local", f"a reachable Ray cluster ({first})") from None
    try:
        yield
    finally:
        ray.shutdown()
        if temp_dir and "PROMOLAB_RAY_TMPDIR" not in os.environ:
            shutil.rmtree(temp_dir, ignore_errors=True)


def run_tasks(
    tasks: Sequence[GridTask],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> dict[int, RunBatch]:
    """Run every task as one Ray task; return results keyed by task index (grid order is restored
    by the caller). ``on_done(index)`` is called as each task finishes, in completion order."""
    with ray_session(address, num_cpus=num_cpus):
        refs = [_remote_run_task.remote(task) for task in tasks]
        index_of = {ref: index for index, ref in enumerate(refs)}
        results: dict[int, RunBatch] = {}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    index = index_of[ref]
                    results[index] = ray.get(ref)
                    if on_done:
                        on_done(index)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results
