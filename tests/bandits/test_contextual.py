"""Contextual policies against independent computations: LinUCB's ridge estimate and width
(numpy.linalg.solve, statsmodels' ridge), linear TS's sampling distribution (moments, and
P(arm 0 wins) in closed form for two arms), the Laplace posterior of logistic TS (scipy's
optimiser, statsmodels' logit Hessian); batches, runs and seeds; states as JSON and arrays."""

import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from promolab.bandits import (CONTEXTUAL_POLICIES, POLICIES, LinearState, LinearThompson, LinUCB, LogisticState,
                              LogisticThompson, make_contextual_policy, make_policy, policy_parameters)
from promolab.errors import InputError

K, D = 3, 4


def batch(seed: int, n: int = 300, runs: tuple[int, ...] = ()):
    """Contexts with an intercept, arms and 0/1 rewards from a logistic model per arm."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.ones(runs + (n, 1)), rng.normal(size=runs + (n, D - 1))], axis=-1)
    arms = rng.integers(K, size=runs + (n,))
    theta = np.array([[-1.0, 0.5, 0.0, 0.3], [-0.5, -0.4, 0.6, 0.0], [0.0, 0.2, -0.3, -0.8]])
    p = 1 / (1 + np.exp(-np.einsum("...nd,...nd->...n", X, theta[arms])))
    return X, arms, (rng.random(p.shape) < p).astype(float)


def test_linucb_estimate_and_width_equal_a_direct_ridge_solve_and_statsmodels():
    X, arms, y = batch(1)
    policy = LinUCB(alpha=0.7, l2=2.0)
    state = policy.update(policy.empty_state(K, D), X, arms, y)
    theta, a_inv = policy.posterior(state)
    x = X[:5]
    for k in range(K):
        Xk, yk = X[arms == k], y[arms == k]
        A = 2.0 * np.eye(D) + Xk.T @ Xk
        np.testing.assert_allclose(theta[k], np.linalg.solve(A, Xk.T @ yk), rtol=1e-10)
        ridge = sm.OLS(yk, Xk).fit_regularized(alpha=2.0 / len(yk), L1_wt=0.0).params  # (1/2n)|y−Xθ|² + α/2|θ|²
        np.testing.assert_allclose(theta[k], ridge, rtol=1e-8)
        mu, sd = policy.score_moments(state, x)
        np.testing.assert_allclose(sd[:, k], np.sqrt(np.einsum("ni,ni->n", x, np.linalg.solve(A, x.T).T)))
        np.testing.assert_allclose(mu[:, k], x @ np.linalg.solve(A, Xk.T @ yk))
    ucb = mu + 0.7 * sd
    np.testing.assert_array_equal(policy.probabilities(state, x), np.eye(K)[ucb.argmax(axis=1)])
    np.testing.assert_array_equal(policy.choose(state, x, 0), ucb.argmax(axis=1))


def test_linucb_splits_ties_and_keeps_the_floor():
    policy = LinUCB(floor=0.05)
    p = policy.probabilities(policy.empty_state(K, D), np.ones((2, D)))  # no data: every arm ties
    np.testing.assert_allclose(p, 1 / K)
    X, arms, y = batch(2)
    state = policy.update(policy.empty_state(K, D), X, arms, y)
    p = policy.probabilities(state, X[:50])
    assert p.min() == pytest.approx(0.05) and p.max() == pytest.approx(1 - 2 * 0.05)
    chosen = policy.choose(state, X[:50], 3)
    assert (p[np.arange(50), chosen] >= 0.05).all()  # the propensity to log is p[i, chosen[i]]


def test_linear_thompson_scores_are_drawn_from_the_ridge_posterior():
    """θ̃ ~ N(θ̂, v²A⁻¹): at x = eᵢ the score has mean θ̂ᵢ and variance v²A⁻¹ᵢᵢ; at eᵢ + eⱼ the
    variance v²(A⁻¹ᵢᵢ + A⁻¹ⱼⱼ + 2A⁻¹ᵢⱼ) checks the covariances."""
    X, arms, y = batch(3, n=60)
    policy = LinearThompson(v=0.8, l2=1.5)
    state = policy.update(policy.empty_state(K, D), X, arms, y)
    theta, a_inv = policy.ridge(state)
    pairs = [(i, j) for i in range(D) for j in range(i, D)]
    probes = np.array([np.eye(D)[i] + (np.eye(D)[j] if j != i else 0) for i, j in pairs])
    n = 40_000
    scores = policy.draw_scores(state, np.repeat(probes, n, axis=0), rng=5).reshape(len(pairs), n, K)
    for (i, j), s in zip(pairs, scores):
        mean = theta[:, i] + (theta[:, j] if j != i else 0)
        var = 0.8**2 * (a_inv[:, i, i] + (a_inv[:, j, j] + 2 * a_inv[:, i, j] if j != i else 0))
        assert np.all(np.abs(s.mean(axis=0) - mean) < 5 * np.sqrt(var / n))
        np.testing.assert_allclose(s.var(axis=0), var, rtol=5 * np.sqrt(2 / n))


def test_thompson_probabilities_match_the_two_arm_closed_form_and_the_choices():
    """With two arms, P(arm 0 wins) = Φ((μ₀ − μ₁) / √(σ₀² + σ₁²))."""
    X, arms, y = batch(4, n=40)
    arms = arms % 2
    policy = LinearThompson(v=1.0, draws=200_000)
    state = policy.update(policy.empty_state(2, D), X, arms, y)
    x = X[:3]
    mu, sd = policy.score_moments(state, x)
    exact = stats.norm.cdf((mu[:, 0] - mu[:, 1]) / np.hypot(sd[:, 0], sd[:, 1]))
    p = policy.probabilities(state, x, rng=1)
    np.testing.assert_allclose(p[:, 0], exact, atol=0.005)
    chosen = policy.choose(state, np.repeat(x, 20_000, axis=0), rng=2).reshape(3, 20_000)
    np.testing.assert_allclose((chosen == 0).mean(axis=1), exact, atol=0.015)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_laplace_posterior_is_the_penalised_logistic_mode_and_its_hessian(covariance):
    """From the prior N(0, λ⁻¹I), one batch gives each arm the mode of Σ logloss + λ/2|w|²
    (scipy's BFGS) and the precision λI + Σp(1 − p)xxᵀ at it (statsmodels' logit Hessian)."""
    X, arms, y = batch(5)
    lam = 2.0
    policy = LogisticThompson(prior_precision=lam, covariance=covariance)
    state = policy.update(policy.empty_state(K, D), X, arms, y)
    for k in range(K):
        Xk, yk = X[arms == k], y[arms == k]
        loss = lambda w: np.sum(np.logaddexp(0, Xk @ w) - yk * (Xk @ w)) + lam / 2 * w @ w  # noqa: E731
        grad = lambda w: Xk.T @ (1 / (1 + np.exp(-Xk @ w)) - yk) + lam * w  # noqa: E731
        mode = optimize.minimize(loss, np.zeros(D), jac=grad, method="BFGS", options={"gtol": 1e-12}).x
        np.testing.assert_allclose(state.mean[k], mode, atol=1e-6)
        hessian = lam * np.eye(D) - sm.Logit(yk, Xk).hessian(mode)
        expected = hessian if covariance == "full" else np.diag(np.diag(hessian))
        np.testing.assert_allclose(state.precision[k], expected, rtol=1e-6)
    assert state.n.tolist() == np.bincount(arms, minlength=K).tolist()


def test_laplace_update_uses_the_previous_posterior_as_prior():
    X, arms, y = batch(6)
    policy = LogisticThompson()
    first = policy.update(policy.empty_state(K, D), X[:150], arms[:150], y[:150])
    second = policy.update(first, X[150:], arms[150:], y[150:])
    for k in range(K):
        m, Q = first.mean[k], first.precision[k]
        Xk, yk = X[150:][arms[150:] == k], y[150:][arms[150:] == k]
        loss = lambda w: np.sum(np.logaddexp(0, Xk @ w) - yk * (Xk @ w)) + (w - m) @ Q @ (w - m) / 2  # noqa: E731
        mode = optimize.minimize(loss, m, method="BFGS", options={"gtol": 1e-10}).x
        np.testing.assert_allclose(second.mean[k], mode, atol=1e-5)


def test_logistic_thompson_ranks_offers_by_value_times_conversion_minus_cost():
    policy = LogisticThompson(value=(1.0, 10.0), cost=(0.0, 0.0), draws=2_000)
    state = LogisticState(np.zeros(2), np.array([[1.0], [-1.0]]), np.full((2, 1, 1), 1e6))  # σ(1) vs σ(−1)
    np.testing.assert_allclose(policy.probabilities(state, np.ones((1, 1)), rng=0), [[0.0, 1.0]])
    np.testing.assert_allclose(LogisticThompson(draws=2_000).probabilities(state, np.ones((1, 1)), rng=0),
                               [[1.0, 0.0]])
    with pytest.raises(InputError, match="value: got 2, expected one number per arm \\(3 arms\\)"):
        policy.choose(policy.empty_state(3, 1), np.ones((1, 1)), 0)


def test_linear_statistics_add_over_batches():
    X, arms, y = batch(7)
    policy = LinUCB()
    whole = policy.update(policy.empty_state(K, D), X, arms, y)
    parts = policy.update(policy.update(policy.empty_state(K, D), X[:100], arms[:100], y[:100]),
                          X[100:], arms[100:], y[100:])
    for name in ("n", "xx", "xr"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name))


@pytest.mark.parametrize("name", list(CONTEXTUAL_POLICIES))
def test_runs_stepped_together_equal_runs_stepped_one_by_one(name):
    X, arms, y = batch(8, n=80, runs=(4,))
    policy = make_contextual_policy(name)
    together = policy.update(policy.empty_state(K, D, (4,)), X, arms, y)
    mean, cov = policy.posterior(together)
    for r in range(4):
        alone = policy.update(policy.empty_state(K, D), X[r], arms[r], y[r])
        m, c = policy.posterior(alone)
        np.testing.assert_allclose(mean[r], m, atol=1e-9)
        np.testing.assert_allclose(cov[r], c, rtol=1e-9, atol=1e-12)
    p = policy.probabilities(together, X, rng=0)
    assert p.shape == (4, 80, K) and policy.choose(together, X, 0).shape == (4, 80)
    if name == "linucb":  # deterministic: equal per run
        for r in range(4):
            alone = policy.update(policy.empty_state(K, D), X[r], arms[r], y[r])
            np.testing.assert_array_equal(p[r], policy.probabilities(alone, X[r]))


@pytest.mark.parametrize("name", list(CONTEXTUAL_POLICIES))
def test_same_seed_same_choices(name):
    X, arms, y = batch(9, n=100)
    policy = make_contextual_policy(name, {"floor": 0.05})
    state = policy.update(policy.empty_state(K, D), X, arms, y)
    for call in (lambda s: policy.choose(state, X, s), lambda s: policy.probabilities(state, X, s)):
        np.testing.assert_array_equal(call(11), call(11))
    p = policy.probabilities(state, X, 11)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    assert (p >= 0.05 - 1e-12).all()


@pytest.mark.parametrize("name", list(CONTEXTUAL_POLICIES))
def test_state_round_trips_through_json_and_arrays(name, tmp_path):
    X, arms, y = batch(10, n=50, runs=(2,))
    policy = make_contextual_policy(name)
    state = policy.update(policy.empty_state(K, D, (2,)), X, arms, y)
    restored = policy.state_from_dict(json.loads(json.dumps(state.to_dict())))
    np.savez(tmp_path / "state.npz", **vars(state))
    loaded = type(state)(**np.load(tmp_path / "state.npz"))
    for other in (restored, loaded):
        assert type(other) is type(state) and other.batch_shape == (2,) and other.dim == D
        np.testing.assert_array_equal(policy.probabilities(other, X, 1), policy.probabilities(state, X, 1))


N2, XX = [1.0, 2.0], [[[1.0]], [[1.0]]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"n": N2, "xx": XX}, "state: got ['n', 'xx'], expected a table with n, xx, xr"),
        ({"n": N2, "xx": XX, "xr": [[1.0], [1.0, 2.0]]}, "state.xr: got 'ragged or non-numeric'"),
        ({"n": N2, "xx": XX, "xr": [[1.0, 2.0], [1.0, 2.0]]},
         "state: got {'n': (2,), 'xx': (2, 1, 1), 'xr': (2, 2)}, expected arrays of shapes n (..., arms), "
         "xx (..., arms, dim, dim), xr (..., arms, dim)"),
        ({"n": [-1.0, 2.0], "xx": XX, "xr": [[1.0], [1.0]]}, "state.n: got -1.0, expected counts >= 0"),
        ({"n": N2, "xx": [[[1.0]], [[float("nan")]]], "xr": [[1.0], [1.0]]}, "state.xx: got 'non-finite values'"),
    ],
)
def test_bad_states_are_refused_naming_the_field(data, message):
    with pytest.raises(InputError) as err:
        LinUCB().state_from_dict(data)
    assert message in str(err.value)


def test_restored_matrices_must_be_symmetric_and_positive():
    xr = [[0.0, 0.0]]
    with pytest.raises(InputError, match="state.xx: got 'not symmetric positive semi-definite'"):
        LinUCB().state_from_dict({"n": [1.0], "xx": [[[1.0, 2.0], [0.0, 1.0]]], "xr": xr})
    with pytest.raises(InputError, match="state.xx: got 'not symmetric positive semi-definite'"):
        LinUCB().state_from_dict({"n": [1.0], "xx": [[[1.0, 0.0], [0.0, -1.0]]], "xr": xr})
    with pytest.raises(InputError, match="state.precision: got 'not symmetric positive definite'"):
        LogisticThompson().state_from_dict({"n": [1.0], "mean": xr, "precision": [[[1.0, 0.0], [0.0, 0.0]]]})
    assert LinUCB().state_from_dict({"n": [0.0], "xx": [[[0.0, 0.0], [0.0, 0.0]]], "xr": xr}).dim == 2


@pytest.mark.parametrize(
    ("X", "arms", "rewards", "message"),
    [
        (np.ones((3, 2)), [0, 1, 2], [0, 1, 0], "X: got (3, 2), expected context vectors of shape (..., users, 4)"),
        (np.full((3, 4), np.nan), [0, 1, 2], [0, 1, 0], "X: got 'non-finite values'"),
        (np.ones((3, 4)), [0, 1, 3], [0, 1, 0], "arms: got '<i8', expected arm indices in [0, 3) of shape (3,)"),
        (np.ones((3, 4)), [0, 1], [0, 1, 0], "arms: got (2,)"),
        (np.ones((3, 4)), [0, 1, 2], [0, np.inf, 0], "rewards: got 'out of range', expected finite numbers"),
    ],
)
def test_bad_feedback_is_refused_naming_the_field(X, arms, rewards, message):
    policy = LinUCB()
    with pytest.raises(InputError) as err:
        policy.update(policy.empty_state(K, D), X, np.asarray(arms), rewards)
    assert message in str(err.value)


def test_logistic_thompson_refuses_rewards_outside_zero_one():
    policy = LogisticThompson()
    with pytest.raises(InputError, match="rewards: got 'out of range', expected numbers in \\[0, 1\\]"):
        policy.update(policy.empty_state(K, D), np.ones((2, D)), np.array([0, 1]), np.array([0.0, 2.0]))


def test_registry_builds_both_kinds_and_round_trips():
    for name in CONTEXTUAL_POLICIES:
        policy = make_contextual_policy(name, {"floor": 0.01})
        assert make_contextual_policy(name, {k: v for k, v in policy.to_dict().items() if k != "name"}) == policy
        assert set(policy_parameters(name)) == set(policy.params())
    assert make_policy("thompson").name == "thompson" and set(POLICIES).isdisjoint(CONTEXTUAL_POLICIES)
    with pytest.raises(InputError, match="contextual.policy.name: got 'thompson', expected one of linucb, lin-ts"):
        make_contextual_policy("thompson", field="contextual.policy")
    with pytest.raises(InputError, match="policy.name: got 'linucb', expected one of thompson"):
        make_policy("linucb")
    with pytest.raises(InputError, match="policy.alpha: got 1, expected a parameter of lin-ts: floor, draws, l2, v"):
        make_contextual_policy("lin-ts", {"alpha": 1})
    with pytest.raises(InputError, match="policy.covariance: got 'sparse', expected one of full, diagonal"):
        make_contextual_policy("logistic-ts", {"covariance": "sparse"})
    assert LinearState.empty(K, D, (2, 3)).xx.shape == (2, 3, K, D, D)
