"""Lan-DeMets alpha-spending functions α*(t): the type I error spent by information fraction t.

Lan & DeMets (1983), Biometrika 70:659; Hwang, Shih & DeCani (1990), Stat Med 9:1439;
Kim & DeMets (1987), Biometrika 74:149. Each is non-decreasing with α*(0) = 0 and
α*(1) = α. The same functions spend β for futility boundaries (pass β as ``alpha``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import special as _sp

from promolab.errors import InputError
from promolab.spec.vocabulary import SPENDING_FUNCTIONS

SPENDING_NAMES = SPENDING_FUNCTIONS


def check_level(field: str, value: float) -> float:
    """A probability level (α or β) must lie in (0, 1)."""
    if not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
        raise InputError(field, value, "a number in (0, 1)")
    return float(value)


def _check_t(t: float | np.ndarray) -> np.ndarray:
    arr = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        raise InputError("information_fraction", t, "values in [0, 1]")
    return arr


class SpendingFunction(Protocol):
    alpha: float

    def spent(self, t: float | np.ndarray) -> float | np.ndarray: ...


@dataclass(frozen=True)
class ObrienFlemingSpending:
    """O'Brien-Fleming-type: α*(t) = 2 − 2Φ(z_{1−α/2} / √t) (Lan & DeMets 1983)."""

    alpha: float

    def __post_init__(self) -> None:
        check_level("alpha", self.alpha)

    def spent(self, t: float | np.ndarray) -> float | np.ndarray:
        arr = _check_t(t)
        with np.errstate(divide="ignore"):
            out = np.where(arr > 0, 2.0 * _sp.ndtr(_sp.ndtri(self.alpha / 2) / np.sqrt(arr)), 0.0)
        return out if out.ndim else float(out)


@dataclass(frozen=True)
class PocockSpending:
    """Pocock-type: α*(t) = α · ln(1 + (e − 1)t) (Lan & DeMets 1983)."""

    alpha: float

    def __post_init__(self) -> None:
        check_level("alpha", self.alpha)

    def spent(self, t: float | np.ndarray) -> float | np.ndarray:
        out = self.alpha * np.log1p((math.e - 1.0) * _check_t(t))
        return out if out.ndim else float(out)


@dataclass(frozen=True)
class HwangShihDeCaniSpending:
    """Hwang-Shih-DeCani: α*(t) = α(1 − e^{−γt}) / (1 − e^{−γ}), α·t at γ = 0.

    γ = −4 approximates O'Brien-Fleming (gsDesign's default upper bound), γ = 1 Pocock.
    """

    alpha: float
    gamma: float = -4.0

    def __post_init__(self) -> None:
        check_level("alpha", self.alpha)
        if not (isinstance(self.gamma, (int, float)) and -40.0 <= self.gamma <= 40.0):
            raise InputError("gamma", self.gamma, "a number in [-40, 40]")

    def spent(self, t: float | np.ndarray) -> float | np.ndarray:
        arr = _check_t(t)
        if self.gamma == 0:
            out = self.alpha * arr
        else:
            out = self.alpha * np.expm1(-self.gamma * arr) / np.expm1(-self.gamma)
        return out if out.ndim else float(out)


@dataclass(frozen=True)
class PowerSpending:
    """Power family (Kim & DeMets 1987): α*(t) = α · t^ρ, ρ > 0 (ρ = 1 Pocock-like, ρ = 3 OBF-like)."""

    alpha: float
    rho: float = 3.0

    def __post_init__(self) -> None:
        check_level("alpha", self.alpha)
        if not (isinstance(self.rho, (int, float)) and 0.0 < self.rho <= 50.0):
            raise InputError("rho", self.rho, "a number in (0, 50]")

    def spent(self, t: float | np.ndarray) -> float | np.ndarray:
        out = self.alpha * _check_t(t) ** self.rho
        return out if out.ndim else float(out)


def spending_function(
    name: str, alpha: float, *, gamma: float = -4.0, rho: float = 3.0
) -> SpendingFunction:
    """Build a spending function by name: "obf", "pocock", "hsd" (uses γ) or "power" (uses ρ)."""
    if name == "obf":
        return ObrienFlemingSpending(alpha)
    if name == "pocock":
        return PocockSpending(alpha)
    if name == "hsd":
        return HwangShihDeCaniSpending(alpha, gamma)
    if name == "power":
        return PowerSpending(alpha, rho)
    raise InputError("spending", name, f"one of {', '.join(SPENDING_NAMES)}")
