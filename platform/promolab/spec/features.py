"""Context features of a personalised policy: which user attributes, and how each is encoded.

A contextual bandit or a targeting policy sees a user through a fixed list of user
attributes. Each is encoded the same way at training, simulation, replay and serving time
(``promolab.spec.encoding``; this module is pure Python, so reading a spec loads no numpy):

- numeric:      (x − center) / scale                       one column
- categorical:  one-hot over the declared ``categories``   one column per category

plus a leading intercept column of 1. The encoded vector φ(x) has ``FeatureSet.dim``
entries, named by ``FeatureSet.columns``. A missing feature, an unknown category or a
non-finite number is refused with the field ``context.<name>`` (the user's attributes are
input like any other).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promolab.errors import InputError
from promolab.spec.vocabulary import FEATURE_KINDS, FeatureKind

# Bounds on what drives work: every served assignment encodes every feature, and every
# linear model holds dim × dim numbers per arm.
MAX_FEATURES = 50
MAX_CATEGORIES = 100
MAX_DIM = 200


def is_number(value: object) -> bool:
    """A real number that is not a boolean (numpy scalars included; numpy's bool is not Real)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def category_label(value: object) -> str | None:
    """A category as text: strings as they are, integers in decimal (0/1 flags); else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if is_number(value) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))  # pandas reads an integer column with gaps as float
    return None


@dataclass(frozen=True)
class Feature:
    """One user attribute a policy uses, and how it is encoded."""

    name: str
    kind: FeatureKind
    categories: tuple[str, ...] = ()
    center: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        where = f"features.{self.name}"
        if not isinstance(self.name, str) or not self.name:
            raise InputError("features.name", self.name, "a user attribute name")
        if self.kind not in FEATURE_KINDS:
            raise InputError(f"{where}.kind", self.kind, f"one of {', '.join(FEATURE_KINDS)}")
        if self.kind == "categorical":
            cats = self.categories
            if not isinstance(cats, (tuple, list)) or not 1 <= len(cats) <= MAX_CATEGORIES \
                    or not all(isinstance(c, str) and c for c in cats):
                raise InputError(f"{where}.categories", cats, f"1 to {MAX_CATEGORIES} category names (strings)")
            if len(set(cats)) != len(cats):
                raise InputError(f"{where}.categories", list(cats), "distinct category names")
            object.__setattr__(self, "categories", tuple(cats))
        else:
            if self.categories:
                raise InputError(f"{where}.categories", list(self.categories), "none for a numeric feature")
            if not is_number(self.center) or not math.isfinite(self.center) or abs(self.center) > 1e12:
                raise InputError(f"{where}.center", self.center, "a finite number")
            if not is_number(self.scale) or not math.isfinite(self.scale) or not 0 < self.scale <= 1e12:
                raise InputError(f"{where}.scale", self.scale, "a number in (0, 1e12]")
            object.__setattr__(self, "center", float(self.center))
            object.__setattr__(self, "scale", float(self.scale))

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "categorical" else 1

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return tuple(f"{self.name}={c}" for c in self.categories)
        return (self.name,)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}
        return {"name": self.name, "kind": self.kind, "center": self.center, "scale": self.scale}


@dataclass(frozen=True)
class FeatureSet:
    """The ordered features of a policy; ``promolab.spec.encoding.encode`` gives
    φ(x) = [1, feature columns…], named by ``columns``."""

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        feats = tuple(self.features)
        if not 1 <= len(feats) <= MAX_FEATURES:
            raise InputError("features", len(feats), f"1 to {MAX_FEATURES} features")
        names = [f.name for f in feats]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError("features", dupes[0], "each attribute named once")
        object.__setattr__(self, "features", feats)
        if self.dim > MAX_DIM:
            raise InputError("features", self.dim,
                             f"at most {MAX_DIM} encoded columns (1 + numeric features + categories)")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def dim(self) -> int:
        return 1 + sum(f.width for f in self.features)

    @property
    def columns(self) -> tuple[str, ...]:
        return ("intercept",) + tuple(c for f in self.features for c in f.columns)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.features]

    @classmethod
    def from_dicts(cls, items: Sequence[Mapping[str, Any]]) -> FeatureSet:
        """From ``[[contextual.features]]`` tables or their JSON; errors name the field."""
        if not isinstance(items, (list, tuple)):
            raise InputError("features", items, "a list of feature tables")
        feats = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise InputError(f"features[{i}]", item, "a table with name and kind")
            unknown = set(item) - {"name", "kind", "categories", "center", "scale"}
            if unknown:
                key = sorted(unknown)[0]
                raise InputError(f"features[{i}].{key}", item[key], "one of name, kind, categories, center, scale")
            feats.append(Feature(name=item.get("name"), kind=item.get("kind"),
                                 categories=tuple(item.get("categories", ())) if isinstance(item.get("categories", ()), (list, tuple)) else item.get("categories"),
                                 center=item.get("center", 0.0), scale=item.get("scale", 1.0)))
        return cls(tuple(feats))
