"""The domain words, defined once: metric kinds, directions, corrections, spending
functions, sequential methods, decisions. Every other module types its fields with
these ``Literal`` aliases and validates against the tuples derived from them.
"""

from __future__ import annotations

from typing import Literal, get_args

MetricKind = Literal["binomial", "mean", "ratio"]
Direction = Literal["increase", "decrease"]
Aggregate = Literal["sum", "count"]
TargetOp = Literal["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"]
AssignmentKind = Literal["ab", "bandit", "contextual"]
FeatureKind = Literal["numeric", "categorical"]
MarginType = Literal["absolute", "relative"]
Correction = Literal["holm", "bh", "none"]
SequentialMethod = Literal["gst", "msprt"]
Spending = Literal["obf", "pocock", "hsd", "power"]
CrossVariantPolicy = Literal["exclude", "keep"]
Decision = Literal["ship", "keep running", "stop", "investigate", "do not ship"]

METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
TARGET_OPS: tuple[str, ...] = get_args(TargetOp)
ASSIGNMENT_KINDS: tuple[str, ...] = get_args(AssignmentKind)
FEATURE_KINDS: tuple[str, ...] = get_args(FeatureKind)
MARGIN_TYPES: tuple[str, ...] = get_args(MarginType)
CORRECTIONS: tuple[str, ...] = get_args(Correction)
SEQUENTIAL_METHODS: tuple[str, ...] = get_args(SequentialMethod)
SPENDING_FUNCTIONS: tuple[str, ...] = get_args(Spending)
CROSS_VARIANT_POLICIES: tuple[str, ...] = get_args(CrossVariantPolicy)

SPENDING_NAMES: dict[str, str] = {"obf": "O'Brien-Fleming", "pocock": "Pocock", "hsd": "Hwang-Shih-DeCani",
                                  "power": "power family"}
CORRECTION_NAMES: dict[str, str] = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "none"}

# SRM: chi-square p below this means a sample ratio mismatch (GrowthBook's default).
DEFAULT_SRM_THRESHOLD = 0.001
# Planned looks of a group-sequential design: each look adds a dimension to the boundary
# integrals, so the count is bounded (published designs use fewer than 20).
MAX_LOOKS = 50
