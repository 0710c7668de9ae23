"""Lan-DeMets spending functions: closed forms (Lan & DeMets 1983; Hwang, Shih & DeCani 1990;
Kim & DeMets 1987; the formulas as documented for gsDesign sfLDOF/sfLDPocock/sfHSD/sfPower)."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from promolab.errors import InputError
from promolab.stats.sequential.spending import (
    HwangShihDeCaniSpending,
    ObrienFlemingSpending,
    PocockSpending,
    PowerSpending,
    spending_function,
)

FAMILIES = [
    ObrienFlemingSpending(0.025),
    PocockSpending(0.025),
    HwangShihDeCaniSpending(0.025, -4.0),
    HwangShihDeCaniSpending(0.025, 1.0),
    HwangShihDeCaniSpending(0.025, 0.0),
    PowerSpending(0.025, 3.0),
]


@pytest.mark.parametrize("f", FAMILIES, ids=repr)
def test_spends_nothing_at_start_everything_at_end_and_increases(f):
    t = np.linspace(0, 1, 101)
    spent = f.spent(t)
    assert f.spent(0.0) == 0.0
    assert f.spent(1.0) == pytest.approx(0.025, abs=1e-15)
    assert np.all(np.diff(spent) >= 0)


def test_closed_forms():
    t = 0.4
    assert ObrienFlemingSpending(0.05).spent(t) == pytest.approx(2 - 2 * norm.cdf(norm.ppf(0.975) / math.sqrt(t)))
    assert PocockSpending(0.05).spent(t) == pytest.approx(0.05 * math.log(1 + (math.e - 1) * t))
    assert HwangShihDeCaniSpending(0.05, -4).spent(t) == pytest.approx(0.05 * (1 - math.exp(4 * t)) / (1 - math.exp(4)))
    assert HwangShihDeCaniSpending(0.05, 0).spent(t) == pytest.approx(0.05 * t)
    assert PowerSpending(0.05, 2).spent(t) == pytest.approx(0.05 * t**2)


def test_factory_and_frozen():
    f = spending_function("hsd", 0.05, gamma=-2.0)
    assert f == HwangShihDeCaniSpending(0.05, -2.0)
    with pytest.raises(AttributeError):
        f.alpha = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, -0.1])
def test_bad_alpha_names_the_value(alpha):
    with pytest.raises(InputError, match=rf"alpha: got {alpha}"):
        ObrienFlemingSpending(alpha)


def test_bad_parameters():
    with pytest.raises(InputError, match="gamma: got 50"):
        HwangShihDeCaniSpending(0.05, 50)
    with pytest.raises(InputError, match="rho: got 0"):
        PowerSpending(0.05, 0)
    with pytest.raises(InputError, match="spending: got 'linear'"):
        spending_function("linear", 0.05)
    with pytest.raises(InputError, match="information_fraction"):
        PocockSpending(0.05).spent(1.2)
