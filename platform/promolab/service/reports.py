"""Reports off the server: one worker process, a time limit, cancelled when nobody waits.

``GET /v1/experiments/{key}/report`` must never starve ``/v1/assign`` nor hold the server:
a report (SQL over every exposure and event, then the statistics) is CPU work of seconds
on a large registry. :class:`ReportRunner` therefore runs it in a separate process
(``promolab.service.report_worker``, started on the first report and kept warm), one
report at a time, at a lower CPU priority, and the route only awaits it:

- **time limit** (``timeout``, default :data:`DEFAULT_TIMEOUT` s, ``promolab serve
  --report-timeout``): counted from the request, waiting for the worker included; past
  it the route answers 504 naming the limit, and the worker is killed;
- **cancelled** when the client disconnects (the worker is killed: no CPU is spent on an
  answer nobody reads) and when the server shuts down (:meth:`ReportRunner.begin_shutdown`
  runs on SIGTERM/SIGINT, before uvicorn's graceful shutdown waits for open requests:
  those get 503 at once, so shutdown does not wait for reports);
- **bounded queue**: more than :data:`MAX_WAITING` reports waiting answer 503 + Retry-After.

The data. The worker opens the registry file itself, read-only, for the report's
duration (:mod:`promolab.store.access`: a shared lock, taken and released like any
process's), so it sees everything committed when the report starts; the service's writer
waits for it (acknowledged event batches, not assignment, which never waits on the
database), as it waits for a report from the CLI or the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from typing import Any, Awaitable, Callable

from promolab.service.errors import ApiError
from promolab.service.report_worker import NICE, PARENT_ENV

log = logging.getLogger("promolab.service.reports")

DEFAULT_TIMEOUT = 30.0
MAX_WAITING = 8
MAX_REPLY_BYTES = 256 * 2**20


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.jobs = 0

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def call(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The worker's reply to ``job``, or None when the worker exited first."""
        stdin, stdout = self.process.stdin, self.process.stdout
        stdin.write(json.dumps(job).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await stdin.drain()
        while True:
            line = await stdout.readline()
            if not line:
                return None
            reply = json.loads(line)
            if reply.get("ok"):  # the report's JSON text follows
                try:
                    reply["body"] = (await stdout.readexactly(reply["length"] + 1))[:-1]
                except asyncio.IncompleteReadError:
                    return None
            if reply.get("id") == job["id"]:
                self.jobs += 1
                return reply

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class ReportRunner:
    """Reports of one service, in one worker process (see the module docstring)."""

    def __init__(self, state, timeout: float = DEFAULT_TIMEOUT, *, max_waiting: int = MAX_WAITING,
                 compute: str = "promolab.service.report_worker:compute_report"):
        if not timeout > 0:
            raise ValueError("the report time limit must be > 0 seconds")
        self.state = state
        self.timeout = float(timeout)
        self.max_waiting = max_waiting
        self.compute = compute  # module:function the worker calls with (registry path, key)
        self._slot = asyncio.Lock()
        self._closing = asyncio.Event()
        self._worker: _Worker | None = None
        self._jobs = 0
        self._tasks: set[asyncio.Future] = set()
        self._killed: list[_Worker] = []
        self.waiting = 0
        self.started = 0  # worker processes started
        self.killed = 0  # worker processes killed (time limit, client gone, shutdown)

    # -- the route's side ----------------------------------------------------------------

    async def report(self, key: str, client_gone: Callable[[], Awaitable[Any]] | None = None,
                     over_time: str | None = None) -> bytes:
        """The report as JSON text (with ``over_time``, its series per day or hour); raises ApiError
        (409 no data yet, 422 too many periods, 503, 504) otherwise."""
        if self._closing.is_set():
            raise self._shutting_down()
        if self.waiting >= self.max_waiting:
            raise ApiError(503, "unavailable", f"report: {self.waiting} reports are already waiting for the report "
                           "worker; retry later", headers={"Retry-After": "5"})
        job = asyncio.ensure_future(self._run(key, over_time))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)
        watchers = [asyncio.ensure_future(self._closing.wait())]
        if client_gone is not None:
            watchers.append(asyncio.ensure_future(client_gone()))
        self.waiting += 1
        try:
            done, _ = await asyncio.wait([job, *watchers], timeout=self.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the request itself was cancelled
            job.cancel()
            raise
        finally:
            self.waiting -= 1
            for w in watchers:
                w.cancel()
        if job in done:
            return job.result()
        job.cancel()
        with contextlib.suppress(BaseException):
            await job  # the worker is killed before this returns
        if self._closing.is_set():
            raise self._shutting_down()
        if len(watchers) > 1 and watchers[1] in done:
            log.info("report of %s cancelled: the client disconnected", key)
            raise ApiError(503, "unavailable", "report: cancelled, the client disconnected")
        log.warning("report of %s cancelled: not ready within %g s", key, self.timeout)
        raise ApiError(504, "timeout", f"report: not ready within the time limit of {self.timeout:g} s; the "
                       "report was cancelled (raise the limit with promolab serve --report-timeout)",
                       "timeout", self.timeout, f"a report computed within {self.timeout:g} s")

    def _shutting_down(self) -> ApiError:
        return ApiError(503, "unavailable", "report: the server is shutting down; retry", headers={"Retry-After": "5"})

    # -- one job at a time -----------------------------------------------------------------

    async def _run(self, key: str, over_time: str | None = None) -> bytes:
        async with self._slot:
            path = self.state.registry.path
            worker = await self._get_worker()
            self._jobs += 1
            job = {"id": self._jobs, "path": str(path), "key": key, "compute": self.compute,
                   "options": {"over_time": over_time} if over_time else {}}
            try:
                reply = await worker.call(job)
            except BaseException:  # cancelled (time limit, client gone, shutdown) or a broken pipe
                self._kill(worker)
                with contextlib.suppress(BaseException):
                    await asyncio.shield(worker.process.wait())
                raise
        if reply is None:
            self._kill(worker)
            if self._closing.is_set():
                raise self._shutting_down()
            log.error("report worker exited (code %s) during the report of %s", worker.process.returncode, key)
            raise ApiError(503, "unavailable", "report: the report worker stopped; retry", headers={"Retry-After": "1"})
        if reply.get("ok"):
            return reply["body"]
        if reply.get("error") == "input" and reply.get("field") == "over_time":  # more periods than a series holds
            raise ApiError(422, "invalid_input", reply.get("message", ""), "over_time", reply.get("value"),
                           reply.get("expected"))
        if reply.get("error") == "input":  # not enough data yet (no exposures, a variant with < 2 users, ...)
            raise ApiError(409, "conflict", reply.get("message", ""), reply.get("field"), reply.get("value"),
                           reply.get("expected"))
        raise RuntimeError(f"report worker failed on {key}:\n{reply.get('traceback', '')}")

    async def _get_worker(self) -> _Worker:
        if self._worker is not None and self._worker.alive:
            return self._worker
        env = dict(os.environ)
        env[PARENT_ENV] = str(os.getpid())
        # whatever this process imports, the worker imports (promolab from a source tree, a test's helpers)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "promolab.service.report_worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env, limit=MAX_REPLY_BYTES, start_new_session=True)
        with contextlib.suppress(AttributeError, OSError):  # a lower CPU priority than the server's
            os.setpriority(os.PRIO_PROCESS, process.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE))
        self._worker = _Worker(process)
        self.started += 1
        log.info("report worker started (pid %d)", process.pid)
        return self._worker

    def _kill(self, worker: _Worker) -> None:
        if worker.alive:
            worker.kill()
            self.killed += 1
            self._killed = [w for w in self._killed if w.alive] + [worker]
            log.info("report worker killed (pid %d)", worker.process.pid)
        if self._worker is worker:
            self._worker = None

    # -- life cycle ------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """Refuse new reports, answer the waiting ones 503 and kill the worker (on SIGTERM)."""
        self._closing.set()
        if self._worker is not None:
            self._kill(self._worker)

    async def close(self) -> None:
        self.begin_shutdown()
        for task in list(self._tasks):
            task.cancel()
        for worker in self._killed:  # reap them
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(worker.process.wait(), 5)
        self._killed = []
