"""The HTTP service: assignment, event ingestion, experiments and reports over FastAPI.

``create_app`` is imported lazily so that ``promolab.service.evaluate`` (shared with the
local-evaluation client) does not pull in FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from promolab.service.app import create_app

        return create_app
    raise AttributeError(name)
