"""A lean ASGI path for ``POST /v1/assign``: the hot route without FastAPI per request.

Profiling the single-assign route showed most of the server's CPU outside assignment:
the Starlette middleware stack, FastAPI's dependency solving, pydantic validation of
the body and of the security dependency, and the response class. This handler answers
the plainly valid requests directly at the ASGI level:

- it reads the body (``Content-Length`` within the limit, ``application/json``), parses
  it with the service's one JSON parser (``body.parse_json``: no lone surrogates, bounded
  nesting) and checks it against exactly the limits of ``AssignRequest``
  (``schemas.py``: fields, lengths, patterns, attribute types), accepting a *subset* of
  what pydantic accepts - anything else (malformed JSON, a wrong type, a coercible
  ``"true"``, a non-finite number, an unknown experiment, a missing or invalid key, an
  attribute a targeting rule cannot compare) is handed over, body replayed, to the
  FastAPI route, which answers with its usual errors. The two paths therefore differ
  only in speed;
- it checks the key with the same ``KeyRing.identify`` as the ``sdk_key`` dependency;
- it assigns with ``promolab.service.assigner.assign_user`` (first-exposure map, then the
  scalar path into the cached weights; exposure buffered in O(1)), and writes the JSON
  from pre-encoded per-variant fragments.
"""

from __future__ import annotations

import json
import logging
import math
import re

from promolab.errors import InputError
from promolab.service.assigner import assign_user
from promolab.service.body import parse_json
from promolab.service.errors import ApiError, detail
from promolab.service.routes_assign import response_body
from promolab.service.schemas import MAX_ATTRIBUTES

log = logging.getLogger("promolab.service")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXPERIMENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FIELDS = frozenset({"user_id", "attributes", "experiment", "track"})
_INT_LIMIT = 2**63
_JSON_HEADERS = [(b"content-type", b"application/json")]
_INTERNAL = json.dumps({"error": detail("internal", "internal error"), "problems": []}).encode()


def _valid_value(v: object) -> bool:
    if v is None:
        return True
    t = type(v)
    if t is str:
        return len(v) <= 256
    if t is bool:
        return True
    if t is int:
        return -_INT_LIMIT < v < _INT_LIMIT
    if t is float:
        return math.isfinite(v)
    return False


def parse(body: bytes) -> tuple[str, dict | None, str | None, bool] | None:
    """(user_id, attributes, experiment, track) of a plainly valid AssignRequest, else None."""
    try:
        doc = parse_json(body)
    except ApiError:
        return None  # the route answers with the parser's error
    if type(doc) is not dict or not _FIELDS.issuperset(doc):
        return None
    user_id = doc.get("user_id")
    if type(user_id) is not str or not 0 < len(user_id) <= 256 or _CONTROL.search(user_id):
        return None
    attributes = doc.get("attributes")
    if attributes is not None:
        if type(attributes) is not dict or len(attributes) > MAX_ATTRIBUTES:
            return None
        for k, v in attributes.items():
            if not 0 < len(k) <= 64 or not _valid_value(v):
                return None
    experiment = doc.get("experiment")
    if experiment is not None and (type(experiment) is not str or not _EXPERIMENT.fullmatch(experiment)):
        return None
    track = doc.get("track", True)
    if type(track) is not bool:
        return None
    return user_id, attributes, experiment, track



def replay_receive(body: bytes, receive):
    """An ASGI ``receive`` that hands over an already-read body once, then defers to ``receive``."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

class FastAssign:
    """``await fast(scope, receive, send, fallback)`` for ``POST /v1/assign`` requests."""

    def __init__(self, state, max_body_bytes: int):
        self.state = state
        self.limit = max_body_bytes
        self.served = 0
        self.handed_over = 0

    async def __call__(self, scope, receive, send, fallback) -> None:
        length = None
        content_type = authorization = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value
            elif name == b"authorization" and not authorization:
                authorization = value
        try:
            n = int(length) if length is not None else -1
        except ValueError:
            n = -1
        if not 0 < n <= self.limit or content_type.split(b";", 1)[0].strip().lower() != b"application/json":
            self.handed_over += 1
            return await fallback(scope, receive, send)
        message = await receive()
        if message["type"] != "http.request":
            return
        body = message.get("body", b"")
        if message.get("more_body", False):
            chunks = [body]
            total = len(body)
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunk = message.get("body", b"")
                chunks.append(chunk)
                total += len(chunk)
                if total > self.limit or not message.get("more_body", False):
                    break
            body = b"".join(chunks)
        try:
            answer = self._answer(body, authorization)
        except Exception:
            log.exception("lean path: handing POST /v1/assign over after an error")
            answer = None
        if answer is None:
            self.handed_over += 1
            return await fallback(scope, replay_receive(body, receive), send)
        status, out = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": _JSON_HEADERS + [(b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    def _answer(self, body: bytes, authorization: bytes) -> tuple[int, bytes] | None:
        """(status, body) or None to hand the request to the FastAPI route."""
        request = parse(body)
        if request is None:
            return None
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        state = self.state
        if state.keys.identify(token.strip()) is None:
            return None
        user_id, attributes, experiment, track = request
        catalog = state.catalog
        if experiment is not None and experiment not in catalog.statuses:
            return None
        try:
            result = assign_user(state, catalog, user_id, attributes, experiment, track)
            out = response_body(catalog, user_id, result)
        except InputError:
            return None  # nothing was recorded; the route answers with the error
        except Exception:
            log.exception("internal error on POST /v1/assign")
            return 500, _INTERNAL
        self.served += 1
        return 200, out
