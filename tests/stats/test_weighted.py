"""Self-normalised IPS means against statsmodels: the value is the weighted mean of
``DescrStatsW`` and the delta-method standard error is the HC0 (sandwich) standard error of a
weighted least-squares fit of the reward on an intercept with weights 1 / propensity."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.weightstats import DescrStatsW

from promolab.errors import InputError
from promolab.stats import WeightedStats, snips_mean


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 400), st.integers(0, 2**32 - 1), st.booleans())
def test_snips_equals_statsmodels(n: int, seed: int, binary: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 1.0, n)
    r = (rng.random(n) < 0.3).astype(float) if binary else rng.gamma(2.0, 10.0, n)
    est = snips_mean(WeightedStats.of(r, p), alpha=0.1)
    w = 1 / p
    assert est.value == pytest.approx(DescrStatsW(r, weights=w).mean, rel=1e-12, abs=1e-12)
    fit = sm.WLS(r, np.ones(n), weights=w).fit(cov_type="HC0")
    assert est.se == pytest.approx(fit.bse[0], rel=1e-9, abs=1e-12)
    assert est.effective_n == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-12)
    lo, hi = fit.conf_int(alpha=0.1)[0]
    assert (est.lower, est.upper) == pytest.approx((lo, hi), rel=1e-9, abs=1e-12)


def test_statistics_add_across_batches() -> None:
    rng = np.random.default_rng(1)
    r, p = rng.random(100), rng.uniform(0.1, 1, 100)
    whole = WeightedStats.of(r, p)
    parts = WeightedStats.of(r[:40], p[:40]) + WeightedStats.of(r[40:], p[40:])
    assert snips_mean(parts).value == pytest.approx(snips_mean(whole).value, rel=1e-12)
    assert snips_mean(WeightedStats.of(np.array([]), np.array([]))) is None


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5, np.nan])
def test_propensities_must_be_probabilities(p: float) -> None:
    with pytest.raises(InputError, match=r"propensity\[row 1\]"):
        WeightedStats.of(np.array([1.0, 0.0]), np.array([0.5, p]))
