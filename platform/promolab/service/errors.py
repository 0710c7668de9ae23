"""Errors as JSON: ``{"error": {code, message, field, value, expected}, "problems": [...]}``.

Every 4xx names the field and the value; a 500 says nothing but "internal error" (the
traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from promolab.errors import InputError, PromolabError, SpecError, StateError
from promolab.service.schemas import PATTERN_HELP, ErrorResponse
from promolab.service.state import NotServable

log = logging.getLogger("promolab.service")

MAX_VALUE_CHARS = 200


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, value: Any = None,
                 expected: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.value, self.expected, self.headers = field, value, expected, headers


def not_found(field: str, value: Any, what: str = "experiment") -> ApiError:
    return ApiError(404, "not_found", f"{field}: no {what} {value!r}", field, value, f"the key of an existing {what}")


def clean_text(text: str) -> str:
    """``text`` as it can be written in a UTF-8 JSON body: a lone surrogate (which no
    UTF-8 encoder accepts) is replaced by its escape, ``\\ud800``, as visible text."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_value(value: Any) -> Any:
    """A JSON-safe, bounded echo of an input value."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…")
    return _bounded(repr(value))


def _bounded(text: str) -> str:
    return clean_text(text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…")


def _text(text: Any) -> Any:
    return clean_text(text) if isinstance(text, str) else text


def detail(code: str, message: str, field: str | None = None, value: Any = None,
           expected: str | None = None) -> dict[str, Any]:
    """One error entry; every text in it is safe to write as UTF-8 JSON."""
    return {"code": code, "message": _text(message), "field": _text(field), "value": safe_value(value),
            "expected": _text(expected)}


def error_response(status: int, err: dict[str, Any], problems: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": err, "problems": problems or []}, status_code=status, headers=headers)


def field_path(loc: tuple | list) -> str:
    """('body', 'events', 3, 'order', 'ts') → 'events[3].ts' (union tags dropped)."""
    parts: list[str] = []
    items = list(loc)
    if items and items[0] in ("body", "query", "path", "header"):
        src = items.pop(0)
        if not items:
            return "body" if src == "body" else src
    prev_int = False
    for item in items:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            prev_int = True
            continue
        if prev_int and item in ("exposure", "conversion", "order"):
            prev_int = False
            continue  # the discriminated-union tag pydantic puts in the location
        prev_int = False
        parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "body"


def _input_error(exc: InputError, code: str = "invalid_input") -> dict[str, Any]:
    return detail(code, str(exc), exc.field, exc.value, exc.expected)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return error_response(exc.status, detail(exc.code, exc.message, exc.field, exc.value, exc.expected),
                              headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        problems = []
        status = 422
        for e in exc.errors():
            field = field_path(e.get("loc", ()))
            if e.get("type") == "json_invalid":
                status = 400
                problems.append(detail("malformed_json", f"body: not valid JSON ({e.get('ctx', {}).get('error', 'parse error')})",
                                       "body", None, "a JSON document"))
                continue
            if e.get("type") == "missing" and field == "body":
                problems.append(detail("invalid_input", "body: missing", "body", None, "a JSON body"))
                continue
            msg = e.get("msg", "invalid").removeprefix("Value error, ")
            if e.get("type") == "string_pattern_mismatch":
                msg = PATTERN_HELP.get((e.get("ctx") or {}).get("pattern"), msg)
            value = e.get("input")
            problems.append(detail("invalid_input", f"{field}: got {safe_value(value)!r}, {msg}", field, value, msg))
        if not problems:
            problems.append(detail("invalid_input", "invalid request", "body"))
        return error_response(status, problems[0], problems)

    @app.exception_handler(SpecError)
    async def _spec(_: Request, exc: SpecError):
        problems = [_input_error(p, "invalid_spec") for p in exc.problems]
        return error_response(422, problems[0], problems)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError):
        return error_response(422, _input_error(exc))

    @app.exception_handler(StateError)
    async def _state(_: Request, exc: StateError):
        if isinstance(exc, NotServable):
            return error_response(409, detail("conflict", str(exc), "key", exc.key,
                                              "an experiment the service can serve (fix its spec, or stop it)"))
        return error_response(409, detail("conflict", str(exc)))

    @app.exception_handler(PromolabError)
    async def _promolab(_: Request, exc: PromolabError):
        return error_response(422, detail("invalid_input", str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {404: "no such route", 405: "method not allowed"}.get(exc.status_code, "request refused")
        return error_response(exc.status_code, detail(code, message), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, detail("internal", "internal error"))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON."},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key."},
    413: {"model": ErrorResponse, "description": "Body larger than the documented limit."},
    422: {"model": ErrorResponse, "description": "A field has a bad value; the error names it."},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {"model": ErrorResponse, "description": "An SDK key on an admin route."},
}
EXPERIMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ADMIN_RESPONSES,
    404: {"model": ErrorResponse, "description": "No such experiment."},
    409: {"model": ErrorResponse, "description": "Not allowed in the experiment's current state."},
}
