"""Served contextual models: best-arm probabilities against direct numerical integration
(scipy.integrate.quad of the defining integral) and exact special cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import norm

from promolab.adaptive.served import ServedModel, best_arm_probabilities, floored
from promolab.errors import InputError


def quad_probabilities(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """P(a best) = ∫ pdf_a(s) Π_b F_b(s) ds with scipy's adaptive quadrature (σ > 0 everywhere)."""
    out = []
    for a in range(mean.size):
        others = [b for b in range(mean.size) if b != a]

        def integrand(s: float) -> float:
            return norm.pdf(s, mean[a], sd[a]) * np.prod([norm.cdf(s, mean[b], sd[b]) for b in others])

        lo, hi = mean[a] - 12 * sd[a], mean[a] + 12 * sd[a]
        points = [m for m in mean if lo < m < hi]
        value, _ = integrate.quad(integrand, lo, hi, points=points or None, limit=500, epsabs=1e-13)
        out.append(value)
    return np.array(out)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(0.02, 3)), min_size=2, max_size=5))
def test_probabilities_equal_direct_integration(arms: list[tuple[float, float]]) -> None:
    mean = np.array([m for m, _ in arms])
    sd = np.array([s for _, s in arms])
    expected = quad_probabilities(mean, sd)
    # within 2e-5 (the documented accuracy; far below any propensity's sampling noise)
    assert np.allclose(best_arm_probabilities(mean, sd), expected / expected.sum(), atol=2e-5)


def test_point_masses() -> None:
    # arm 1 wins iff its score exceeds 0.2: 1 − Φ(0.1 / 0.3)
    p = best_arm_probabilities(np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.3, 0.0]))
    assert p[0] == 0.0
    assert p[1] == pytest.approx(1 - norm.cdf(0.1 / 0.3), abs=2e-5)
    assert p.sum() == pytest.approx(1.0)
    tie = best_arm_probabilities(np.array([1.0, 1.0, 0.0]), np.zeros(3))
    assert tie.tolist() == [0.5, 0.5, 0.0]


def test_vectorised_over_users_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(4)
    mean, sd = rng.normal(size=(50, 3)), rng.uniform(0.05, 1.0, size=(50, 3))
    batch = best_arm_probabilities(mean, sd)
    assert np.allclose(batch, [best_arm_probabilities(m, s) for m, s in zip(mean, sd)], atol=0, rtol=1e-12)


def test_model_policies_and_floor() -> None:
    phi = np.array([[1.0, 2.0], [1.0, -1.0]])
    greedy = ServedModel("greedy", np.array([[0.0, 0.0], [0.5, 0.1], [-0.2, 0.4]]))
    # scores: user 0 → 0, 0.7, 0.6 (offer 1); user 1 → 0, 0.4, −0.6 (offer 1)
    assert greedy.probabilities(phi).tolist() == [[0, 1, 0], [0, 1, 0]]
    assert np.allclose(floored(greedy.probabilities(phi), 0.1), [[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    cov = np.stack([np.eye(2)] * 3)
    ucb = ServedModel("ucb", greedy.mean, cov, alpha=1.0)
    mu, sd = ucb.scores(phi)
    assert np.allclose(sd, np.sqrt([[5, 5, 5], [2, 2, 2]]))
    thompson = ServedModel("thompson", greedy.mean, cov)
    assert np.allclose(thompson.probabilities(phi)[0], best_arm_probabilities(mu[0], sd[0]))


def test_stored_models_are_validated() -> None:
    model = ServedModel("ucb", np.zeros((2, 3)), np.stack([np.eye(3)] * 2), alpha=0.5)
    again = ServedModel.from_dict(model.to_dict(), 2, 3)
    assert again.kind == "ucb" and again.alpha == 0.5 and np.array_equal(again.cov, model.cov)
    with pytest.raises(InputError, match="model.mean"):
        ServedModel.from_dict(model.to_dict(), 3, 3)
    with pytest.raises(InputError, match="model.kind"):
        ServedModel.from_dict({**model.to_dict(), "kind": "oracle"}, 2, 3)
    with pytest.raises(InputError, match="model.cov"):
        ServedModel("thompson", np.zeros((2, 3)))
    with pytest.raises(InputError, match="model"):
        ServedModel.from_dict({"kind": "ucb"}, 2, 3)
