"""Group-sequential boundaries by recursive numerical integration.

Armitage, McPherson & Rowe (1969); grid and Simpson weights as in Jennison & Turnbull
(2000), *Group Sequential Methods*, ch. 19 (the method of R ldbounds and gsDesign).
With information fractions t_k and drift θ (Z_k ~ N(θ√t_k, 1), θ = δ√I_max), the score
S_k = Z_k√t_k has independent increments N(θΔ_k, Δ_k), Δ_k = t_k − t_{k−1}, so

    g_k(z) = ∫_{C_{k−1}} g_{k−1}(u) · √(t_k/Δ_k) · φ((z√t_k − u√t_{k−1} − θΔ_k)/√Δ_k) du

over the continuation region C_{k−1}; exit probabilities beyond a boundary use Φ exactly.
Boundary b_k solves P_0(continue to k−1, Z_k ≥ b_k) = α*(t_k) − α*(t_{k−1}) (Lan-DeMets).

Two-sided conventions (symmetric boundaries, rejection when |Z_k| ≥ b_k):

* ``"per-side"`` (default, the published tables: ldbounds ``alpha=c(α/2, α/2)``,
  gsDesign ``test.type=2``): each side spends α*(t) of a spending function built at α/2.
* ``"total"``: the spending function built at α gives the two-sided total; each side gets half.

The two agree for Pocock-type, HSD and power spending (linear in α); for O'Brien-Fleming
type they differ (K = 5: 4.877 … 2.031 per side vs 4.383 … 2.064 total).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from promolab.errors import InputError
from promolab.spec.vocabulary import Spending
from promolab.stats.roots import brentq
from promolab.stats.sequential.spending import check_level, spending_function

SpendingName = Spending
Convention = Literal["per-side", "total"]

_GRID_R = 32  # J&T's grid parameter r; crossing probabilities accurate to ~1e-8
_Z_MAX = 12.0  # boundaries are searched in [−12, 12]; beyond, Φ underflows any spend
_NEGLIGIBLE = 1e-15  # a spend this small means "no boundary at this look" (z = +inf)
_SQRT_2PI = np.sqrt(2.0 * np.pi)


# The engine calls the normal pdf/cdf thousands of times per design; scipy.stats.norm's
# argument handling dominated the run time. These are the same formulas scipy uses
# (scipy.stats._continuous_distns._norm_pdf/_norm_cdf/_norm_sf), so results are unchanged.
def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-(x**2) / 2.0) / _SQRT_2PI


def _Phi(x: np.ndarray | float) -> np.ndarray:
    return ndtr(x)


def _Phi_bar(x: np.ndarray | float) -> np.ndarray:
    return ndtr(-np.asarray(x))


# ---------------------------------------------------------------- integration engine
@dataclass(frozen=True)
class _Stage:
    """Sub-density of Z_k on the continuation region: nodes z, Simpson weight × density h."""

    t: float
    z: np.ndarray
    h: np.ndarray


def _grid(lo: float, hi: float, mean: float, r: int = _GRID_R) -> tuple[np.ndarray, np.ndarray]:
    """J&T (2000) §19.2 grid on [lo, hi] ∩ [mean ± (3 + 4 ln r)], with Simpson weights."""
    i = np.arange(1, 6 * r, dtype=float)
    x = np.where(
        i < r,
        mean - 3.0 - 4.0 * np.log(r / i),
        np.where(i <= 5 * r, mean - 3.0 + 3.0 * (i - r) / (2.0 * r), mean + 3.0 + 4.0 * np.log(r / (6 * r - i))),
    )
    lo_e, hi_e = max(lo, x[0]), min(hi, x[-1])
    if lo_e >= hi_e:
        return np.empty(0), np.empty(0)
    nodes = np.concatenate(([lo_e], x[(x > lo_e) & (x < hi_e)], [hi_e]))
    d = np.diff(nodes)
    z = np.empty(2 * nodes.size - 1)
    z[0::2], z[1::2] = nodes, (nodes[:-1] + nodes[1:]) / 2.0
    w = np.zeros_like(z)
    w[0:-1:2] += d / 6.0
    w[1::2] += 4.0 * d / 6.0
    w[2::2] += d / 6.0
    return z, w


def _shift(prev: _Stage, t: float, bound: float, theta: float) -> np.ndarray:
    delta = t - prev.t
    return (bound * np.sqrt(t) - prev.z * np.sqrt(prev.t) - theta * delta) / np.sqrt(delta)


def _upper_exit(prev: _Stage | None, t: float, bound: float, theta: float) -> float:
    """P(continue through look k−1, Z_k ≥ bound)."""
    if bound == np.inf:
        return 0.0
    if prev is None:
        return float(_Phi_bar(bound - theta * np.sqrt(t)))
    return float(prev.h @ _Phi_bar(_shift(prev, t, bound, theta)))


def _lower_exit(prev: _Stage | None, t: float, bound: float, theta: float) -> float:
    """P(continue through look k−1, Z_k ≤ bound)."""
    if bound == -np.inf:
        return 0.0
    if prev is None:
        return float(_Phi(bound - theta * np.sqrt(t)))
    return float(prev.h @ _Phi(_shift(prev, t, bound, theta)))


def _advance(prev: _Stage | None, t: float, lo: float, hi: float, theta: float) -> _Stage:
    """Sub-density of Z_k on (lo, hi), given continuation through look k−1."""
    mean = theta * np.sqrt(t)
    z, w = _grid(lo, hi, mean)
    if prev is None:
        return _Stage(t, z, w * _phi(z - mean))
    if z.size == 0 or prev.z.size == 0:
        return _Stage(t, np.empty(0), np.empty(0))
    delta = t - prev.t
    # u = (z√t − z'√t' − θΔ)/√Δ, then φ(u), in place on one len(z) × len(z') array (same
    # operations as the out-of-place expressions and _phi, about four times faster).
    u = np.subtract.outer(z * np.sqrt(t), prev.z * np.sqrt(prev.t))
    u -= theta * delta
    u /= np.sqrt(delta)
    np.square(u, out=u)
    np.negative(u, out=u)
    u /= 2.0
    np.exp(u, out=u)
    u /= _SQRT_2PI
    return _Stage(t, z, w * (u @ prev.h) * np.sqrt(t / delta))


def crossing_probabilities(
    information_fractions: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    drift: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """P(first exit at look k below lower_k) and P(first exit at look k above upper_k).

    The process continues while lower_k < Z_k < upper_k; ±inf disables a side.
    """
    t = np.asarray(information_fractions, float)
    lo_p, up_p = np.zeros(t.size), np.zeros(t.size)
    prev: _Stage | None = None
    for k in range(t.size):
        lo_p[k] = _lower_exit(prev, t[k], lower[k], drift)
        up_p[k] = _upper_exit(prev, t[k], upper[k], drift)
        prev = _advance(prev, t[k], lower[k], upper[k], drift)
    return lo_p, up_p


# ------------------------------------------------------------------------ validation
def _fractions(values: Sequence[float], field: str = "information_fractions") -> np.ndarray:
    t = np.asarray(list(values), dtype=float)
    if t.ndim != 1 or t.size < 1:
        raise InputError(field, list(values), "at least one look (K >= 1)")
    if np.any(~np.isfinite(t)) or np.any(t <= 0.0) or np.any(t > 1.0):
        raise InputError(field, list(values), "values in (0, 1]")
    if np.any(np.diff(t) <= 0.0):
        raise InputError(field, list(values), "strictly increasing values")
    return t


def _sides(sides: int) -> int:
    if sides not in (1, 2):
        raise InputError("sides", sides, "1 (one-sided, upper) or 2 (two-sided, symmetric)")
    return sides


def equally_spaced(looks: int) -> tuple[float, ...]:
    """Information fractions k/K for K equally spaced looks."""
    if not isinstance(looks, (int, np.integer)) or isinstance(looks, bool) or looks < 1:
        raise InputError("looks", looks, "an integer >= 1")
    return tuple(float(k) / looks for k in range(1, looks + 1))


# ----------------------------------------------------------------------------- design
@dataclass(frozen=True)
class GstPower:
    """Operating characteristics at a drift θ = E[Z at full information]."""

    drift: float
    cumulative_power: tuple[float, ...]  # P(efficacy boundary on the drift's side crossed by look k)
    expected_information_fraction: float  # E[t at stopping], stopping at any boundary


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Boundaries on the z scale; two-sided designs reject at |Z_k| ≥ efficacy_k.

    ``alpha_spent`` is cumulative and two-sided for ``sides=2``. ``futility`` (one-sided
    designs only) is non-binding: efficacy boundaries ignore it; it stops for futility
    when Z_k ≤ futility_k. ``design_drift`` is the drift at which power is 1 − β.
    """

    information_fractions: tuple[float, ...]
    alpha: float
    sides: int
    spending: str
    convention: str
    efficacy: tuple[float, ...]
    nominal_p: tuple[float, ...]
    alpha_spent: tuple[float, ...]
    futility: tuple[float, ...] | None = None
    beta: float | None = None
    design_drift: float | None = None

    @property
    def looks(self) -> int:
        return len(self.information_fractions)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        upper = np.asarray(self.efficacy, float)
        if self.futility is not None:
            return np.asarray(self.futility, float), upper
        return (-upper if self.sides == 2 else np.full(upper.size, -np.inf)), upper

    def power(self, drift: float) -> GstPower:
        """Cumulative probability of crossing the efficacy boundary on the side of the drift.

        With a futility boundary, it is assumed to be obeyed (conservative for power).
        """
        t = np.asarray(self.information_fractions)
        lower, upper = self._bounds()
        lo_p, up_p = crossing_probabilities(t, lower, upper, drift)
        reject = lo_p if drift < 0 and self.futility is None and self.sides == 2 else up_p
        stop = lo_p + up_p
        expected_t = float(stop[:-1] @ t[:-1] + (1.0 - stop[:-1].sum()) * t[-1])
        return GstPower(float(drift), tuple(np.cumsum(reject).tolist()), expected_t)

    def drift_for_power(self, power: float = 0.8) -> float:
        """Drift θ at which the overall probability of crossing the efficacy boundary is ``power``."""
        check_level("power", power)
        return float(brentq(lambda d: self.power(d).cumulative_power[-1] - power, 0.0, 20.0, xtol=1e-10))

    def inflation_factor(self, power: float = 0.8) -> float:
        """Maximum information relative to the fixed-sample design of the same α and power.

        R = (θ_K / (z_{1−α/sides} + z_{power}))², J&T (2000) §2.5; multiply a fixed-horizon
        sample size by R to get the maximum sample size of this design.
        """
        fixed = -ndtri(self.alpha / self.sides) + ndtri(check_level("power", power))  # z_{1−α/sides} + z_power
        return (self.drift_for_power(power) / fixed) ** 2


def _spent_per_side(
    t_spend: np.ndarray, alpha: float, sides: int, spending: str, gamma: float, rho: float, convention: str
) -> np.ndarray:
    if convention not in ("per-side", "total"):
        raise InputError("convention", convention, '"per-side" (published tables) or "total"')
    if sides == 2 and convention == "per-side":
        return np.asarray(spending_function(spending, alpha / 2, gamma=gamma, rho=rho).spent(t_spend))
    per = np.asarray(spending_function(spending, alpha, gamma=gamma, rho=rho).spent(t_spend))
    return per / sides


def _efficacy(t: np.ndarray, spent_side: np.ndarray, sides: int) -> np.ndarray:
    """Solve the Lan-DeMets boundaries under H0, one look at a time."""
    increments = np.diff(np.concatenate(([0.0], spent_side)))
    bounds = np.empty(t.size)
    prev: _Stage | None = None
    lo_search = 0.0 if sides == 2 else -_Z_MAX
    for k in range(t.size):
        target = increments[k]
        if target <= _NEGLIGIBLE:
            bounds[k] = np.inf
        elif _upper_exit(prev, t[k], lo_search, 0.0) <= target:
            bounds[k] = lo_search
        else:
            bounds[k] = brentq(lambda b: _upper_exit(prev, t[k], b, 0.0) - target, lo_search, _Z_MAX, xtol=1e-12)
        if k < t.size - 1:  # the density after the last look is not needed
            prev = _advance(prev, t[k], -bounds[k] if sides == 2 else -np.inf, bounds[k], 0.0)
    return bounds


def _futility(t: np.ndarray, efficacy: np.ndarray, beta_spent: np.ndarray, drift: float) -> tuple[np.ndarray, float]:
    """β-spending futility boundaries at a drift and the resulting type II error; a_K = b_K."""
    increments = np.diff(np.concatenate(([0.0], beta_spent)))
    bounds = np.empty(t.size)
    type2 = 0.0
    prev: _Stage | None = None
    for k in range(t.size):
        b = efficacy[k]
        if k == t.size - 1 or _lower_exit(prev, t[k], b, drift) <= increments[k]:
            bounds[k] = b
        else:
            bounds[k] = brentq(lambda a: _lower_exit(prev, t[k], a, drift) - increments[k], -_Z_MAX - 10, b, xtol=1e-12)
        type2 += _lower_exit(prev, t[k], bounds[k], drift)
        prev = _advance(prev, t[k], bounds[k], b, drift)
    return bounds, type2


def _design(
    t: np.ndarray, spent_side: np.ndarray, alpha: float, sides: int, spending: str, convention: str
) -> GroupSequentialDesign:
    efficacy = _efficacy(t, spent_side, sides)
    return GroupSequentialDesign(
        information_fractions=tuple(t.tolist()),
        alpha=alpha,
        sides=sides,
        spending=spending,
        convention=convention if sides == 2 else "one-sided",
        efficacy=tuple(efficacy.tolist()),
        nominal_p=tuple((sides * ndtr(-efficacy)).tolist()),
        alpha_spent=tuple((sides * spent_side).tolist()),
    )


def gst_boundaries(
    information_fractions: Sequence[float],
    alpha: float = 0.05,
    spending: SpendingName = "obf",
    sides: int = 2,
    gamma: float = -4.0,
    rho: float = 3.0,
    convention: Convention = "per-side",
    futility: SpendingName | None = None,
    beta: float = 0.2,
    futility_gamma: float = -2.0,
    futility_rho: float = 2.0,
) -> GroupSequentialDesign:
    """Lan-DeMets group-sequential design at the given information fractions.

    ``spending`` selects α*(t) (``gamma`` for "hsd", ``rho`` for "power"); ``convention``
    says how a two-sided α is spent (module docstring). ``futility`` adds a non-binding
    β-spending lower boundary to a one-sided design (gsDesign ``test.type=4``): the drift
    is found so that the type II error is β with a_K = b_K.
    """
    t = _fractions(information_fractions)
    check_level("alpha", alpha)
    _sides(sides)
    spent_side = _spent_per_side(t, alpha, sides, spending, gamma, rho, convention)
    design = _design(t, spent_side, alpha, sides, spending, convention)
    if futility is None:
        return design
    if sides != 1:
        raise InputError("futility", futility, "None for two-sided designs (futility needs sides=1)")
    check_level("beta", beta)
    if alpha + beta >= 1.0:
        raise InputError("beta", beta, f"alpha + beta < 1 (alpha = {alpha})")
    beta_spent = np.asarray(spending_function(futility, beta, gamma=futility_gamma, rho=futility_rho).spent(t))
    b = np.asarray(design.efficacy)
    drift = brentq(lambda d: _futility(t, b, beta_spent, d)[1] - beta, 1e-6, 20.0, xtol=1e-10)
    lower, _ = _futility(t, b, beta_spent, drift)
    return replace(design, futility=tuple(lower.tolist()), beta=beta, design_drift=float(drift))


def classical_boundaries(
    information_fractions: Sequence[float],
    alpha: float = 0.05,
    kind: Literal["pocock", "obf"] = "pocock",
    sides: int = 2,
) -> GroupSequentialDesign:
    """Pocock (1977) b_k = C, or O'Brien & Fleming (1979) b_k = C/√t_k, with C solving
    P_0(reject at some look) = α (J&T 2000, Tables 2.1 and 2.3 for equal spacing)."""
    t = _fractions(information_fractions)
    check_level("alpha", alpha)
    _sides(sides)
    if kind not in ("pocock", "obf"):
        raise InputError("kind", kind, '"pocock" or "obf"')
    shape = np.ones(t.size) if kind == "pocock" else 1.0 / np.sqrt(t)

    def size(c: float) -> np.ndarray:
        b = c * shape
        lo_p, up_p = crossing_probabilities(t, -b if sides == 2 else np.full(t.size, -np.inf), b)
        return lo_p + up_p

    c = brentq(lambda c: size(c).sum() - alpha, 0.0 if sides == 2 else -_Z_MAX, _Z_MAX, xtol=1e-12)
    efficacy = c * shape
    return GroupSequentialDesign(
        information_fractions=tuple(t.tolist()),
        alpha=alpha,
        sides=sides,
        spending=f"classical-{kind}",
        convention="per-side" if sides == 2 else "one-sided",
        efficacy=tuple(efficacy.tolist()),
        nominal_p=tuple((sides * ndtr(-efficacy)).tolist()),
        alpha_spent=tuple(np.cumsum(size(c)).tolist()),
    )


# ------------------------------------------------------------------- a look in practice
def _look_times(
    information_fraction: float, previous_fractions: Sequence[float], planned_looks: int, field: str = "planned_looks"
) -> tuple[np.ndarray, np.ndarray]:
    """Observed fractions t_1..t_k and spending times (t_k → 1 at the last planned look)."""
    if not isinstance(planned_looks, int) or isinstance(planned_looks, bool) or planned_looks < 1:
        raise InputError(field, planned_looks, "an integer >= 1")
    fractions = [*previous_fractions, information_fraction]
    look = len(fractions)
    if look > planned_looks:
        raise InputError("look", look, f"at most {field} = {planned_looks}; re-plan with more looks")
    t = _fractions(fractions)
    t_spend = t.copy()
    if look == planned_looks:
        t_spend[-1] = 1.0
    return t, t_spend


@dataclass(frozen=True)
class GstLookResult:
    """The decision at look ``look`` from the information actually observed so far."""

    look: int
    z: float
    information_fraction: float
    boundary: float  # efficacy z boundary at this look (two-sided: reject at |z| ≥ boundary)
    nominal_p: float
    alpha_spent: float  # cumulative, through this look
    crossed: bool
    design: GroupSequentialDesign  # boundaries recomputed at all looks so far


def gst_look(
    z: float,
    information_fraction: float,
    previous_fractions: Sequence[float] = (),
    planned_looks: int = 5,
    alpha: float = 0.05,
    spending: SpendingName = "obf",
    sides: int = 2,
    gamma: float = -4.0,
    rho: float = 3.0,
    convention: Convention = "per-side",
) -> GstLookResult:
    """Boundary at the current look, recomputed from the observed information fractions.

    The spending function makes unplanned timing valid (Lan & DeMets 1983): earlier looks
    keep their boundaries and this one spends α*(t_k) − α*(t_{k−1}). The last planned look
    spends all remaining α (spending time 1) even if t_K < 1; a look after it needs a re-plan.
    """
    if not isinstance(z, (int, float)) or not np.isfinite(z):
        raise InputError("z", z, "a finite number")
    t, t_spend = _look_times(information_fraction, previous_fractions, planned_looks)
    look = t.size
    check_level("alpha", alpha)
    _sides(sides)
    spent_side = _spent_per_side(t_spend, alpha, sides, spending, gamma, rho, convention)
    design = _design(t, spent_side, alpha, sides, spending, convention)
    b = design.efficacy[-1]
    crossed = abs(z) >= b if sides == 2 else z >= b
    return GstLookResult(
        look=look,
        z=float(z),
        information_fraction=float(t[-1]),
        boundary=b,
        nominal_p=design.nominal_p[-1],
        alpha_spent=design.alpha_spent[-1],
        crossed=bool(crossed),
        design=design,
    )


# ------------------------------------------------------------ repeated p-value at a look
_RP_ALPHA_MAX = 1.0 - 1e-12  # largest level tried; |z| below the boundary there gives p = 1
_RP_XTOL = 1e-12  # brentq tolerance on x = z_{1−α'/2}: |Δα'|/α' ≈ (φ(x)/Φ̄(x))·1e-12 < 1e-11 (x < 8)


def _current_boundary(
    t: np.ndarray, t_spend: np.ndarray, alpha: float, spending: str, gamma: float, rho: float, convention: str
) -> float:
    """c_k(α): the two-sided boundary at the last of the looks t, exactly as ``gst_look`` computes it."""
    spent_side = _spent_per_side(t_spend, alpha, 2, spending, gamma, rho, convention)
    return float(_efficacy(t, spent_side, 2)[-1])


def _current_increment(
    t_spend: np.ndarray, alpha: float, spending: str, gamma: float, rho: float, convention: str
) -> float:
    """Per-side spend at the current look, computed as ``_efficacy`` does (≤ _NEGLIGIBLE → no boundary)."""
    spent_side = _spent_per_side(t_spend, alpha, 2, spending, gamma, rho, convention)
    return float(np.diff(np.concatenate(([0.0], spent_side)))[-1])


@lru_cache(maxsize=256)
def _repeated_p_ends(
    t: tuple[float, ...], t_spend: tuple[float, ...], spending: str, gamma: float, rho: float, convention: str
) -> tuple[float, float, float] | None:
    """(α_lo, c_k(α_lo), c_k(α_max)) for a look, or None if no level α' < 1 gives a finite boundary.

    α_lo is the smallest level at which the boundary code gives this look a finite boundary
    (its spend exceeds ``_NEGLIGIBLE``); below it c_k = +inf, so it is the p-value's floor.
    Depends on the design only, so it is cached across calls (e.g. one call per hypothesis).
    """
    tt, ts = np.asarray(t), np.asarray(t_spend)

    def excess(log_alpha: float) -> float:
        return _current_increment(ts, float(np.exp(log_alpha)), spending, gamma, rho, convention) - _NEGLIGIBLE

    if excess(np.log(_RP_ALPHA_MAX)) <= 0.0:
        return None
    lo = np.log(1e-16)  # spend ≤ α'/2 ≤ 5e-17 < _NEGLIGIBLE here, for every spending function
    if excess(lo) > 0.0:  # cannot happen with the functions in spending.py; kept as a guard
        alpha_lo = 1e-16
    else:
        alpha_lo = float(np.exp(brentq(excess, lo, np.log(_RP_ALPHA_MAX), xtol=1e-13)))
        while _current_increment(ts, alpha_lo, spending, gamma, rho, convention) <= _NEGLIGIBLE:
            alpha_lo *= 1.0 + 1e-12  # brentq may land a hair on the infinite side
    c_lo = _current_boundary(tt, ts, alpha_lo, spending, gamma, rho, convention)
    c_hi = _current_boundary(tt, ts, _RP_ALPHA_MAX, spending, gamma, rho, convention)
    return alpha_lo, c_lo, c_hi


def gst_repeated_p_value(
    z: float,
    information_fraction: float,
    previous_fractions: Sequence[float],
    looks: int,
    spending: SpendingName = "obf",
    *,
    gamma: float = -4.0,
    rho: float = 3.0,
    convention: Convention = "per-side",
) -> float:
    """Two-sided repeated p-value of a group-sequential test at the current look.

    p_k = inf{α' ∈ (0, 1) : |z| ≥ c_k(α')}, where c_k(α') is the boundary that ``gst_look``
    would use at this look at level α' — same spending family (and ``gamma``/``rho``),
    same ``convention`` (default "per-side", the published ldbounds/gsDesign tables; see the
    module docstring), same observed look timing, and the earlier looks' boundaries
    recomputed at α' (Jennison & Turnbull 2000, §9.1, repeated p-values). So, for every
    α ∈ (0, 1) and up to the root-finding tolerance,

        gst_look(z, t, prev, looks, α, spending).crossed  ==  (p ≤ α).

    Validity: under H0, P(p_j ≤ α for some look j ≤ k) = P(the level-α design rejects by
    look k) ≤ α, for every α, jointly over looks. Each p_k (and their running minimum) is
    therefore a valid p-value, and a multiple-testing procedure (Holm, graphical
    procedures, or BH under its usual dependence conditions) can be applied to a family of
    them at each look: rejecting H_i when p_{i,k} ≤ α_i is the group-sequential test of
    H_i at the level α_i the procedure assigns, with earlier looks re-evaluated at α_i
    (Maurer & Bretz 2013, Stat Biopharm Res 5:311–320).

    Method: c_k(α') decreases in α' (checked numerically for all four spending families and
    both conventions, α' from 1e-14 to 1 − 1e-6). With x = z_{1−α'/2} (α' = 2Φ̄(x); c_k is nearly
    linear in x, exactly c_k = x for one look at t = 1) the root of c_k(α'(x)) = |z| is
    found by ``brentq`` with ``xtol=1e-12`` on x, i.e. a relative error of α' below ~1e-11
    (the boundaries themselves are solved to ``xtol=1e-12`` on z). The decision identity
    can fail only for |z| within ~1e-12 of c_k(α). Ends:

    * |z| < c_k(1 − 1e-12) → 1.0 (not crossed at any level); also 1.0 if this look never
      gets a boundary (its spend ≤ 1e-15 at every level).
    * |z| ≥ c_k(α_lo) → α_lo, where α_lo is the smallest level at which the boundary code
      gives this look a finite boundary (spend > 1e-15; below it the boundary is +inf).
      α_lo is about 2e-15 for one look at t = 1, but larger at early looks of steep
      spending functions: O'Brien-Fleming type, look 1 of 5 equally spaced, α_lo ≈ 7e-4.
    * z = ±inf → α_lo (or 1.0 as above); z = nan → nan.

    With one look at t = 1 this is the fixed-sample p 2(1 − Φ(|z|)) (floored at α_lo). At
    the last look p_K ≥ 2(1 − Φ(|z|)): c_K(α') ≥ z_{1−α'/2} since P(|Z_K| ≥ c_K) ≤ α'.
    Two-sided only (symmetric boundaries, as ``gst_look(sides=2)``).
    """
    if isinstance(z, bool) or not isinstance(z, (int, float, np.integer, np.floating)):
        raise InputError("z", z, "a number")
    t, t_spend = _look_times(information_fraction, previous_fractions, looks, field="looks")
    _spent_per_side(t_spend, 0.05, 2, spending, gamma, rho, convention)  # validates the spending arguments
    z = float(z)
    if np.isnan(z):
        return float("nan")
    ends = _repeated_p_ends(tuple(t.tolist()), tuple(t_spend.tolist()), spending, float(gamma), float(rho), convention)
    if ends is None:
        return 1.0
    alpha_lo, c_lo, c_hi = ends
    a = abs(z)
    if a < c_hi:
        return 1.0
    if a >= c_lo:
        return alpha_lo

    x_lo, x_hi = float(-ndtri(_RP_ALPHA_MAX / 2)), float(-ndtri(alpha_lo / 2))  # = norm.isf
    known = {x_lo: c_hi - a, x_hi: c_lo - a}  # brentq evaluates its bracket ends first

    def gap(x: float) -> float:
        if x not in known:
            alpha = min(max(2.0 * float(_Phi_bar(x)), alpha_lo), _RP_ALPHA_MAX)
            c = _current_boundary(t, t_spend, alpha, spending, gamma, rho, convention)
            known[x] = min(c, a + 1.0) - a  # +inf (no boundary) kept finite for brentq
        return known[x]

    x = brentq(gap, x_lo, x_hi, xtol=_RP_XTOL)
    return float(min(max(2.0 * float(_Phi_bar(x)), alpha_lo), 1.0))
