"""One user at a time: the answers of the vectorised ``assign``, without numpy per call.

``assign`` runs on arrays and costs 0.2-0.4 ms of fixed numpy/pandas overhead even for a
batch of one; an HTTP service answering one user per request pays that on every request.
This module computes the same thing for one user in a few microseconds:

- hashing with the ``xxhash`` C library (``xxh64_intdigest``), bit-identical to the numpy
  XXH64 of ``hashing`` (the byte layout is the one documented there);
- the cumulative weights, coverage, layer range and salted prefixes precomputed once per
  (experiment, weights) by :func:`compile_experiment`, so a call is three hashes at most,
  two comparisons and a ``bisect`` into the same float64 cumulative weights ``assign``
  searches (``searchsorted(side="right")`` == ``bisect_right``);
- targeting evaluated on the user's dict for the value types whose semantics are plain
  Python comparisons (str against str, int/float against int/float within +/-2**53, where
  numpy's float conversion is exact); any other case (bool, None, NaN, mixed types, huge
  ints, an invalid rule) is handed to ``promolab.assign.matches`` - the pandas evaluation
  the vectorised path uses - so the result, or the ``InputError``, is the same by
  construction.

``tests/assign/test_scalar.py`` checks scalar == vectorised over generated users,
weights, coverage, layers and targeting rules.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from xxhash import xxh64_intdigest

from promolab.assign.allocate import _check_traffic, _cumulative
from promolab.assign.targeting import COMPARE, matches
from promolab.errors import InputError
from promolab.spec.model import Experiment, TargetRule

_TO_UNIT = 2.0**-53
_EXACT = 2**53  # ints up to this magnitude convert to float64 exactly


_STR, _NUM = 0, 1


class _Unsure(Exception):
    """The value's type needs the pandas evaluation (``matches``)."""


def user_bytes(user_id: object) -> bytes:
    """UTF-8 of ``str(id)``, refusing what ``hashing.EncodedIds`` refuses, with its error."""
    if isinstance(user_id, str):
        s = user_id
    elif user_id is None or isinstance(user_id, (bytes, float)):
        raise InputError("user_ids", user_id, "string or integer ids")
    else:
        s = str(user_id)
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InputError("user_ids", e.object[e.start : e.end], "valid Unicode text") from None


def uniform_one(prefix: bytes, user: bytes) -> float:
    """``hash_uniform`` for one id: ``prefix`` is ``UTF-8(salt) + b":"``, ``user`` its UTF-8."""
    return (xxh64_intdigest(prefix + user) >> 11) * _TO_UNIT


def _plain_number(v: Any) -> bool:
    t = type(v)
    if t is int:
        return -_EXACT <= v <= _EXACT
    if t is float:
        return math.isfinite(v)
    return False


def _compile_rule(rule: TargetRule) -> tuple[str, Callable[[Any, Any], bool], int, Any] | None:
    """(attribute, test, value kind, value) for a rule the fast path can evaluate, else None."""
    value = rule.value
    if rule.op in ("in", "not_in"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)) or not value:
            return None
        items = list(value)
        if all(type(x) is str for x in items):
            kind = _STR
        elif all(_plain_number(x) for x in items):
            kind = _NUM
        else:
            return None
        held = frozenset(items)
        test = (lambda v, s: v in s) if rule.op == "in" else (lambda v, s: v not in s)
        return rule.attribute, test, kind, held
    if rule.op not in COMPARE:
        return None
    if type(value) is str:
        return rule.attribute, COMPARE[rule.op], _STR, value
    if _plain_number(value):
        return rule.attribute, COMPARE[rule.op], _NUM, value
    return None


@dataclass(frozen=True)
class ScalarExperiment:
    """One experiment and its weights, precomputed for :meth:`index` calls."""

    experiment: Experiment
    cum: tuple[float, ...]
    variant_prefix: bytes
    coverage: float
    coverage_prefix: bytes | None  # None: full coverage, no draw
    layer_prefix: bytes | None  # None: no layer or the whole layer, no draw
    layer_start: float
    layer_end: float
    rules: tuple[tuple[str, Callable[[Any, Any], bool], int, Any], ...] | None  # None: always `matches`

    def eligible(self, attributes: Mapping[str, Any] | None) -> bool:
        """Whether the user satisfies every targeting rule (``matches`` semantics)."""
        targeting = self.experiment.targeting
        if not targeting:
            return True
        if self.rules is None:
            return matches(targeting, attributes)
        if attributes is None:
            return False
        ok = True
        try:
            for attribute, test, kind, value in self.rules:
                if attribute not in attributes:
                    return False
                v = attributes[attribute]
                if kind == _STR:
                    if type(v) is not str:
                        raise _Unsure
                elif not _plain_number(v):
                    raise _Unsure
                if not test(v, value):
                    ok = False  # later rules are still evaluated, as the vectorised path does
        except _Unsure:
            return matches(targeting, attributes)
        return ok

    def included(self, user: bytes, attributes: Mapping[str, Any] | None = None) -> bool:
        """Whether the user (UTF-8 id) passes targeting, the layer range and the coverage draw."""
        if self.experiment.targeting and not self.eligible(attributes):
            return False
        if self.layer_prefix is not None:
            p = uniform_one(self.layer_prefix, user)
            if not (self.layer_start <= p < self.layer_end):
                return False
        return self.coverage_prefix is None or uniform_one(self.coverage_prefix, user) < self.coverage

    def index(self, user_id: str | int, attributes: Mapping[str, Any] | None = None) -> int:
        """Variant index, or -1 when the user is not in the experiment (``assign`` for one id)."""
        user = user_bytes(user_id)
        if not self.included(user, attributes):
            return -1
        return bisect_right(self.cum, uniform_one(self.variant_prefix, user))


def holdout_prefix(experiment: Experiment) -> bytes:
    """The salted prefix of a contextual experiment's holdout draw (independent of the variant draw)."""
    return f"{experiment.hash_salt}:{experiment.key}:holdout:".encode()


def compile_experiment(experiment: Experiment, weights: Sequence[float] | None = None) -> ScalarExperiment:
    """Precompute an experiment for one-user calls; raises what ``assign`` raises for the spec."""
    cum = tuple(float(c) for c in _cumulative(experiment, weights))
    _check_traffic(experiment)
    salt = f"{experiment.hash_salt}:{experiment.key}"
    layer = experiment.layer
    layered = layer is not None and (layer.start, layer.end) != (0.0, 1.0)
    rules: tuple | None = None
    if experiment.targeting:
        compiled = [_compile_rule(r) for r in experiment.targeting]
        rules = None if any(c is None for c in compiled) else tuple(compiled)  # type: ignore[arg-type]
    return ScalarExperiment(
        experiment=experiment,
        cum=cum,
        variant_prefix=f"{salt}:variant:".encode(),
        coverage=float(experiment.coverage),
        coverage_prefix=f"{salt}:coverage:".encode() if experiment.coverage < 1.0 else None,
        layer_prefix=f"{layer.key}:layer:".encode() if layered else None,
        layer_start=float(layer.start) if layered else 0.0,
        layer_end=float(layer.end) if layered else 1.0,
        rules=rules,
    )


def assign_index(
    experiment: Experiment,
    user_id: str | int,
    attributes: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> int:
    """Variant index for one user, or -1: ``int(assign(experiment, [user_id], ...)[0])``."""
    return compile_experiment(experiment, weights).index(user_id, attributes)


__all__ = ["ScalarExperiment", "assign_index", "compile_experiment", "holdout_prefix", "uniform_one", "user_bytes"]
