"""Root finding on a bracketing interval: Brent's method (``scipy.optimize.brentq``), loaded on
first use.

Only sequential designs (boundaries, repeated p-values, the mSPRT mixing variance) solve for
roots, and ``scipy.optimize`` takes about 0.15 s to import: a report without a sequential plan,
``promolab report`` or the dashboard's first page do not pay for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def brentq(f: Callable[[float], float], a: float, b: float, **options: Any) -> float:
    """A root of ``f`` in [a, b], where f(a) and f(b) differ in sign (Brent 1973); ``options``
    are ``scipy.optimize.brentq``'s (``xtol``, ``rtol``, ``maxiter``)."""
    return importlib.import_module("scipy.optimize").brentq(f, a, b, **options)


__all__ = ["brentq"]
