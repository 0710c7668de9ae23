"""Policies in the simulator against known regret and identification behaviour."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from promolab.sim.metrics import Band, lai_robbins_coefficient
from promolab.sim.scenario import parse_scenario
from promolab.sim.simulate import simulate


def bernoulli(rates, horizon, policies, **extra):
    return parse_scenario({"horizon": horizon, "checkpoints": 20, "arms": {"names": [f"a{i}" for i in range(len(rates))],
                           "rate": rates}, "policies": policies, **extra})


def test_ucb1_regret_stays_under_auer_bound():
    """Auer, Cesa-Bianchi & Fischer (2002) Thm 1: E[Rₙ] ≤ Σ 8 ln n / Δᵢ + (1 + π²/3) Σ Δᵢ."""
    sc = bernoulli([0.2, 0.3, 0.45, 0.5], 5000, [{"name": "ucb1"}])
    batch = simulate(sc, sc.policies[0].policy, 200, seed=1)
    gaps = 0.5 - np.array([0.2, 0.3, 0.45])
    bound = (8 * np.log(batch.users[:, None]) / gaps).sum(axis=1) + (1 + np.pi**2 / 3) * gaps.sum()
    assert (batch.regret.mean(axis=0) < bound).all()


@pytest.mark.parametrize(("name", "low", "high"), [("thompson", 0.5, 2.0), ("kl-ucb", 0.5, 2.0), ("ucb1", 3.0, 20.0)])
def test_regret_grows_at_the_lai_robbins_rate(name, low, high):
    """R(T) ~ c·ln T with c = Σ Δ / KL(μ, μ*) (Lai & Robbins 1985); Thompson (Kaufmann et al. 2012)
    and KL-UCB (Garivier & Cappé 2011) attain it: the slope dR/d ln T over 2,000…20,000 users is
    within a factor 2 of c. UCB1's is several times larger. (Updates every 10 users keep it fast.)"""
    sc = bernoulli([0.2, 0.35], 20_000, [{"name": name}], batch_size=10)
    batch = simulate(sc, sc.policies[0].policy, 200, seed=2)
    mean, users = batch.regret.mean(axis=0), batch.users
    i = np.searchsorted(users, 2000)
    slope = (mean[-1] - mean[i]) / np.log(users[-1] / users[i])
    assert low < slope / lai_robbins_coefficient(sc.arms.rate) < high


def test_epsilon_greedy_allocates_as_configured():
    """Once the best arm is known, it gets 1 − ε + ε/K and every other arm ε/K."""
    sc = bernoulli([0.1, 0.2, 0.3, 0.6], 4000, [{"name": "epsilon-greedy", "epsilon": 0.2}])
    batch = simulate(sc, sc.policies[0].policy, 300, seed=3)
    late = np.diff(batch.pulls, axis=1)[:, -10:].sum(axis=(0, 1))
    np.testing.assert_allclose(late / late.sum(), [0.05, 0.05, 0.05, 0.85], atol=0.01)


def test_top_two_identifies_the_best_arm():
    """Russo (2016): top-two TS gives the best arm a β share. With two arms and β = ½ it is a fair
    coin every user, so P(correct) after n users is that of an even split,
    ≈ Φ(Δ / √((p₁q₁ + p₂q₂)/(n/2))); with four arms it beats plain Thompson sampling."""
    sc = bernoulli([0.45, 0.5], 600, [{"name": "top-two-thompson"}])
    batch = simulate(sc, sc.policies[0].policy, 1500, seed=4)
    expected = norm.cdf(0.05 / np.sqrt((0.45 * 0.55 + 0.5 * 0.5) / 300))
    assert abs(batch.identified[:, -1].mean() - expected) < 0.03

    sc = bernoulli([0.5, 0.45, 0.4, 0.35], 2000, [{"name": "top-two-thompson", "beta": 0.5}, {"name": "thompson"}])
    top_two, thompson = (simulate(sc, e.policy, 400, seed=5) for e in sc.policies)
    late = np.diff(top_two.pulls, axis=1)[:, -5:].sum(axis=(0, 1))
    assert abs(late[0] / late.sum() - 0.5) < 0.03
    assert top_two.identified.mean() > thompson.identified.mean() - 0.01


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_simulator.py"
    spec = importlib.util.spec_from_file_location("bench_simulator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["thompson", "ucb1"])
def test_mean_regret_agrees_with_mabwiser(name):
    """Same 5-arm scenario, same policy family: MABWiser's mean regret (its own per-user loop,
    the benchmark's reference) lies in promolab's confidence band (4 combined s.e.)."""
    pytest.importorskip("mabwiser")
    bench = _bench()
    steps = 1500
    ours = Band.of(simulate(bench.scenario(steps, name), bench.make_policy(name), 500, seed=6).regret[:, -1:])
    theirs = bench.mabwiser_regret(name, bench.RATES, 12, steps, seed=7)
    se = np.hypot(ours.se[0], theirs.std(ddof=1) / np.sqrt(theirs.size))
    assert abs(theirs.mean() - ours.mean[0]) < 4 * se
