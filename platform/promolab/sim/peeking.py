"""A/A peeking simulator: what daily looks do to the false-positive rate.

Each run is an A/A test on a conversion rate p: every look adds ``users_per_look`` users to
each arm. Runs × looks arrays of cumulative conversions are drawn at once (numpy), and at
every look three procedures are applied to the same data:

* naive: the fixed-horizon two-sided z-test (Wald, unpooled variance) repeated at every look;
* group-sequential: Lan-DeMets boundaries for ``looks`` equally spaced looks
  (``promolab.stats.sequential.boundaries``);
* mSPRT: always-valid p-value ≤ α (Johari et al. 2017), τ² tuned to the final look's
  variance under the planning rate (``tau2_for_horizon``).

Each false-positive rate comes with a Wilson 95 % interval (statsmodels ``proportion_confint``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from promolab.errors import InputError
from promolab.spec.vocabulary import MAX_LOOKS
from promolab.stats.sequential.boundaries import SpendingName, equally_spaced, gst_boundaries
from promolab.stats.sequential.msprt import always_valid_p_values, tau2_for_horizon
from promolab.stats.sequential.spending import check_level

# Bounds. The looks are those of the group-sequential design the A/A runs are checked against,
# so they share the platform's bound on a design's looks (MAX_LOOKS: 50 covers daily looks for
# seven weeks). A million runs put the Wilson interval of a 5 % false-positive rate at ±0.04 points.
# A billion users per arm per look is beyond any shop and keeps n·looks exact in float64.
MAX_RUNS = 1_000_000
MAX_USERS_PER_LOOK = 1_000_000_000
MAX_SEED = 2**63 - 1
# runs × looks: ≈ 15 s and under ~2 GB of memory (measured on 2 cores); MAX_RUNS × MAX_LOOKS stays within it
MAX_CELLS = 50_000_000


@dataclass(frozen=True)
class RateEstimate:
    """A false-positive rate with its Wilson 95 % confidence interval."""

    rejections: int
    runs: int
    rate: float
    low: float
    high: float


@dataclass(frozen=True)
class PeekingResult:
    looks: int
    runs: int
    users_per_look: int  # per arm, per look
    rate: float
    alpha: float
    seed: int | None
    spending: str
    tau2: float
    naive_any_look: RateEstimate  # the z-test repeated at every look
    fixed_horizon: RateEstimate  # the z-test once, at the last look only
    group_sequential: RateEstimate
    msprt: RateEstimate
    naive_by_look: tuple[float, ...]  # cumulative naive false-positive rate through look k
    gst_efficacy: tuple[float, ...]  # the |z| boundaries used


def _rate(rejected: np.ndarray) -> RateEstimate:
    count, runs = int(rejected.sum()), int(rejected.size)
    low, high = proportion_confint(count, runs, alpha=0.05, method="wilson")
    return RateEstimate(count, runs, count / runs, float(low), float(high))


def _positive_int(field: str, value: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InputError(field, value, "an integer >= 1")
    if value > high:
        raise InputError(field, value, f"an integer in [1, {high}]")
    return int(value)


def simulate_peeking(
    looks: int = 30,
    runs: int = 10_000,
    users_per_look: int = 1_000,
    rate: float = 0.05,
    alpha: float = 0.05,
    seed: int | None = 0,
    spending: SpendingName = "obf",
) -> PeekingResult:
    """Simulate ``runs`` A/A tests with ``looks`` looks and count false positives per method."""
    looks, runs = _positive_int("looks", looks, MAX_LOOKS), _positive_int("runs", runs, MAX_RUNS)
    users_per_look = _positive_int("users_per_look", users_per_look, MAX_USERS_PER_LOOK)
    check_level("rate", rate)
    check_level("alpha", alpha)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed <= MAX_SEED):
        raise InputError("seed", seed, f"an integer in [0, {MAX_SEED}]")
    if runs * looks > MAX_CELLS:
        raise InputError("runs", runs, f"runs × looks <= {MAX_CELLS:,} (looks = {looks})")
    design = gst_boundaries(equally_spaced(looks), alpha=alpha, spending=spending, sides=2)
    tau2 = tau2_for_horizon(2.0 * rate * (1.0 - rate) / (users_per_look * looks), alpha)

    rng = np.random.default_rng(seed)
    n = users_per_look * np.arange(1, looks + 1, dtype=float)
    p_c = rng.binomial(users_per_look, rate, size=(runs, looks)).cumsum(axis=1) / n
    p_t = rng.binomial(users_per_look, rate, size=(runs, looks)).cumsum(axis=1) / n
    diff = p_t - p_c
    variance = (p_c * (1.0 - p_c) + p_t * (1.0 - p_t)) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, diff / np.sqrt(variance), 0.0)

    naive = np.abs(z) >= norm.isf(alpha / 2)
    gst = np.abs(z) >= np.asarray(design.efficacy)
    msprt = always_valid_p_values(diff, variance, tau2)[:, -1] <= alpha
    return PeekingResult(
        looks=looks,
        runs=runs,
        users_per_look=users_per_look,
        rate=rate,
        alpha=alpha,
        seed=seed,
        spending=spending,
        tau2=tau2,
        naive_any_look=_rate(naive.any(axis=1)),
        fixed_horizon=_rate(naive[:, -1]),
        group_sequential=_rate(gst.any(axis=1)),
        msprt=_rate(msprt),
        naive_by_look=tuple(np.logical_or.accumulate(naive, axis=1).mean(axis=0).tolist()),
        gst_efficacy=design.efficacy,
    )
