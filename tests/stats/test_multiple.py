"""Multiple-testing adjustment vs statsmodels and textbook values."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from promolab.errors import InputError
from promolab.stats import adjust_pvalues

P = [0.01, 0.04, 0.03, 0.005, 0.20]


@pytest.fixture(autouse=True)
def _small_collections():
    """statsmodels' Holm branch calls ``gc.collect()`` on every call, whose cost grows with
    the heap: late in a full test session each call took ~100 ms (these property tests 38 s,
    5 s alone). Freezing the objects that already exist keeps each collection small; the
    statistics are unchanged."""
    gc.freeze()
    yield
    gc.unfreeze()


def test_holm_worked_example():
    # sorted 0.005, 0.01, 0.03, 0.04, 0.20 × (5, 4, 3, 2, 1) = 0.025, 0.04, 0.09, 0.08→0.09, 0.20
    np.testing.assert_allclose(adjust_pvalues(P, "holm"), [0.04, 0.09, 0.09, 0.025, 0.20])


def test_bh_worked_example():
    # p_(k)·m/k: 0.025, 0.025, 0.05, 0.05, 0.20 (step-up minimum from the top)
    np.testing.assert_allclose(adjust_pvalues(P, "bh"), [0.025, 0.05, 0.05, 0.025, 0.20])


@pytest.mark.parametrize("method,sm", [("holm", "holm"), ("bh", "fdr_bh")])
def test_matches_statsmodels(method, sm):
    p = np.random.default_rng(0).uniform(0, 0.2, 25)
    np.testing.assert_allclose(adjust_pvalues(list(p), method), multipletests(p, method=sm)[1], rtol=1e-12)


def test_none_and_default_and_empty():
    np.testing.assert_array_equal(adjust_pvalues(P, "none"), P)
    np.testing.assert_allclose(adjust_pvalues(P), adjust_pvalues(P, "holm"))
    assert adjust_pvalues([], "bh").shape == (0,)
    assert isinstance(adjust_pvalues(np.array(P)), np.ndarray)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.sampled_from(["holm", "bh"]))
def test_adjusted_are_monotone_and_not_below_raw(p, method):
    raw = np.asarray(p)
    adj = adjust_pvalues(p, method)
    assert adj.shape == raw.shape
    assert np.all(adj >= raw - 1e-15) and np.all(adj <= 1.0)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)  # adjustment keeps the order of the p-values


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_bh_never_exceeds_holm(p):
    assert np.all(adjust_pvalues(p, "bh") <= adjust_pvalues(p, "holm") + 1e-15)


@pytest.mark.parametrize(
    "p,method,field",
    [
        (P, "bonferroni", "method"),
        (P, "BH", "method"),
        ([0.1, 1.5], "holm", "p_values[1]"),
        ([-0.1], "holm", "p_values[0]"),
        ([float("nan")], "bh", "p_values[0]"),
        (["0.1"], "bh", "p_values[0]"),
        ("0.1", "bh", "p_values"),
        (0.1, "bh", "p_values"),
    ],
)
def test_validation(p, method, field):
    with pytest.raises(InputError) as e:
        adjust_pvalues(p, method)
    assert e.value.field == field
