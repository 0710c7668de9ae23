"""A target policy given as data: the ``{prefix}{action}`` column format, read back exactly, and
every malformed table refused with an error naming the column, the row and the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.errors import InputError
from promolab.sim.target_policy import TOLERANCE, check_target, read_target, target_from_frame

PREFIX = "p_"
labels = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8),
                  min_size=2, max_size=6, unique=True)


@st.composite
def policies(draw):
    """(arms, (n, K) probabilities as integer weights / their row sum, with zero columns)."""
    arms = tuple(draw(labels))
    n = draw(st.integers(1, 12))
    weights = np.array(draw(st.lists(st.lists(st.integers(0, 9), min_size=len(arms), max_size=len(arms)),
                                     min_size=n, max_size=n)), dtype=float)
    weights[weights.sum(axis=1) == 0, 0] = 1.0
    return arms, weights / weights.sum(axis=1, keepdims=True)


def frame_of(arms, target, rng, drop_zero_columns=True):
    """The file format: shuffled columns, an unrelated column, columns of actions never played left out."""
    columns = {f"{PREFIX}{arm}": target[:, k] for k, arm in enumerate(arms)
               if not (drop_zero_columns and not target[:, k].any())}
    columns["user"] = np.arange(target.shape[0])
    order = rng.permutation(list(columns))
    return pd.DataFrame({c: columns[c] for c in order})


@settings(max_examples=150, deadline=None)
@given(policies(), st.randoms(use_true_random=False))
def test_a_well_formed_table_reads_back_exactly(policy, random):
    arms, target = policy
    rng = np.random.default_rng(random.randint(0, 2**32))
    read = target_from_frame(frame_of(arms, target, rng), arms, target.shape[0], PREFIX)
    np.testing.assert_allclose(read, target, rtol=0, atol=1e-15)


@settings(max_examples=150, deadline=None)
@given(policies(), st.data())
def test_a_value_outside_zero_one_names_its_column_and_row(policy, data):
    arms, target = policy
    row = data.draw(st.integers(0, target.shape[0] - 1))
    k = data.draw(st.integers(0, len(arms) - 1))
    bad = data.draw(st.one_of(st.floats(max_value=-2 * TOLERANCE, allow_nan=False),
                              st.floats(min_value=1 + 2 * TOLERANCE), st.just(float("nan"))))
    target = target.copy()
    target[row, k] = bad
    frame = frame_of(arms, target, np.random.default_rng(0), drop_zero_columns=False)
    with pytest.raises(InputError) as err:
        target_from_frame(frame, arms, target.shape[0], PREFIX, source="t.csv")
    first = np.argwhere(~((target >= -TOLERANCE) & (target <= 1 + TOLERANCE)))[0]  # the first bad cell, in row order
    assert err.value.field == f"{PREFIX}{arms[first[1]]}[row {first[0]}]"
    assert str(err.value).startswith("t.csv: ") and "\n" not in str(err.value)


@settings(max_examples=150, deadline=None)
@given(policies(), st.data())
def test_a_row_not_summing_to_one_is_named(policy, data):
    arms, target = policy
    row = data.draw(st.integers(0, target.shape[0] - 1))
    factor = data.draw(st.sampled_from([0.9, 1 - 1e-5, 1 - 3 * TOLERANCE, 0.0]))
    target = target.copy()
    target[row] *= factor
    with pytest.raises(InputError) as err:
        target_from_frame(frame_of(arms, target, np.random.default_rng(1), drop_zero_columns=False), arms,
                          target.shape[0], PREFIX)
    assert err.value.field == f"target[row {row}]"
    assert err.value.value == pytest.approx(factor)
    assert "summing to 1" in err.value.expected


@settings(max_examples=100, deadline=None)
@given(policies(), st.floats(-TOLERANCE / 2, TOLERANCE / 2))
def test_rounding_within_the_tolerance_passes_and_is_undone(policy, off):
    arms, target = policy
    read = check_target(target * (1 + off), target.shape[0])
    np.testing.assert_allclose(read.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert read.min() >= 0 and read.max() <= 1


@settings(max_examples=100, deadline=None)
@given(policies(), st.text(min_size=1, max_size=8))
def test_a_column_for_an_action_not_in_the_log_is_named(policy, unknown):
    arms, target = policy
    if unknown in arms:
        return
    frame = frame_of(arms, target, np.random.default_rng(2)).assign(**{f"{PREFIX}{unknown}": 0.0})
    with pytest.raises(InputError) as err:
        target_from_frame(frame, arms, target.shape[0], PREFIX)
    assert err.value.value == f"{PREFIX}{unknown}" and repr(unknown) in err.value.expected


@settings(max_examples=50, deadline=None)
@given(policies(), st.integers(-3, 3).filter(bool))
def test_the_row_count_must_match_the_log(policy, extra):
    arms, target = policy
    rows = target.shape[0] + extra
    if rows < 1:
        return
    with pytest.raises(InputError, match=rf"^target rows: got {target.shape[0]}, expected {rows:,}: one row per"):
        target_from_frame(frame_of(arms, target, np.random.default_rng(3)), arms, rows, PREFIX)


def test_no_target_columns_and_non_numbers_are_refused():
    arms = ("a", "b")
    with pytest.raises(InputError, match=r"^target columns: got \['user'\], expected one column per action named 'p_'"):
        target_from_frame(pd.DataFrame({"user": [1]}), arms, 1, PREFIX)
    with pytest.raises(InputError, match=r"^p_b\[row 1\]: got 'x', expected a probability in \[0, 1\]"):
        target_from_frame(pd.DataFrame({"p_a": [1.0, 0.5], "p_b": ["0", "x"]}), arms, 2, PREFIX)


def test_arrays_are_checked_like_files():
    assert check_target(np.array([0.25, 0.75]), 3).shape == (3, 2)  # one distribution for every row
    with pytest.raises(InputError, match=r"^target.0\[row 2\]: got -0.5, expected a probability in \[0, 1\]"):
        check_target(np.array([[0.5, 0.5], [0.5, 0.5], [-0.5, 1.5]]), 3)
    with pytest.raises(InputError, match=r"^target: got \(2, 2\), expected \(3, K\) probabilities"):
        check_target(np.full((2, 2), 0.5), 3)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_target_from_a_file(tmp_path, suffix):
    arms = ("10% off", "free shipping", "none")
    frame = pd.DataFrame({"p_none": [0.5, 0.0], "p_10% off": [0.5, 1.0], "segment": ["x", "y"]})
    path = tmp_path / f"target{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    np.testing.assert_array_equal(read_target(path, arms, 2), [[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    with pytest.raises(InputError, match=rf"^{path}: target rows: got 2, expected 3"):
        read_target(path, arms, 3)
