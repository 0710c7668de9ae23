"""Each policy's probabilities against closed forms: Beta race, top-two formula, UCB/KL-UCB
indices, epsilon-greedy schedule, Normal-Inverse-Gamma posterior."""

import numpy as np
from scipy import integrate, stats

from promolab.bandits import ArmState, EpsilonGreedy, KLUCB, Thompson, TopTwoThompson, UCB1, bernoulli_kl
from promolab.bandits.priors import NormalInverseGammaPrior


def bernoulli_state(n, successes):
    n, s = np.asarray(n, float), np.asarray(successes, float)
    return ArmState(n, s, s)


def test_thompson_monte_carlo_matches_exact_beta_race():
    state = bernoulli_state([40, 50], [12, 19])
    a, b = 1 + state.sum, 1 + state.n - state.sum
    exact, _ = integrate.quad(lambda x: stats.beta.pdf(x, a[1], b[1]) * stats.beta.cdf(x, a[0], b[0]), 0, 1)
    p = Thompson(draws=200_000).probabilities(state, rng=1)
    assert abs(p[1] - exact) < 0.005


def test_thompson_choose_is_one_posterior_draw_per_user():
    state = bernoulli_state([40, 50], [12, 19])
    p = Thompson(draws=200_000).probabilities(state, rng=1)
    share = np.mean(Thompson().choose(state, 2, 100_000) == 1)
    assert abs(share - p[1]) < 0.01


def test_floor_is_applied_in_probabilities_and_choices():
    state = bernoulli_state([1000, 1000, 1000], [100, 300, 100])
    policy = Thompson(floor=0.1)
    np.testing.assert_allclose(policy.probabilities(state, 0), [0.1, 0.8, 0.1], atol=1e-3)
    counts = np.bincount(policy.choose(state, 0, 60_000), minlength=3) / 60_000
    np.testing.assert_allclose(counts, [0.1, 0.8, 0.1], atol=0.01)


def test_top_two_matches_russo_allocation_formula():
    """ψⱼ = pⱼ(β + (1 − β) Σ_{i≠j} pᵢ/(1 − pᵢ)); with two arms ψ₁ = βp₁ + (1 − β)p₂."""
    state = bernoulli_state([30, 30, 30], [9, 12, 10])
    p = Thompson(draws=400_000).probabilities(state, rng=4)
    beta = 0.7
    expected = p * (beta + (1 - beta) * ((p / (1 - p)).sum() - p / (1 - p)))
    psi = TopTwoThompson(beta=beta, draws=400_000).probabilities(state, rng=4)
    np.testing.assert_allclose(psi, expected, atol=1e-9)
    chosen = np.bincount(TopTwoThompson(beta=beta).choose(state, 5, 200_000), minlength=3) / 200_000
    np.testing.assert_allclose(chosen, expected, atol=0.01)


def test_top_two_with_a_certain_leader_plays_it_beta_of_the_time():
    state = bernoulli_state([10_000, 10_000, 10_000], [1000, 5000, 1500])
    psi = TopTwoThompson(beta=0.6).probabilities(state, 0)
    np.testing.assert_allclose(psi, [0.0, 0.6, 0.4], atol=1e-6)
    chosen = np.bincount(TopTwoThompson(beta=0.6).choose(state, 0, 50_000), minlength=3) / 50_000
    np.testing.assert_allclose(chosen, [0.0, 0.6, 0.4], atol=0.01)


def test_ucb1_index_and_unplayed_arms_first():
    state = bernoulli_state([10, 40, 0], [5, 24, 0])
    np.testing.assert_array_equal(UCB1().probabilities(state), [0, 0, 1])
    state = bernoulli_state([10, 40], [5, 24])
    index = state.mean + np.sqrt(2 * np.log(50) / state.n)  # 0.5 + 0.885 vs 0.6 + 0.442
    np.testing.assert_array_equal(UCB1().probabilities(state), np.eye(2)[np.argmax(index)])


def test_kl_ucb_index_solves_the_kl_constraint():
    state = bernoulli_state([20, 200], [6, 80])
    t = 220
    from promolab.bandits.ucb import kl_upper_bound

    q = kl_upper_bound(state.mean, np.log(t) / state.n)
    np.testing.assert_allclose(state.n * bernoulli_kl(state.mean, q), np.log(t), rtol=1e-3)
    np.testing.assert_array_equal(KLUCB().probabilities(state), np.eye(2)[np.argmax(q)])


def test_epsilon_greedy_schedule():
    state = bernoulli_state([100, 100, 100, 100], [10, 40, 20, 30])
    np.testing.assert_allclose(EpsilonGreedy(epsilon=0.2).probabilities(state), [0.05, 0.85, 0.05, 0.05])
    eps = 0.2 / (1 + 0.01 * 400)
    np.testing.assert_allclose(EpsilonGreedy(epsilon=0.2, decay=0.01).probabilities(state),
                               [eps / 4, 1 - eps + eps / 4, eps / 4, eps / 4])


def test_normal_inverse_gamma_posterior_of_the_mean():
    """With a vague prior the posterior of the mean is ≈ t(n − 1) around ȳ with scale s/√n."""
    rng = np.random.default_rng(0)
    y = rng.normal(5.0, 2.0, size=400)
    state = ArmState(np.array([400.0]), np.array([y.sum()]), np.array([(y * y).sum()]))
    draws = NormalInverseGammaPrior(kappa=1e-6, alpha=1e-3, beta=1e-3).sample(state, rng, 200_000)[:, 0]
    assert abs(draws.mean() - y.mean()) < 0.005
    assert abs(draws.std() / (y.std(ddof=1) / np.sqrt(400)) - 1) < 0.02


def test_normal_thompson_prefers_the_higher_mean_revenue_arm():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(0.5, 2 * 7.8, 2000), rng.gamma(0.5, 2 * 7.1, 2000)
    state = ArmState(np.array([2000.0, 2000.0]), np.array([a.sum(), b.sum()]), np.array([a @ a, b @ b]))
    z = (a.mean() - b.mean()) / np.sqrt(a.var() / 2000 + b.var() / 2000)
    p = Thompson(prior=NormalInverseGammaPrior(beta=50.0)).probabilities(state, 0)
    assert abs(p[0] - stats.norm.cdf(z)) < 0.02
