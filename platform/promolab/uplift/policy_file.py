"""A deployable targeting policy: linear scores over φ(x), as JSON, no pickles.

score_k(x) = w_k · φ(x) for each offer k (φ from ``promolab.spec.encoding``, with its
intercept); the action is the offer with the highest score if that score exceeds the
threshold t (0, or a budget's cut-off), else the control. Anything that can encode a user's
attributes (the service, per request) can evaluate it.

File (``format = "promolab-targeting-policy"``, ``version = 1``): ``features``
(``FeatureSet.to_dicts()``), ``columns`` (the names of φ's entries), ``actions`` (the
control first, then the offers), ``weights`` (one row of ``len(columns)`` numbers per
offer), ``threshold``, ``reward`` (what the scores predict), ``value`` (named off-policy
estimates recorded at training) and ``source`` (data fingerprint, rows, treatment column,
learner, model, folds, seed). Unknown fields and wrong shapes are refused naming the field.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promolab.errors import InputError
from promolab.files import write_text_atomic
from promolab.jsonable import to_json
from promolab.sim.ope import Estimate
from promolab.spec.encoding import encode, encode_one
from promolab.spec.features import FeatureSet, is_number

FORMAT = "promolab-targeting-policy"
VERSION = 1
FIELDS = ("format", "version", "features", "columns", "actions", "weights", "threshold", "reward", "value",
          "source")
SOURCE_FIELDS = {"fingerprint": str, "rows": int, "treatment": str, "learner": str, "model": str, "folds": int,
                 "seed": int}
ESTIMATE_FIELDS = typing.get_type_hints(Estimate)  # field → str, float or int
MAX_ACTIONS = 21  # a control and promolab.uplift.data.MAX_OFFERS offers
MAX_ABS = 1e12
MAX_BYTES = 10_000_000


@dataclass(frozen=True, eq=False)
class TargetingPolicy:
    """``actions[0]`` is the control (no offer); ``weights[k - 1]`` scores ``actions[k]``."""

    features: FeatureSet
    actions: tuple[str, ...]
    weights: np.ndarray  # (len(actions) - 1, features.dim)
    threshold: float = 0.0
    reward: str = ""
    value: Mapping[str, Estimate] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (len(self.actions) - 1, self.features.dim) or not np.all(np.abs(weights) <= MAX_ABS):
            raise InputError("policy.weights", f"shape {weights.shape}",
                             f"({len(self.actions) - 1}, {self.features.dim}) finite numbers: "
                             "one row per offer, one column per encoded feature")
        object.__setattr__(self, "weights", weights)

    @property
    def offers(self) -> tuple[str, ...]:
        return self.actions[1:]

    def scores(self, table: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
        """score_k(xᵢ) for every row and offer, (n, K)."""
        return encode(self.features, table) @ self.weights.T

    def choose(self, table: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
        """Index into ``actions`` for every row: 0 (control) unless an offer scores above the threshold."""
        scores = self.scores(table)
        best = scores.argmax(axis=1)
        return np.where(scores[np.arange(best.size), best] > self.threshold, best + 1, 0)

    def probabilities(self, table: Mapping[str, Sequence[Any] | np.ndarray], floor: float = 0.0) -> np.ndarray:
        """(n, len(actions)): one-hot on the chosen action, or with an exploration ``floor`` ε
        every action ε and the chosen one 1 − (A − 1)ε (0 ≤ ε ≤ 1/A)."""
        n_actions = len(self.actions)
        if not is_number(floor) or not 0 <= floor <= 1 / n_actions:
            raise InputError("floor", floor, f"an exploration floor in [0, 1/{n_actions}]")
        chosen = self.choose(table)
        out = np.full((chosen.size, n_actions), float(floor))
        out[np.arange(chosen.size), chosen] += 1 - n_actions * floor
        return out

    def action_for(self, attributes: Mapping[str, Any]) -> str:
        """The action for one user's attributes (a service request's context)."""
        scores = self.weights @ encode_one(self.features, attributes)
        best = int(scores.argmax())
        return self.actions[best + 1] if scores[best] > self.threshold else self.actions[0]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "features": self.features.to_dicts(),
                "columns": list(self.features.columns), "actions": list(self.actions),
                "weights": self.weights.tolist(), "threshold": self.threshold, "reward": self.reward,
                "value": {name: asdict(e) for name, e in self.value.items()}, "source": dict(self.source)}

    def save(self, path: str | Path) -> None:
        """Write the JSON file whole or not at all."""
        write_text_atomic(path, to_json(self.to_dict()) + "\n")


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(where, value, "a non-empty text")
    return value


def _real(where: str, value: object, *, nullable: bool = False, low: float = -MAX_ABS) -> float:
    if value is None and nullable:
        return math.nan
    if not is_number(value) or not (math.isfinite(value) and low <= value <= MAX_ABS):
        raise InputError(where, value,
                         f"a finite number from {low:g} to {MAX_ABS:g}" + (" or null" if nullable else ""))
    return float(value)


def _count(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**63:
        raise InputError(where, value, "an integer >= 0")
    return value


def _object(where: str, value: object, allowed: Sequence[str], required: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(where, value, "an object with " + ", ".join(allowed))
    for key in value:
        if key not in allowed:
            raise InputError(f"{where}.{key}", value[key], "a known field: " + ", ".join(allowed))
    for key in required:
        if key not in value:
            raise InputError(f"{where}.{key}", None, "a value (required)")
    return value


def _estimate(where: str, value: object) -> Estimate:
    """An ``Estimate`` as ``asdict`` writes it: every field, texts, counts and numbers (null for NaN)."""
    e = _object(where, value, tuple(ESTIMATE_FIELDS), tuple(ESTIMATE_FIELDS))
    check = {str: _text, int: _count, float: lambda w, v: _real(w, v, nullable=True)}
    return Estimate(**{k: check[kind](f"{where}.{k}", e[k]) for k, kind in ESTIMATE_FIELDS.items()})


def _features(value: object) -> FeatureSet:
    try:
        return FeatureSet.from_dicts(value)  # type: ignore[arg-type]
    except InputError as exc:
        raise InputError(f"policy.{exc.field}", exc.value, exc.expected) from None
    except (TypeError, ValueError):  # e.g. a categories list holding lists
        raise InputError("policy.features", value, "a list of feature tables (name, kind, …)") from None


def _weights(value: object, rows: int, dim: int) -> np.ndarray:
    if not isinstance(value, list) or len(value) != rows:
        raise InputError("policy.weights", value if not isinstance(value, list) else f"{len(value)} rows",
                         f"{rows} rows, one per offer (actions after the control)")
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != dim:
            raise InputError(f"policy.weights[{i}]", row if not isinstance(row, list) else f"{len(row)} numbers",
                             f"{dim} numbers, one per column")
        for j, w in enumerate(row):
            _real(f"policy.weights[{i}][{j}]", w)
    return np.array(value, dtype=float).reshape(rows, dim)


def policy_from_dict(data: object) -> TargetingPolicy:
    """Validate a policy document; every error names its field (``policy.weights[1]``)."""
    doc = _object("policy", data, FIELDS, FIELDS)
    if doc["format"] != FORMAT:
        raise InputError("policy.format", doc["format"], repr(FORMAT))
    if isinstance(doc["version"], bool) or doc["version"] != VERSION:
        raise InputError("policy.version", doc["version"], str(VERSION))
    features = _features(doc["features"])
    if doc["columns"] != list(features.columns):
        raise InputError("policy.columns", doc["columns"], "the encoded columns of the features: "
                         + ", ".join(features.columns))
    actions = doc["actions"]
    if not isinstance(actions, list) or not 2 <= len(actions) <= MAX_ACTIONS:
        raise InputError("policy.actions", actions, f"a list of 2 to {MAX_ACTIONS} names, the control first")
    for i, a in enumerate(actions):
        _text(f"policy.actions[{i}]", a)
    if len(set(actions)) != len(actions):
        raise InputError("policy.actions", actions, "distinct names")
    weights = _weights(doc["weights"], len(actions) - 1, features.dim)
    if not isinstance(doc["value"], Mapping):
        raise InputError("policy.value", doc["value"], "an object of named estimates")
    value = {_text("policy.value", k): _estimate(f"policy.value.{k}", v) for k, v in doc["value"].items()}
    source = _object("policy.source", doc["source"], tuple(SOURCE_FIELDS), tuple(SOURCE_FIELDS))
    for key, kind in SOURCE_FIELDS.items():
        (_text if kind is str else _count)(f"policy.source.{key}", source[key])
    if not isinstance(doc["reward"], str):
        raise InputError("policy.reward", doc["reward"], "a text")
    return TargetingPolicy(features, tuple(actions), weights, _real("policy.threshold", doc["threshold"], low=0.0),
                           doc["reward"], value, dict(source))


def load_policy(path: str | Path) -> TargetingPolicy:
    """Read and validate a policy file; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise InputError("policy", str(path), "an existing policy file (JSON)")
    if path.stat().st_size > MAX_BYTES:
        raise InputError("policy", f"{path.stat().st_size:,} bytes", f"a file of at most {MAX_BYTES:,} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # invalid JSON or UTF-8, or nested too deep
        raise InputError("policy", str(path), f"a JSON document ({exc})") from None
    try:
        return policy_from_dict(data)
    except InputError as exc:
        raise InputError(exc.field, exc.value, exc.expected, source=str(path)) from None
