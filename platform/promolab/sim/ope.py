"""Off-policy estimators of a target policy's value from logged bandit feedback.

Definitions follow Open Bandit Pipeline (``obp.ope.estimators``, checked against it to 1e-9
in the tests), with importance weight wᵢ = π_e(aᵢ|xᵢ) / π_b(aᵢ|xᵢ), q̂ a reward model and
q̂(xᵢ, π_e) = Σₐ π_e(a|xᵢ) q̂(xᵢ, a):

- DM    (Beygelzimer & Langford 2009):  V = (1/n) Σ q̂(xᵢ, π_e)
- IPS   (Strehl et al. 2010):           V = (1/n) Σ wᵢ rᵢ
- SNIPS (Swaminathan & Joachims 2015):  V = Σ wᵢ rᵢ / Σ wᵢ
- DR    (Dudík et al. 2014):            V = (1/n) Σ [q̂(xᵢ, π_e) + wᵢ (rᵢ − q̂(xᵢ, aᵢ))]
- switch-DR (Wang, Agarwal & Dudík 2017; OBP's ``SwitchDoublyRobust``):
  V = (1/n) Σ [q̂(xᵢ, π_e) + 1{wᵢ ≤ τ} wᵢ (rᵢ − q̂(xᵢ, aᵢ))]: DR on rows whose weight is at
  most τ, the reward model alone above; τ = ∞ is DR and τ = 0 is DM.

Every estimator is a function of row sums (``RowTerms``: a ratio Σuᵢ / Σvᵢ; ``CellModelTerms``:
the DR family with the ``CellMeans`` reward model), so a bootstrap resample with counts cᵢ
recomputes it from Σ cᵢ xᵢ — refitting ``CellMeans``' q̂ too. A q̂ given as an array is held
fixed (its own error is then not in the interval: fit it on other rows). Intervals follow
``promolab.sim.ope_intervals`` (percentile bootstrap, empirical-Bernstein when it collapses,
clipped at 0 for a nonnegative reward); all estimators of one ``estimate_all`` call share the
resamples. The standard error is that of the mean of the influence terms ψᵢ (delta method).

The range b of ψᵢ used by the empirical-Bernstein fallback is the larger of the observed
range and a bound from the reward's range [lo, hi] = [min(0, min r), max(1, max r)] and
the largest importance weight w_max: w_max (hi − lo) for IPS, (w_max / w̄)(hi − lo) for
SNIPS, (1 + 2 w_max)(hi − lo) for DR and switch-DR (w_max over the rows with wᵢ ≤ τ), so
hi − lo for DM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse

from promolab.errors import InputError
from promolab.sim.logged import check_propensity
from promolab.sim.ope_intervals import LEVEL, Resampling, bootstrap_sums, bounded_interval
from promolab.sim.reward_model import CellMeans
from promolab.sim.target_policy import check_target

DEFAULT_RESAMPLING = Resampling()
RewardModel = np.ndarray | CellMeans


@dataclass(frozen=True)
class Estimate:
    """A policy-value estimate, its standard error and a ``level`` confidence interval
    computed by ``method``: bootstrap, empirical-bernstein, wilson (replay of a 0/1 reward), or
    none (no row to estimate from: value and interval NaN)."""

    estimator: str
    value: float
    se: float
    lower: float
    upper: float
    n: int
    method: str = "bootstrap"
    level: float = LEVEL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class RowTerms:
    """An estimator that is a ratio of row sums, V̂ = Σ uᵢ / Σ vᵢ (``denominator`` None: vᵢ = 1,
    a mean). ``spread`` bounds the width of the influence terms' range (for the
    empirical-Bernstein fallback)."""

    estimator: str
    numerator: np.ndarray
    denominator: np.ndarray | None
    spread: float

    @property
    def value(self) -> float:
        """NaN for a ratio whose denominator sums to 0 (SNIPS of a target that never plays a logged action)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(self.combine(self.columns.sum(axis=0)))

    @property
    def influence(self) -> np.ndarray:
        """ψᵢ: mean V̂, sample variance the (delta-method) variance of one row."""
        if self.denominator is None:
            return self.numerator
        value, mean = self.value, self.denominator.mean()
        if not mean > 0:
            return np.full_like(self.numerator, np.nan)
        return value + (self.numerator - value * self.denominator) / mean

    @property
    def columns(self) -> sparse.csc_array:
        """The per-row vectors whose sums give V̂: (u) or (u, v)."""
        parts = [self.numerator] if self.denominator is None else [self.numerator, self.denominator]
        return sparse.csc_array(np.column_stack(parts))

    def combine(self, sums: np.ndarray) -> np.ndarray:
        """V̂ from column sums (..., 1 or 2): a bootstrap replicate from a resample's sums."""
        return sums[..., 0] / (self.numerator.size if self.denominator is None else sums[..., 1])


@dataclass(frozen=True, eq=False)
class CellModelTerms:
    """Switch-DR (so DR and DM) with the ``CellMeans`` reward model, from per-cell sums so that
    a resample refits q̂: V̂ = (1/n)[Σ_c (mass_c − weight_c) q̂_c + Σᵢ 1{wᵢ ≤ τ} wᵢ rᵢ], per cell
    c = (group, action): q̂_c = reward_c / count_c, mass_c the target's probability of c's
    action summed over c's group's rows, weight_c = Σ 1{wᵢ ≤ τ} wᵢ over c's rows."""

    estimator: str
    columns: sparse.csc_array  # count, reward, mass, weight (a block of cells each), then 1{w ≤ τ} w r
    cells: int
    influence: np.ndarray      # each row's DR term plus its share of q̂'s estimation error
    spread: float

    @property
    def value(self) -> float:
        return float(self.combine(self.columns.sum(axis=0)))

    def combine(self, sums: np.ndarray) -> np.ndarray:
        c = self.cells
        count, total, mass, weight = (sums[..., i * c:(i + 1) * c] for i in range(4))
        q = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        return (((mass - weight) * q).sum(axis=-1) + sums[..., 4 * c]) / self.columns.shape[0]


Terms = RowTerms | CellModelTerms


def reward_range(reward: np.ndarray) -> float:
    """hi − lo for the reward range [lo, hi] = [min(0, min r), max(1, max r)]."""
    return float(max(1.0, np.max(reward)) - min(0.0, np.min(reward)))


@dataclass(frozen=True, eq=False)
class LoggedArrays:
    """One log's validated arrays; ``target`` is (n, K)."""

    reward: np.ndarray
    action: np.ndarray
    propensity: np.ndarray
    target: np.ndarray

    @property
    def n(self) -> int:
        return self.action.size

    @property
    def weights(self) -> np.ndarray:
        """wᵢ = π_e(aᵢ|xᵢ) / π_b(aᵢ|xᵢ)."""
        return self.target[np.arange(self.n), self.action] / self.propensity

    def model(self, q_hat: np.ndarray) -> np.ndarray:
        """A given q̂ as (n, K) finite floats; (K,) is a context-free model."""
        q = np.asarray(q_hat, dtype=float)
        if q.shape not in {(self.target.shape[1],), self.target.shape}:
            k = self.target.shape[1]
            raise InputError("q_hat", q.shape, f"a reward model of shape {self.target.shape} or ({k},)")
        if not np.all(np.isfinite(q)):
            raise InputError("q_hat", q[~np.isfinite(q)][0], "finite model rewards")
        return np.broadcast_to(q, self.target.shape)


def logged_arrays(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray) -> LoggedArrays:
    """Check one log's arrays against each other: n finite rewards, n actions indexing the K
    columns of ``target`` ((n, K), or (K,) for every row), n propensities in (0, 1]."""
    reward = np.asarray(reward, dtype=float)
    action = np.asarray(action)
    n = action.size
    if action.ndim != 1 or n == 0 or not np.issubdtype(action.dtype, np.integer):
        raise InputError("action", action.dtype.name if n else n, "a non-empty 1-d array of action indices")
    for field, values in (("reward", reward), ("propensity", propensity)):
        if np.shape(values) != action.shape:
            raise InputError(field, np.shape(values), f"one value per logged action ({n})")
    bad = np.flatnonzero(~np.isfinite(reward))
    if bad.size:
        raise InputError(f"reward[row {bad[0]}]", reward[bad[0]], "a finite number")
    target = check_target(target, n)
    bad = np.flatnonzero((action < 0) | (action >= target.shape[1]))
    if bad.size:
        raise InputError(f"action[row {bad[0]}]", action[bad[0]], f"an action index in [0, {target.shape[1] - 1}]")
    return LoggedArrays(reward, action.astype(np.intp), check_propensity(propensity), target)


def ips_terms(log: LoggedArrays) -> RowTerms:
    w = log.weights
    return RowTerms("ips", w * log.reward, None, w.max() * reward_range(log.reward))


def snips_terms(log: LoggedArrays) -> RowTerms:
    w = log.weights
    spread = w.max() / w.mean() * reward_range(log.reward) if w.mean() > 0 else np.inf
    return RowTerms("snips", w * log.reward, w, spread)


def check_tau(tau: object) -> float:
    """Switch-DR's threshold: a number >= 0 (inf: DR)."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or not tau >= 0:
        raise InputError("tau", tau, "an importance-weight threshold >= 0 (inf: DR)")
    return float(tau)


def dm_terms(log: LoggedArrays, model: RewardModel) -> Terms:
    return switch_dr_terms(log, model, 0.0, "dm")


def dr_terms(log: LoggedArrays, model: RewardModel) -> Terms:
    return switch_dr_terms(log, model, np.inf, "dr")


def switch_dr_terms(log: LoggedArrays, model: RewardModel, tau: float, estimator: str = "switch-dr") -> Terms:
    """Switch-DR with weight threshold ``tau`` and reward model ``model``: a (n, K) or (K,) q̂
    held fixed (``RowTerms``), or a ``CellMeans`` refit in each resample (``CellModelTerms``)."""
    check_tau(tau)
    n, k = log.target.shape
    w = log.weights
    kept = np.where(w <= tau, w, 0.0)  # 1{wᵢ ≤ τ} wᵢ
    spread = (1 + 2 * kept.max()) * reward_range(log.reward)
    if not isinstance(model, CellMeans):
        q = log.model(model)
        terms = (log.target * q).sum(axis=1) + kept * (log.reward - q[np.arange(n), log.action])
        return RowTerms(estimator, terms, None, spread)
    cell, cells = model.cells(log.action, k)
    count = np.bincount(cell, minlength=cells)
    q_cell = np.bincount(cell, weights=log.reward, minlength=cells) / np.maximum(count, 1)
    mass_cell = (model.row_groups(n)[:, None] * k + np.arange(k)).ravel()  # row i's mass goes to its group's cells
    mass = np.bincount(mass_cell, weights=log.target.ravel(), minlength=cells)
    weight = np.bincount(cell, weights=kept, minlength=cells)
    residual = log.reward - q_cell[cell]
    terms = (log.target * q_cell[mass_cell].reshape(n, k)).sum(axis=1) + kept * residual
    influence = terms + ((mass - weight) / np.maximum(count, 1))[cell] * residual
    columns = sparse.hstack([_one_hot(cell, np.ones(n), cells), _one_hot(cell, log.reward, cells),
                             sparse.csc_array((log.target.ravel(), (np.repeat(np.arange(n), k), mass_cell)),
                                              shape=(n, cells)),
                             _one_hot(cell, kept, cells), sparse.csc_array((kept * log.reward)[:, None])],
                            format="csc")
    return CellModelTerms(estimator, columns, cells, influence, spread)


def reward_floor(reward: np.ndarray) -> float | None:
    """The interval floor of a value of ``reward``: 0 when no reward is negative, else none."""
    return 0.0 if np.min(reward) >= 0 else None


def estimate_all(estimators: Sequence[Terms], reward: np.ndarray, resampling: Resampling = DEFAULT_RESAMPLING,
                 *, floors: Sequence[float | None] | None = None) -> tuple[Estimate, ...]:
    """Each estimator's value, standard error and interval, all from the same bootstrap resamples.
    ``floors``: each interval's floor (default: ``reward_floor(reward)`` for all)."""
    n = estimators[0].columns.shape[0]
    floors = [reward_floor(reward)] * len(estimators) if floors is None else floors
    columns = [e.columns for e in estimators]
    bounds = np.cumsum([0] + [c.shape[1] for c in columns])

    def values(sums: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.column_stack([e.combine(sums[:, lo:hi]) for e, lo, hi in zip(estimators, bounds, bounds[1:])])

    replicates = bootstrap_sums(sparse.hstack(columns, format="csc"), values, resampling)
    estimates = []
    for e, column, floor in zip(estimators, replicates.T, floors, strict=True):
        value, psi = e.value, e.influence
        se = float(psi.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        spread = max(e.spread, float(np.ptp(psi))) if np.all(np.isfinite(psi)) else e.spread
        lower, upper, method = bounded_interval(value, column, psi, spread, resampling.level, floor)
        estimates.append(Estimate(e.estimator, value, se, lower, upper, n, method, resampling.level))
    return tuple(estimates)


def ips(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray, *,
        resampling: Resampling = DEFAULT_RESAMPLING) -> Estimate:
    """IPS; ``target`` is (n, K) or one (K,) distribution for every row."""
    log = logged_arrays(reward, action, propensity, target)
    return estimate_all([ips_terms(log)], log.reward, resampling)[0]


def snips(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray, *,
          resampling: Resampling = DEFAULT_RESAMPLING) -> Estimate:
    log = logged_arrays(reward, action, propensity, target)
    return estimate_all([snips_terms(log)], log.reward, resampling)[0]


def direct_method(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray,
                  q_hat: RewardModel, *, resampling: Resampling = DEFAULT_RESAMPLING) -> Estimate:
    """DM; ``q_hat``: estimated reward of every arm, (n, K) or (K,), or a ``CellMeans`` model."""
    log = logged_arrays(reward, action, propensity, target)
    return estimate_all([dm_terms(log, q_hat)], log.reward, resampling)[0]


def doubly_robust(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray,
                  q_hat: RewardModel, *, resampling: Resampling = DEFAULT_RESAMPLING) -> Estimate:
    """DR; ``q_hat``: estimated reward of every arm, (n, K) or (K,), or a ``CellMeans`` model."""
    log = logged_arrays(reward, action, propensity, target)
    return estimate_all([dr_terms(log, q_hat)], log.reward, resampling)[0]


def switch_dr(reward: np.ndarray, action: np.ndarray, propensity: np.ndarray, target: np.ndarray,
              q_hat: RewardModel, tau: float, *, resampling: Resampling = DEFAULT_RESAMPLING) -> Estimate:
    """Switch-DR with importance-weight threshold ``tau`` (OBP's ``SwitchDoublyRobust(tau=...)``)."""
    log = logged_arrays(reward, action, propensity, target)
    return estimate_all([switch_dr_terms(log, q_hat, tau)], log.reward, resampling)[0]


def arm_means(reward: np.ndarray, action: np.ndarray, n_arms: int) -> np.ndarray:
    """The context-free reward model q̂(a): the logged mean reward of each arm (0 if unseen)."""
    n = np.bincount(action, minlength=n_arms)
    return np.bincount(action, weights=reward, minlength=n_arms) / np.maximum(n, 1)


def _one_hot(index: np.ndarray, values: np.ndarray, width: int) -> sparse.csc_array:
    """(n, width) with ``values[i]`` at (i, ``index[i]``)."""
    return sparse.csc_array((values, (np.arange(index.size), index)), shape=(index.size, width))
