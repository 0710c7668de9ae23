"""Input checks shared by the stats modules (standard library only, so that a module such
as :mod:`promolab.stats.power` can use them without importing scipy)."""

from __future__ import annotations

import math
from numbers import Real

from promolab.errors import InputError


def _check_alpha(alpha: object, field: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not (0.0 < float(alpha) < 1.0):
        raise InputError(field, alpha, "a number in (0, 1)")
    return float(alpha)


def _check_finite(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise InputError(field, value, "a finite number")
    return float(value)
