"""XXH64 port against the reference implementation, byte layout, uniformity, inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from promolab.assign import (
    EncodedIds,
    hash_uniform,
    hash_uniform_one,
    xxh64,
    xxh64_one,
)
from promolab.errors import InputError

seeds = st.one_of(st.sampled_from([0, 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))
ascii_ids = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=140)


def reference(ids, seed=0, prefix=b""):
    return [xxhash.xxh64_intdigest(prefix + str(i).encode("utf-8"), seed) for i in ids]


def reference_uniform(ids, salt):
    return [h >> 11 for h in reference(ids, 0, salt.encode() + b":")]


@settings(max_examples=200)
@given(st.lists(st.text(max_size=140), max_size=30), seeds)
def test_equals_reference_on_unicode_strings(ids, seed):
    assert xxh64(ids, seed).tolist() == reference(ids, seed)


@settings(max_examples=100)
@given(st.lists(ascii_ids, max_size=30), seeds)
def test_equals_reference_on_numpy_unicode_arrays(ids, seed):
    arr = np.array(ids, dtype=str)  # numpy drops trailing NULs: hash what the array holds
    assert xxh64(arr, seed).tolist() == reference(arr.tolist(), seed)


def test_every_length_and_mixed_lengths_in_one_call():
    ids = ["".join(chr(97 + (i * 7 + j) % 26) for j in range(i)) for i in range(300)]
    ids += ["é" * i for i in range(70)] + ["😀x" * i for i in range(40)]
    for seed in (0, 42, 2**64 - 1):
        assert xxh64(ids, seed).tolist() == reference(ids, seed)
    ascii_only = np.array(ids[:300])
    assert xxh64(ascii_only, 7).tolist() == reference(ids[:300], 7)


@settings(max_examples=100)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=20), st.text(max_size=45))
def test_uniform_is_top_53_bits_of_salt_colon_id(ids, salt):
    u = hash_uniform(ids, salt)
    assert u.dtype == np.float64
    assert ((u >= 0) & (u < 1)).all()
    assert (u * 2.0**53).astype(np.uint64).tolist() == reference_uniform(ids, salt)


def test_documented_example_byte_string():
    expected = (xxhash.xxh64_intdigest(b"promo:promo:variant:user-1") >> 11) / 2**53
    assert hash_uniform(["user-1"], "promo:promo:variant")[0] == expected
    assert hash_uniform_one("user-1", "promo:promo:variant") == expected


def test_scalar_functions_match_vector():
    ids = ["", "a", "user-1234567", "ü" * 33, 12345]
    assert [xxh64_one(i, 9) for i in ids] == xxh64(ids, 9).tolist()
    assert [hash_uniform_one(i, "s") for i in ids] == hash_uniform(ids, "s").tolist()


def test_int_ids_hash_as_their_decimal_string():
    ints = [0, 7, -3, 10**15, 2**63 - 1]
    strs = [str(i) for i in ints]
    expected = reference(strs)
    assert xxh64(ints).tolist() == expected
    assert xxh64(np.array(ints, dtype=np.int64)).tolist() == expected
    assert xxh64(pd.Series(ints)).tolist() == expected
    assert xxh64(pd.Series(strs, index=[5, 4, 3, 2, 1])).tolist() == expected
    assert xxh64(np.array(strs, dtype=object)).tolist() == expected
    assert xxh64(iter(strs)).tolist() == expected


def test_encoded_ids_reused_across_salts():
    ids = np.array([f"user-{i}" for i in range(1000)] + ["x" * 50, ""])
    enc = EncodedIds(ids)
    for salt in ("a", "exp:exp:coverage", "a-salt-long-enough-to-span-a-whole-stripe"):
        assert enc.uniform(salt).tolist() == hash_uniform(ids.tolist(), salt).tolist()


def test_no_overflow_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xxh64([f"user-{i}" for i in range(100)] + ["y" * 77], 2**64 - 1)
        hash_uniform(np.array(["a", "bb"]), "salt")


def test_uniform_chi_square():
    u = hash_uniform(np.char.add("user-", np.arange(200_000).astype(str)), "promo:promo:variant")
    observed = np.bincount((u * 100).astype(int), minlength=100)
    assert chisquare(observed).pvalue > 1e-4


def test_empty():
    assert xxh64([]).shape == (0,)
    assert hash_uniform(np.array([], dtype=str), "s").shape == (0,)


@pytest.mark.parametrize(
    "bad",
    ["user-1", b"user-1", [1.5], [None], [b"x"], np.array([1.5]), np.array([["a"]]), ["\ud800"]],
)
def test_bad_ids_are_refused(bad):
    with pytest.raises(InputError, match="user_ids"):
        xxh64(bad)


def test_bad_seed_is_refused():
    with pytest.raises(InputError, match="seed"):
        xxh64(["a"], -1)
    with pytest.raises(InputError, match="seed"):
        xxh64(["a"], 2**64)


@settings(max_examples=30)
@given(
    st.lists(st.one_of(ascii_ids, st.text(max_size=20)), min_size=1, max_size=40),
    st.data(),
)
def test_subset_hashes_the_selected_ids(ids, data):
    index = data.draw(st.lists(st.integers(0, len(ids) - 1), max_size=len(ids)))
    inner = data.draw(st.lists(st.integers(0, max(len(index) - 1, 0)), max_size=len(index)))
    inner = inner if index else []
    for source in (ids, np.array(ids, dtype=str)):
        enc = EncodedIds(source)
        chosen = [str(source[i]) for i in index]
        assert enc.subset(index).xxh64(b"p:", 5).tolist() == reference(chosen, 5, b"p:")
        twice = enc.subset(index).subset(inner).uniform("s")
        assert twice.tolist() == hash_uniform([chosen[j] for j in inner], "s").tolist()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(ascii_ids, st.text(max_size=40)), max_size=40), st.integers(0, 5), st.integers(0, 5))
def test_arrow_columns_hash_their_buffers_bit_for_bit(ids, head, tail):
    """pandas ``string[pyarrow]`` / ArrowDtype columns and Arrow arrays (sliced, chunked, 32- and
    64-bit offsets) are hashed from their buffers: the same digests as the reference."""
    import pyarrow as pa

    expected = reference(ids, 7, b"p:")
    padded = ["x" * head] * head + ids + ["y"] * tail
    sliced = pa.array(padded, pa.string()).slice(head, len(ids))
    chunked = pa.chunked_array([pa.array(ids[: len(ids) // 2], pa.large_string()),
                                pa.array(ids[len(ids) // 2:], pa.large_string())], pa.large_string())
    for column in (pd.Series(ids, dtype="string[pyarrow]"), pd.Series(ids, dtype=pd.ArrowDtype(pa.large_string())),
                   sliced, chunked, pa.array(ids, pa.large_string())):
        assert EncodedIds(column).xxh64(b"p:", 7).tolist() == expected, type(column)
    assert hash_uniform(pd.Series(ids, dtype="string[pyarrow]"), "s").tolist() == hash_uniform(ids, "s").tolist()


def test_arrow_columns_with_missing_or_non_text_values_are_refused():
    import pyarrow as pa

    for bad in (pd.Series(["a", None], dtype="string[pyarrow]"), pa.array([1.5, 2.0]), pa.array([b"x"])):
        with pytest.raises(InputError) as info:
            hash_uniform(bad, "s")
        assert info.value.field == "user_ids"
    assert hash_uniform(pa.array([7, 12]), "s").tolist() == hash_uniform(["7", "12"], "s").tolist()
