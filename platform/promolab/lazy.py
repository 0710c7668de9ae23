"""Packages that load a submodule only when one of its names is first used (PEP 562).

``promolab.stats`` and ``promolab.store`` export names from submodules that import scipy,
statsmodels or pandas; importing the package must stay cheap for commands that never use
them (``promolab --help``, ``power``, ``experiment list``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, sources: Mapping[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``sources`` maps each exported name to the
    submodule that defines it; a name is imported on first use and then cached in the
    package's ``namespace`` (its ``globals()``), so later look-ups are plain attributes."""

    def __getattr__(name: str) -> Any:
        try:
            module = sources[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(sources))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
