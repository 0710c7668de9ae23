"""φ(x): user attributes encoded into model vectors, as ``promolab.spec.features`` declares.

numeric: (x − center) / scale; categorical: one-hot over the declared categories; a leading
intercept column of 1. A missing feature, an unknown category or a non-finite number is
refused with the field ``context.<name>`` (and the row, for a table of several users).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from promolab.errors import InputError
from promolab.spec.features import MAX_CATEGORIES, Feature, FeatureSet, category_label, is_number


def _where(feature: Feature, row: int, n: int) -> str:
    return f"context.{feature.name}[row {row}]" if n > 1 else f"context.{feature.name}"


def _item(values: Sequence[Any] | np.ndarray, row: int) -> Any:
    value = values[row]
    return value.item() if hasattr(value, "item") else value


def encode_column(feature: Feature, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """One feature's columns for ``values``, shape (n, feature.width)."""
    n = len(values)
    if feature.kind == "numeric":
        numeric = isinstance(values, np.ndarray) and values.dtype.kind in "iuf"
        ok = np.ones(n, dtype=bool) if numeric else np.array([is_number(v) for v in values], dtype=bool)
        x = np.asarray(values, dtype=float) if numeric else np.array([float(v) if o else np.nan
                                                                      for v, o in zip(values, ok)])
        bad = np.flatnonzero(~(ok & np.isfinite(x)))
        if bad.size:
            row = int(bad[0])
            raise InputError(_where(feature, row, n), _item(values, row), "a finite number")
        return ((x - feature.center) / feature.scale)[:, None]
    index = {c: i for i, c in enumerate(feature.categories)}
    codes = np.empty(n, dtype=np.int64)
    for row, value in enumerate(values):
        label = category_label(value)
        code = index.get(label) if label is not None else None
        if code is None:
            raise InputError(_where(feature, row, n), _item(values, row),
                             f"one of {', '.join(feature.categories)}")
        codes[row] = code
    out = np.zeros((n, len(feature.categories)))
    out[np.arange(n), codes] = 1.0
    return out


def encode(features: FeatureSet, table: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
    """φ for every row of ``table`` (attribute → values, e.g. a DataFrame), shape (n, dim)."""
    missing = [f.name for f in features.features if f.name not in table]
    if missing:
        raise InputError(f"context.{missing[0]}", None, "a column of the context (a feature of the policy)")
    columns = [table[f.name] for f in features.features]
    columns = [c.to_numpy() if hasattr(c, "to_numpy") else c for c in columns]
    n = len(columns[0])
    return np.hstack([np.ones((n, 1))] + [encode_column(f, c) for f, c in zip(features.features, columns)])


def encode_one(features: FeatureSet, attributes: Mapping[str, Any] | None) -> np.ndarray:
    """φ for one user's attributes (the service's request context), shape (dim,)."""
    if not isinstance(attributes, Mapping):
        raise InputError("context", attributes, "an object of user attributes")
    for f in features.features:
        if attributes.get(f.name) is None:
            raise InputError(f"context.{f.name}", None, "a value (a feature of the policy)")
    return encode(features, {f.name: [attributes[f.name]] for f in features.features})[0]


def infer_features(table: Mapping[str, Sequence[Any] | np.ndarray], names: Sequence[str]) -> FeatureSet:
    """Features from data: numeric columns standardised by their mean and standard deviation,
    other columns categorical over their sorted distinct values."""
    feats = []
    for name in names:
        if name not in table:
            raise InputError("features", name, "a column of the table")
        values = np.asarray(table[name])
        if values.dtype.kind in "iuf":
            x = values.astype(float)
            if not np.all(np.isfinite(x)):
                raise InputError(f"context.{name}", "NaN", "finite numbers in every row")
            sd = float(x.std())
            feats.append(Feature(name, "numeric", center=float(x.mean()), scale=sd if sd > 0 else 1.0))
        else:
            labels = sorted({category_label(v) or "" for v in values})
            if "" in labels:
                raise InputError(f"context.{name}", None, "a text or integer category in every row")
            if len(labels) > MAX_CATEGORIES:
                raise InputError(f"context.{name}", len(labels),
                                 f"at most {MAX_CATEGORIES} distinct categories (bin it first)")
            feats.append(Feature(name, "categorical", categories=tuple(labels)))
    return FeatureSet(tuple(feats))
