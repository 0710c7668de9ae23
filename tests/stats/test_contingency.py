"""Pearson's chi-square test of independence against scipy.stats.chi2_contingency."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import chi2_contingency

from promolab.stats.contingency import chi2_independence


@settings(max_examples=150, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=st.integers(0, 10**6)))
def test_equals_scipys_chi2_contingency_without_correction(table: np.ndarray):
    """Rows and columns without counts are left out (scipy refuses their zero expected counts)."""
    kept = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    statistic, dof, p = chi2_independence(table)
    if min(kept.shape) < 2:
        assert (statistic, dof, p) == (0.0, 0, 1.0)
        return
    reference = chi2_contingency(kept, correction=False)
    assert statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-9)
    assert dof == reference.dof
    assert p == pytest.approx(reference.pvalue, rel=1e-8, abs=1e-300)


def test_a_textbook_table():
    """Agresti (2007), Table 2.5: party identification by gender, X² = 30.07 on 2 df."""
    statistic, dof, p = chi2_independence(np.array([[762, 327, 468], [484, 239, 477]]))
    assert statistic == pytest.approx(30.07, abs=0.005) and dof == 2 and p < 1e-6
