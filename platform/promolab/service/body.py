"""Request bodies: one JSON parser for every route, refusing what is not JSON text.

Every route that takes a JSON body gets it through :func:`parse_json` (FastAPI routes via
:class:`JsonRoute`, the lean ``POST /v1/assign`` path in ``fastpath`` directly), so a body
is refused the same way wherever it enters, before any route code sees it:

- not UTF-8, not JSON, or JSON with a lone surrogate escape (``"\\ud800"``: valid JSON
  syntax, but not Unicode text - it cannot be stored, compared or echoed) → 400
  ``malformed_json`` naming the position; an escaped surrogate *pair* is ordinary text;
- nested deeper than :data:`MAX_DEPTH` arrays/objects → 400 ``malformed_json``;
- ``NaN``/``Infinity`` are parsed (as Python floats) so that validation can name the field
  that holds one (every number field refuses them).

The parser is pydantic-core's (``from_json``, the Rust parser pydantic itself uses), which
checks all of the above while parsing and is faster than ``json.loads``.
"""

from __future__ import annotations

import email.message
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic_core import from_json

from promolab.service.errors import ApiError

# pydantic-core's parser refuses documents nested deeper than this (its recursion limit)
MAX_DEPTH = 200


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; raises ApiError(400) for anything that is not JSON text."""
    try:
        return from_json(body, allow_inf_nan=True)
    except ValueError as exc:
        reason = str(exc)
        if "recursion limit" in reason:
            reason = f"nested more than {MAX_DEPTH} levels deep ({reason})"
        elif "surrogate" in reason or "end of hex escape" in reason:  # a \ud800-\udfff escape without its pair
            reason = f"a string holds a lone surrogate escape, which is not Unicode text ({reason})"
        raise ApiError(400, "malformed_json", f"body: not valid JSON ({reason})", "body", None,
                       "a JSON document (UTF-8 text)") from None


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI would parse a body of this content type as JSON."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def parse_request(request: Request) -> None:
    """Parse a JSON request body once, with :func:`parse_json`, where FastAPI would read it.

    The document is left where ``Request.json()`` caches it, so FastAPI validates exactly
    this document and never parses the body itself.
    """
    if hasattr(request, "_json") or not is_json(request.headers.get("content-type")):
        return
    body = await request.body()
    if body:
        request._json = parse_json(body)


class JsonRoute(APIRoute):
    """FastAPI's route, with its JSON body parsed by :func:`parse_json` first."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def parsed_handler(request: Request):
            await parse_request(request)
            return await handler(request)

        return parsed_handler
