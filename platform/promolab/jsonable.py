"""Plain JSON values from promolab's results (dataclasses, datetimes, numpy scalars).

NaN and infinities become null: JSON has no such numbers. The CLI's ``--json`` and the
HTTP service both serialise through here, so they print the same document.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from typing import Any


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
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def to_plain(data: Any) -> Any:
    """Dicts, lists, strings, finite numbers, booleans and None only."""
    return _finite(json.loads(json.dumps(data, default=_default)))


def to_json(data: Any) -> str:
    return json.dumps(to_plain(data), indent=2, allow_nan=False)
