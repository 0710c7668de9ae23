"""Synthetic running experiments for the health-check and alert tests (tests/analysis,
tests/store, tests/cli, tests/service): a two-arm A/B test with an order metric and a
refund guardrail, whose treatment can harm the guardrail or break the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from promolab.spec import experiment_from_dict
from promolab.store import Registry, events_batch, exposures_batch

KEY = "watch-ab"


def watch_spec(key: str = KEY, target_users: int | None = 100_000, **extra) -> dict:
    spec = {
        "key": key, "name": "Watched A/B", "owner": "growth", "control": "a",
        "variants": [{"key": "a", "name": "A", "weight": 1, "payload": {}},
                     {"key": "b", "name": "B", "weight": 1, "payload": {"discount_pct": 10}}],
        "metrics": [{"key": "orders", "kind": "binomial", "event": "order"}],
        "guardrails": [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease"}],
        "analysis": {"target_users": target_users} if target_users else {},
    }
    spec.update(extra)
    return spec


def watch_registry(db: Path, users: int = 4000, refund_b: float = 0.05, share_b: float = 0.5, seed: int = 3,
                   key: str = KEY, spec: dict | None = None) -> Registry:
    """A running experiment with ``users`` exposed (``share_b`` of them to b); orders 10 % in
    both arms, refunds 5 % in a and ``refund_b`` in b."""
    registry = Registry.open(db)
    registry.create_experiment(experiment_from_dict(spec or watch_spec(key)), by="test")
    registry.set_status(key, "running", by="test")
    add_users(registry, key, users, refund_b, share_b, seed)
    return registry


def add_users(registry: Registry, key: str, users: int, refund_b: float = 0.05, share_b: float = 0.5,
              seed: int = 3, start: int = 0) -> None:
    rng = np.random.default_rng(seed + start)
    ids = np.array([f"u{start + i:06d}" for i in range(users)])
    variants = np.where(rng.random(users) < share_b, "b", "a")
    ts = (pd.Timestamp.now() - pd.Timedelta(hours=2)).floor("s")
    registry.record_exposures(key, exposures_batch(pd.DataFrame(
        {"user_id": ids, "variant": variants, "ts": str(ts)}), "test"), source="test")
    order = rng.random(users) < 0.10
    refund = rng.random(users) < np.where(variants == "b", refund_b, 0.05)
    rows = [(f"o{start + i}", ids[i], "order", 30.0, str(ts + pd.Timedelta(minutes=5))) for i in np.flatnonzero(order)]
    rows += [(f"r{start + i}", ids[i], "refund", 0.0, str(ts + pd.Timedelta(minutes=30)))
             for i in np.flatnonzero(refund)]
    events = pd.DataFrame(rows, columns=["event_id", "user_id", "event", "value", "ts"])
    registry.ingest_events(events_batch(events, "test"), source="test")
