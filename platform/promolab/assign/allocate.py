"""Assignment: which variant (if any) each user sees, as a pure function of the spec.

A user is in the experiment when all of these hold, each from its own independent hash
draw (see ``hashing`` for the byte layout):

1. targeting: the user's attributes satisfy every rule;
2. layer: the user's layer position ``u("{layer.key}:layer")`` falls in ``[start, end)``;
   experiments of one layer with disjoint ranges never share a user;
3. coverage: ``u("{salt}:{key}:coverage") < coverage``; raising coverage only adds users;
4. variant: ``u("{salt}:{key}:variant")`` falls in the bucket of the cumulative normalised
   weights ``[c[i-1], c[i])``; it does not depend on coverage, so a ramp from 10 % to 50 %
   keeps every already-included user in the same variant.

``salt`` is ``experiment.hash_salt`` (the spec's salt, else its key), so the draws for
user ``u`` of experiment ``promo`` hash e.g. ``b"promo:promo:variant:u"``.
"""

from __future__ import annotations

import math
from numbers import Real
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from promolab.assign.hashing import EncodedIds, Ids
from promolab.assign.targeting import eligible
from promolab.errors import InputError
from promolab.spec.model import Experiment


def _cumulative(experiment: Experiment, weights: Sequence[float] | None) -> np.ndarray:
    """Normalised cumulative weights, closed at exactly 1 by the last positive weight."""
    raw = [v.weight for v in experiment.variants] if weights is None else list(weights)
    field = "weights" if weights is not None else f"{experiment.key}.variants.weight"
    if len(raw) != len(experiment.variants) or not raw:
        raise InputError(field, raw, f"{len(experiment.variants)} weights, one per variant")
    if not all(isinstance(w, Real) and math.isfinite(w) and w >= 0 for w in raw):
        raise InputError(field, raw, "finite non-negative numbers")
    total = float(sum(raw))
    if total <= 0:
        raise InputError(field, raw, "weights with a positive sum")
    cum = np.cumsum(np.asarray(raw, dtype=np.float64) / total)
    cum[np.flatnonzero(raw)[-1] :] = 1.0  # no rounding sliver for trailing zero weights
    return cum


def _check_traffic(experiment: Experiment) -> None:
    if not 0.0 <= experiment.coverage <= 1.0:
        raise InputError(f"{experiment.key}.coverage", experiment.coverage, "a number in [0, 1]")
    layer = experiment.layer
    if layer is not None and not 0.0 <= layer.start <= layer.end <= 1.0:
        raise InputError(
            f"{experiment.key}.layer", (layer.start, layer.end), "0 <= start <= end <= 1"
        )


def assign(
    experiment: Experiment,
    user_ids: Ids | EncodedIds,
    attributes: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Variant index (int64) per user, or -1 where the user is not in the experiment.

    ``attributes`` maps attribute names to arrays aligned with ``user_ids``; ``weights``
    overrides the spec's (bandits pass their current weights).
    """
    cum = _cumulative(experiment, weights)
    _check_traffic(experiment)
    ids = EncodedIds(user_ids)
    n = ids.n
    salt = f"{experiment.hash_salt}:{experiment.key}"
    layer = experiment.layer
    # Each filter narrows the users the next draw hashes (``users``: positions still in
    # play, None = all); the result is the same as drawing every hash for every user.
    users: np.ndarray | None = None

    def narrow(keep: np.ndarray) -> None:
        nonlocal users, ids
        index = np.flatnonzero(keep)
        users = index if users is None else users[index]
        ids = ids.subset(index)

    if experiment.targeting:
        narrow(eligible(experiment.targeting, attributes, n))
    if layer is not None and (layer.start, layer.end) != (0.0, 1.0):
        position = ids.uniform(f"{layer.key}:layer")
        narrow((position >= layer.start) & (position < layer.end))
    if experiment.coverage < 1.0:  # u < 1 always: full coverage needs no draw
        narrow(ids.uniform(f"{salt}:coverage") < experiment.coverage)
    variant = np.searchsorted(cum, ids.uniform(f"{salt}:variant"), side="right")
    if users is None:
        return variant.astype(np.int64, copy=False)
    out = np.full(n, -1, np.int64)
    out[users] = variant
    return out


def assign_one(
    experiment: Experiment,
    user_id: str | int,
    attributes: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> str | None:
    """Variant key for one user, or None; the same answer as :func:`assign`, computed by
    the scalar path (``promolab.assign.scalar``: xxhash and dict targeting, no numpy)."""
    from promolab.assign.scalar import assign_index  # scalar imports this module

    index = assign_index(experiment, user_id, attributes, weights)
    return None if index < 0 else experiment.variant_keys[index]
