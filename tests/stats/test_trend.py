"""``weighted_trend``: the WLS slope of per-period estimates against the closed form and statsmodels'
``WLS``, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.regression.linear_model import WLS

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


@pytest.mark.parametrize("seed", range(5))
def test_slope_ci_p_and_intercept_match_statsmodels_wls(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    x = np.sort(rng.uniform(0, 30, n))
    se = rng.uniform(0.001, 0.05, n)
    y = rng.normal(0.02, 0.01) + rng.normal(0, 0.002) * x + rng.normal(0, se) * rng.uniform(0.5, 2)
    fit = WLS(y, np.column_stack([np.ones(n), x]), weights=1 / se ** 2).fit()
    low, high = fit.conf_int(alpha=0.05)[1]
    got = weighted_trend(x, y, se)
    assert [got.slope, got.intercept] == pytest.approx([fit.params[1], fit.params[0]], rel=1e-8, abs=1e-12)
    assert [got.ci_low, got.ci_high] == pytest.approx([low, high], rel=1e-8)
    assert got.p_value == pytest.approx(fit.pvalues[1], rel=1e-7, abs=1e-300)
    assert got.df == fit.df_resid


def test_an_exact_line_has_zero_width_and_p_zero() -> None:
    got = weighted_trend([0, 1, 2, 3], [1.0, 1.5, 2.0, 2.5], [0.1, 0.2, 0.1, 0.3])
    assert got.slope == pytest.approx(0.5) and got.ci_high - got.ci_low == pytest.approx(0, abs=1e-12)
    assert got.p_value == pytest.approx(0, abs=1e-12)


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
