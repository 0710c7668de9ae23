"""A randomised table with known heterogeneous effects of two offers (imported by tests/uplift).

x1 ~ N(0, 1), x2 ~ Bernoulli(1/2), region uniform over three values (no effect); arms
control / A / B with probability 1/3 each;

    μ_0(x) = 1 + 0.5·x1 + 0.3·x2,   τ_A(x) = x1,   τ_B(x) = 0.8·x2 − 0.4,
    y = μ_0(x) + τ_arm(x) + N(0, 1).

Every blanket policy is worth about E[μ_0] = 1.15 per user; the optimal policy (the arm with
the largest τ, control when none is positive) about 1.15 + E[max(0, x1, 0.8·x2 − 0.4)].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ARMS = ("control", "A", "B")
FEATURES = ["x1", "x2", "region"]


def effects(frame: pd.DataFrame) -> np.ndarray:
    """True τ_A, τ_B per row, (n, 2)."""
    return np.column_stack([frame["x1"], 0.8 * frame["x2"] - 0.4])


def synthetic(n: int = 6000, seed: int = 0, noise: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": rng.integers(0, 2, size=n),
        "region": rng.choice(["north", "south", "west"], size=n),
        "arm": rng.choice(ARMS, size=n),
    })
    tau = np.column_stack([np.zeros(n), effects(frame)])
    mu0 = 1 + 0.5 * frame["x1"] + 0.3 * frame["x2"]
    index = pd.Categorical(frame["arm"], categories=ARMS).codes
    frame["y"] = mu0 + tau[np.arange(n), index] + noise * rng.normal(size=n)
    frame["converted"] = (frame["y"] > 1.5).astype(int)
    return frame


def optimal_action(frame: pd.DataFrame) -> np.ndarray:
    """0 (control), 1 (A) or 2 (B): the arm with the largest true effect, control unless positive."""
    tau = np.column_stack([np.zeros(len(frame)), effects(frame)])
    return tau.argmax(axis=1)


def true_value(frame: pd.DataFrame, action: np.ndarray) -> float:
    """E[y | policy] per user for these users: μ_0 + τ of the chosen arm."""
    tau = np.column_stack([np.zeros(len(frame)), effects(frame)])
    mu0 = 1 + 0.5 * frame["x1"] + 0.3 * frame["x2"]
    return float(np.mean(mu0 + tau[np.arange(len(frame)), action]))
