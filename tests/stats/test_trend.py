"""``weighted_trend``: the WLS slope of per-period estimates against the closed form, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from promolab.errors import InputError
from promolab.stats.trend import weighted_trend


def test_slope_ci_and_p_are_the_weighted_least_squares_formulas() -> None:
    rng = np.random.default_rng(3)
    x = np.arange(12, dtype=float)
    se = rng.uniform(0.005, 0.02, 12)
    y = 0.05 - 0.003 * x + rng.normal(0, se)
    w = 1 / se ** 2
    xbar, ybar = np.sum(w * x) / w.sum(), np.sum(w * y) / w.sum()
    sxx = np.sum(w * (x - xbar) ** 2)
    slope = np.sum(w * (x - xbar) * (y - ybar)) / sxx
    resid = y - (ybar + slope * (x - xbar))
    scale = np.sum(w * resid ** 2) / (len(x) - 2)  # the residual scale is estimated
    se_slope = np.sqrt(scale / sxx)
    crit = st.t.ppf(0.95, len(x) - 2)
    got = weighted_trend(x, y, se, alpha=0.1)
    assert got.slope == pytest.approx(slope, rel=1e-10)
    assert [got.ci_low, got.ci_high] == pytest.approx([slope - crit * se_slope, slope + crit * se_slope], rel=1e-10)
    assert got.p_value == pytest.approx(2 * st.t.sf(abs(slope / se_slope), len(x) - 2), rel=1e-9)
    assert got.intercept == pytest.approx(ybar - slope * xbar, rel=1e-10)
    assert (got.periods, got.df) == (12, 10)


@pytest.mark.parametrize(("x", "y", "se", "field"), [
    ([0, 1], [0.1, 0.2], [0.01, 0.01], "periods"),
    ([1, 1, 1], [0.1, 0.2, 0.3], [0.01, 0.01, 0.01], "periods"),
    ([0, 1, 2], [0.1, 0.2, 0.3], [0.01, 0.0, 0.01], "se"),
    ([0, 1, 2], [0.1, float("nan"), 0.3], [0.01, 0.01, 0.01], "estimate"),
    ([0, 1, 2], [0.1, 0.2], [0.01, 0.01, 0.01], "estimate"),
])
def test_bad_input_names_the_field(x, y, se, field) -> None:
    with pytest.raises(InputError) as exc:
        weighted_trend(x, y, se)
    assert exc.value.field == field
