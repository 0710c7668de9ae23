"""Sticky assignment: a user keeps the variant of their first exposure.

New users are hashed into the current weights (the bandit's latest, or the configured
split) and their exposure recorded with that variant's share as its propensity; users
already exposed get their stored variant, so changing weights or ramping traffic never
moves anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from promolab.assign import assign
from promolab.errors import InputError, StateError
from promolab.store import Registry, exposures_batch
from promolab.store.migrations import registered


@dataclass(frozen=True)
class StickyAssignment:
    user_ids: tuple[str, ...]
    variants: tuple[str | None, ...]  # None: not in the experiment
    new: int  # users exposed for the first time


def sticky_assign(registry: Registry, key: str, user_ids: Sequence[str], attributes: Mapping | None = None,
                  record: bool = True, at: datetime | None = None) -> StickyAssignment:
    """Variants for ``user_ids``: stored ones for known users, current weights for new ones."""
    experiment = registry.get_experiment(key)
    ids = [str(u) for u in user_ids]
    if record and registry.status(key) != "running":
        raise StateError(f"experiment {key}: is {registry.status(key)}; only a running experiment records exposures")
    known = _stored_variants(registry, key, ids)
    if experiment.kind == "contextual":
        raise InputError("experiment", key, "an A/B or bandit experiment (a contextual experiment decides from "
                                            "each user's context: use the service or the client)")
    weights = registry.current_weights(key)
    shares = np.array([weights[v] for v in experiment.variant_keys], dtype=float)
    shares = shares / shares.sum()
    index = assign(experiment, ids, attributes, shares.tolist())
    keys = experiment.variant_keys
    variants = [known.get(u, keys[i] if i >= 0 else None) for u, i in zip(ids, index.tolist())]
    fresh = pd.DataFrame({"user_id": [u for u, v in zip(ids, variants) if v is not None and u not in known],
                          "variant": [v for u, v in zip(ids, variants) if v is not None and u not in known]})
    fresh = fresh.drop_duplicates("user_id")
    if record and not fresh.empty:
        fresh["ts"] = (at or datetime.now(timezone.utc)).isoformat()
        fresh["propensity"] = fresh["variant"].map(dict(zip(keys, shares)))
        registry.record_exposures(key, exposures_batch(fresh, "assign"), source="assign")
    return StickyAssignment(tuple(ids), tuple(variants), len(fresh) if record else 0)


def _stored_variants(registry: Registry, key: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    frame = pd.DataFrame({"user_id": np.unique(ids)})
    with registry.transaction() as con:
        with registered(con, "lookup_ids", frame):
            rows = con.execute(
                "SELECT x.user_id, x.variant_key FROM exposures x JOIN lookup_ids l ON l.user_id = x.user_id "
                "WHERE x.experiment_key = ?", [key]).fetchall()
    return dict(rows)
