"""Printing results: JSON for machines, rich tables for people."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from typing import Any

from promolab.cli.app import console


def _default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _finite(obj: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def to_json(data: Any) -> str:
    plain = json.loads(json.dumps(data, default=_default))
    return json.dumps(_finite(plain), indent=2, allow_nan=False)


def print_json(data: Any) -> None:
    console.print_json(to_json(data)) if console.is_terminal else print(to_json(data))
