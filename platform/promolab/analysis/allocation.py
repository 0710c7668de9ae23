"""How a contextual experiment's policy allocates its variants by segment, period by period.

From the contexts logged with each exposure (``exposures.context_json``): for one policy
feature, the share of each variant among the policy's users (the randomised holdout left
out: it is split by the configured weights whatever the segment) per segment and per day or
hour of first exposure. A categorical feature's segments are its categories; a numeric
feature is cut at the quartiles of its logged values (at most four segments).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from promolab.analysis.contextual import in_holdout
from promolab.errors import InputError
from promolab.store import Registry

Period = Literal["day", "hour"]
PERIODS: tuple[Period, ...] = ("day", "hour")
PERIOD_FORMAT = {"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00"}


@dataclass(frozen=True)
class AllocationCell:
    """Users of one segment first exposed in one period who got one variant, and their share
    of that segment's users in the period."""

    period: str
    segment: str
    variant: str
    users: int
    share: float


@dataclass(frozen=True)
class SegmentAllocation:
    experiment: str
    feature: str
    period: Period
    segments: tuple[str, ...]
    variants: tuple[str, ...]
    cells: tuple[AllocationCell, ...]
    policy_users: int  # exposed users with a logged context, outside the holdout

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "feature": self.feature, "period": self.period,
                "segments": list(self.segments), "variants": list(self.variants), "policy_users": self.policy_users,
                "cells": [c.__dict__ for c in self.cells]}


def _segments(values: pd.Series, numeric: bool) -> tuple[pd.Series, tuple[str, ...]]:
    if not numeric:
        labels = values.astype(str)
        return labels, tuple(sorted(labels.unique()))
    x = values.astype(float)
    edges = np.unique(np.quantile(x, [0, 0.25, 0.5, 0.75, 1])) if len(x) else np.array([0.0])
    if edges.size < 2:
        label = f"{edges[0]:g}"
        return pd.Series(label, index=values.index), (label,)
    names = tuple(f"{lo:g}–{hi:g}" for lo, hi in zip(edges, edges[1:]))
    bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(names) - 1)
    return pd.Series(np.array(names)[bins], index=values.index), names


def segment_allocation(registry: Registry, key: str, feature: str, period: Period = "day") -> SegmentAllocation:
    """Variant shares per ``feature`` segment and ``period`` among ``key``'s policy users."""
    experiment = registry.get_experiment(key)
    config = experiment.contextual
    if config is None:
        raise InputError("experiment", key, "a contextual experiment (kind = 'contextual')")
    names = config.features.names
    if feature not in names:
        raise InputError("feature", feature, "a feature of the experiment's policy: " + ", ".join(names))
    if period not in PERIODS:
        raise InputError("period", period, " or ".join(PERIODS))
    frame = registry.query(
        "SELECT user_id, variant_key AS variant, first_exposed_at, context_json FROM exposures "
        "WHERE experiment_key = ? AND context_json IS NOT NULL ORDER BY first_exposed_at, user_id", [key])
    frame = frame[~in_holdout(experiment, frame["user_id"].tolist())]
    kind = next(f.kind for f in config.features.features if f.name == feature)
    values = pd.Series([json.loads(c)[feature] for c in frame["context_json"]], index=frame.index, dtype=object)
    segment, segments = _segments(values, kind == "numeric")
    grouped = (pd.DataFrame({"period": frame["first_exposed_at"].dt.strftime(PERIOD_FORMAT[period]),
                             "segment": segment, "variant": frame["variant"]})
               .groupby(["period", "segment", "variant"]).size().rename("users").reset_index())
    totals = grouped.groupby(["period", "segment"])["users"].transform("sum")
    cells = tuple(AllocationCell(p, s, v, int(n), float(n / t))
                  for p, s, v, n, t in zip(grouped["period"], grouped["segment"], grouped["variant"],
                                           grouped["users"], totals))
    return SegmentAllocation(key, feature, period, segments, experiment.variant_keys, cells, len(frame))
