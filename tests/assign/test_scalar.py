"""The scalar one-user path (xxhash, dict targeting) equals the vectorised ``assign``."""

from __future__ import annotations


import numpy as np
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promolab.assign import assign, assign_one
from promolab.assign.hashing import hash_uniform
from promolab.assign.scalar import assign_index, compile_experiment, uniform_one, user_bytes
from promolab.errors import InputError
from promolab.spec.model import Experiment, Layer, Metric, TargetRule, Variant

OPS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in"]
ATTRS = ["country", "orders", "tier"]

user_ids = st.one_of(
    st.text(min_size=0, max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=12),
    st.integers(-(10**20), 10**20),
)
scalars = st.one_of(
    st.sampled_from(["US", "CA", "FR", "", "us", "ÜS"]),
    st.text(max_size=6),
    st.integers(-5, 5),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1.0, 3.0, -0.0]),
    st.booleans(),
    st.none(),
)
rule_values = st.one_of(scalars, st.lists(scalars, max_size=4), st.tuples(scalars, scalars))


@st.composite
def experiments(draw):
    n = draw(st.integers(1, 5))
    weights = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.0, 10.0)), min_size=n, max_size=n))
    if sum(weights) <= 0:
        weights[draw(st.integers(0, n - 1))] = 1.0
    variants = tuple(Variant(f"v{i}", f"V{i}", 1.0) for i in range(n))
    rules = tuple(TargetRule(draw(st.sampled_from(ATTRS)), draw(st.sampled_from(OPS)), draw(rule_values))
                  for _ in range(draw(st.integers(0, 3))))
    layer = draw(st.one_of(st.none(), st.builds(
        lambda k, a, b: Layer(k, min(a, b), max(a, b)),
        st.sampled_from(["checkout", "home", "ü"]), st.floats(0, 1), st.floats(0, 1))))
    coverage = draw(st.one_of(st.just(1.0), st.just(0.0), st.floats(0.0, 1.0)))
    exp = Experiment(draw(st.sampled_from(["promo", "checkout-coupon", "x1"])), "n", "h", "o", variants, "v0",
                     (Metric("m", "binomial"),), coverage=coverage, layer=layer, targeting=rules,
                     salt=draw(st.one_of(st.none(), st.text(max_size=5))))
    return exp, tuple(weights)


attributes = st.one_of(st.none(), st.dictionaries(st.sampled_from(ATTRS), scalars, max_size=3))


def vectorised(exp, user_id, attrs, weights):
    batch = None if attrs is None else {k: [v] for k, v in attrs.items()}
    try:
        return int(assign(exp, [user_id], batch, weights)[0])
    except InputError as exc:
        return ("error", exc.field, repr(exc.value), exc.expected)
    except Exception as exc:  # whatever the vectorised path raises, the scalar path must raise too
        return ("exception", type(exc).__name__)


def scalar(exp, user_id, attrs, weights):
    try:
        return compile_experiment(exp, weights).index(user_id, attrs)
    except InputError as exc:
        return ("error", exc.field, repr(exc.value), exc.expected)
    except Exception as exc:  # whatever the vectorised path raises, the scalar path must raise too
        return ("exception", type(exc).__name__)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(experiments(), st.lists(st.tuples(user_ids, attributes), min_size=1, max_size=6))
def test_scalar_equals_vectorised(spec, users):
    exp, weights = spec
    for user_id, attrs in users:
        assert scalar(exp, user_id, attrs, weights) == vectorised(exp, user_id, attrs, weights), (user_id, attrs)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=6), st.floats(0.0, 1.0), user_ids)
def test_scalar_equals_vectorised_without_targeting(weights, coverage, user_id):
    if sum(weights) <= 0:
        weights = [1.0] + weights[1:]
    variants = tuple(Variant(f"v{i}", f"V{i}", w) for i, w in enumerate(weights))
    exp = Experiment("promo", "n", "h", "o", variants, "v0", (Metric("m", "binomial"),), coverage=coverage)
    assert scalar(exp, user_id, None, None) == vectorised(exp, user_id, None, None)
    assert scalar(exp, user_id, None, weights[::-1]) == vectorised(exp, user_id, None, weights[::-1])


def test_many_users_on_a_realistic_spec():
    rules = (TargetRule("country", "in", ["US", "CA"]), TargetRule("orders", "gte", 1))
    variants = tuple(Variant(k, k, w) for k, w in [("a", 1), ("b", 2), ("c", 0), ("d", 1)])
    exp = Experiment("checkout-coupon", "n", "h", "o", variants, "a", (Metric("m", "binomial"),), coverage=0.6,
                     layer=Layer("checkout", 0.1, 0.8), targeting=rules)
    rng = np.random.default_rng(3)
    n = 20_000
    ids = [f"user-{i}" for i in range(n)]
    country = rng.choice(["US", "CA", "DE"], n).tolist()
    orders = rng.integers(0, 4, n).tolist()
    expected = assign(exp, ids, {"country": country, "orders": orders}, [0.1, 0.5, 0.0, 0.4]).tolist()
    compiled = compile_experiment(exp, [0.1, 0.5, 0.0, 0.4])
    got = [compiled.index(u, {"country": c, "orders": o}) for u, c, o in zip(ids, country, orders)]
    assert got == expected
    assert len(set(got) - {-1}) == 3  # every positive-weight variant is reached


def test_uniform_one_matches_numpy_hash():
    ids = ["user-1", "ü-2", "", "x" * 100, "42"]
    for salt in ["promo:promo:variant", "checkout:layer", ""]:
        expected = hash_uniform(ids, salt).tolist()
        assert [uniform_one(f"{salt}:".encode(), user_bytes(u)) for u in ids] == expected
    assert uniform_one(b"s:", b"u") == (xxhash.xxh64_intdigest(b"s:u") >> 11) / 2**53


def test_assign_one_uses_the_same_answers():
    variants = tuple(Variant(f"v{i}", f"V{i}", 1.0) for i in range(3))
    exp = Experiment("promo", "n", "h", "o", variants, "v0", (Metric("m", "binomial"),),
                     targeting=(TargetRule("country", "eq", "US"),))
    for i in range(500):
        idx = vectorised(exp, f"u{i}", {"country": "US"}, None)
        assert assign_one(exp, f"u{i}", {"country": "US"}) == exp.variant_keys[idx]
    assert assign_one(exp, "u1", {"country": "CA"}) is None
    assert assign_index(exp, 7, {"country": "US"}) == vectorised(exp, 7, {"country": "US"}, None)


@pytest.mark.parametrize("bad", [None, 1.5, b"u"])
def test_bad_ids_raise_like_the_vectorised_path(bad):
    variants = (Variant("a", "A", 1.0), Variant("b", "B", 1.0))
    exp = Experiment("promo", "n", "h", "o", variants, "a", (Metric("m", "binomial"),))
    with pytest.raises(InputError) as scalar_err:
        assign_index(exp, bad)
    with pytest.raises(InputError) as vector_err:
        assign(exp, [bad])
    assert scalar_err.value.field == vector_err.value.field == "user_ids"
