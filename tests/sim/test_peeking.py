"""A/A peeking simulator: naive repeated z-tests inflate the false-positive rate; the
group-sequential design and mSPRT hold it at α (tolerance: 3 binomial standard errors)."""

import dataclasses
import math

import numpy as np
import pytest

from promolab.errors import InputError
from promolab.sim.peeking import simulate_peeking

RUNS, ALPHA = 3000, 0.05
TOL = 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)


@pytest.fixture(scope="module")
def result():
    return simulate_peeking(looks=30, runs=RUNS, users_per_look=1000, rate=0.05, alpha=ALPHA, seed=11)


def test_naive_peeking_inflates_and_sequential_methods_hold_alpha(result):
    assert result.naive_any_look.rate > 2 * ALPHA
    assert result.naive_any_look.low > ALPHA
    assert abs(result.fixed_horizon.rate - ALPHA) <= TOL
    assert result.group_sequential.rate <= ALPHA + TOL
    assert result.msprt.rate <= ALPHA + TOL


def test_result_shape_and_intervals(result):
    assert len(result.naive_by_look) == 30 and len(result.gst_efficacy) == 30
    assert np.all(np.diff(result.naive_by_look) >= 0)
    assert result.naive_by_look[-1] == pytest.approx(result.naive_any_look.rate)
    for est in (result.naive_any_look, result.fixed_horizon, result.group_sequential, result.msprt):
        assert est.runs == RUNS and est.low <= est.rate <= est.high
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.runs = 1  # type: ignore[misc]


def test_seeded_runs_are_reproducible():
    a = simulate_peeking(looks=5, runs=200, seed=3)
    assert a == simulate_peeking(looks=5, runs=200, seed=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"looks": 0}, "looks: got 0"),
        ({"runs": 0}, "runs: got 0"),
        ({"users_per_look": -5}, "users_per_look: got -5"),
        ({"rate": 1.5}, "rate: got 1.5"),
        ({"alpha": 0.0}, "alpha: got 0.0"),
        ({"spending": "linear"}, "spending: got 'linear'"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate_peeking(**{"looks": 3, "runs": 10, **kwargs})
