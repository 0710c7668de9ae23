"""Deterministic, vectorised assignment: hashing, coverage ramp, layers, targeting.

A user's variant is a pure function of (salt, experiment key, user id, weights, coverage),
so any number of service replicas agree without talking to each other.
"""

from promolab.assign.allocate import assign, assign_one
from promolab.assign.hashing import (
    EncodedIds,
    hash_uniform,
    hash_uniform_one,
    xxh64,
    xxh64_one,
)
from promolab.assign.targeting import eligible, matches

__all__ = [
    "EncodedIds",
    "assign",
    "assign_one",
    "eligible",
    "hash_uniform",
    "hash_uniform_one",
    "matches",
    "xxh64",
    "xxh64_one",
]
