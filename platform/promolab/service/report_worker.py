"""The report worker: ``python -m promolab.service.report_worker``, started by the service.

It computes significance reports outside the server process (``promolab.service.reports``
starts it, sends it jobs and kills it when a report is no longer wanted), so a report
never holds the server's threads, its GIL or its event loop.

Protocol: one JSON line per job on stdin, ``{"id", "path", "key", "compute", "options"}``; per
answer on stdout, a JSON line ``{"id", "ok": true, "length": n}`` followed by the report's
JSON (``n`` bytes, then a newline), or one line ``{"id", "ok": false, "error":
"input"|"internal", ...}``. ``path`` is the service's registry file, opened
read-only (it is shared: :mod:`promolab.store.access`); ``compute`` names the function (``module:function``) that turns
(path, key, **options) into the report's JSON - :func:`compute_report` unless a test says otherwise.

The service starts it at a lower CPU priority than its own (``NICE`` more), and it dies with its
parent (``PR_SET_PDEATHSIG`` on Linux), so a killed server leaves no report running.
Nothing here imports FastAPI.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any

NICE = 10  # the worker's CPU priority below the server's
PARENT_ENV = "PROMOLAB_REPORT_PARENT"


def compute_report(path: str, key: str, over_time: str | None = None) -> dict[str, Any]:
    """What ``promolab report KEY --json`` prints, on the registry at ``path`` (read-only); with
    ``over_time`` (day | hour), what ``promolab report KEY --over-time --period P --json`` prints."""
    from promolab.analysis import analyze_experiment
    from promolab.analysis.over_time import over_time as series
    from promolab.errors import InputError
    from promolab.jsonable import to_plain
    from promolab.store import Registry

    registry = Registry(path, read_only=True)
    try:
        if over_time is None:
            return to_plain(analyze_experiment(registry, key).to_dict())
        try:
            return to_plain(series(registry, key, over_time).to_dict())
        except InputError as exc:
            if exc.field != "period":
                raise
            raise InputError("over_time", exc.value, exc.expected) from exc
    finally:
        registry.close()


def _resolve(name: str):
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)


def answer(job: dict[str, Any]) -> dict[str, Any]:
    """The reply to one job (never raises)."""
    from promolab.errors import InputError

    try:
        compute = _resolve(job.get("compute") or f"{__name__}:compute_report")
        report = compute(job["path"], job["key"], **(job.get("options") or {}))
        return {"id": job.get("id"), "ok": True, "report": report}
    except InputError as exc:  # not enough data yet, and the like: the caller's 409
        return {"id": job.get("id"), "ok": False, "error": "input", "message": str(exc), "field": exc.field,
                "value": _plain(exc.value), "expected": exc.expected}
    except Exception:
        return {"id": job.get("id"), "ok": False, "error": "internal", "traceback": traceback.format_exc()}


def _die_with_parent() -> None:
    parent = os.environ.get(PARENT_ENV)
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the worker still ends at the EOF of its stdin
        pass
    if parent and os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(0)


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the protocol
    _die_with_parent()
    import promolab.analysis  # noqa: F401 - import the report stack before the first job arrives

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError:
            job = {"id": None, "path": "", "key": "", "compute": f"{__name__}:_bad_job"}
        reply = answer(job)
        try:
            if reply["ok"]:  # the report as JSON text after its header line: the server sends it as is
                body = json.dumps(reply.pop("report"), separators=(",", ":"), allow_nan=False).encode()
                reply["length"] = len(body)
            text = json.dumps(reply, separators=(",", ":"), default=repr)
        except (TypeError, ValueError):
            body = None
            text = json.dumps({"id": reply.get("id"), "ok": False, "error": "internal",
                               "traceback": "the report is not JSON:\n" + traceback.format_exc()})
        out.write(text + "\n")
        if reply.get("ok") and body is not None:
            out.flush()
            out.buffer.write(body + b"\n")
        out.flush()
    return 0


def _bad_job(path: str, key: str) -> dict[str, Any]:
    raise ValueError("the worker got a line that is not a JSON job")


if __name__ == "__main__":
    sys.exit(main())
