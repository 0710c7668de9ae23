"""Synthetic registry data for the warehouse / engine tests (imported by tests/analysis
and tests/spark): the checkout-coupon spec with a CUPED covariate on revenue, exposures
over ten days, orders and refunds before, inside and after a 7-day window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from promolab.spec import Experiment, parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "checkout-coupon.toml"
KEY = "checkout-coupon"


def coupon_spec() -> Experiment:
    """checkout-coupon with a CUPED covariate on revenue and without user filtering (these
    tests compare engines and files on the same users, not the filtering rules)."""
    import tomllib

    import tomli_w

    doc = tomllib.loads(SPEC.read_text(encoding="utf-8"))
    doc.pop("filtering", None)
    revenue = next(m for m in doc["metrics"] if m["key"] == "revenue")
    revenue["covariate"] = "prior_spend"
    return parse_experiment(tomli_w.dumps(doc), source=str(SPEC))


def coupon_registry(db: Path, users: int = 3000, seed: int = 7) -> Registry:
    rng = np.random.default_rng(seed)
    registry = Registry.open(db)
    spec = coupon_spec()
    registry.create_experiment(spec, by="test")
    registry.set_status(spec.key, "running", by="test")
    ids = np.array([f"u{i:05d}" for i in range(users)])
    variants = np.array(spec.variant_keys)[rng.integers(0, 3, users)]
    start = pd.Timestamp("2025-03-01")
    exposed_at = start + pd.to_timedelta(rng.integers(0, 10 * 24 * 3600, users), unit="s")
    registry.record_exposures(spec.key, exposures_batch(pd.DataFrame(
        {"user_id": ids, "variant": variants, "ts": exposed_at.astype(str)}), "test"), source="test")
    rows = []
    lift = {"no-coupon": 0.0, "pct10": 0.04, "free-shipping": 0.02}
    for i in range(users):
        for _ in range(rng.poisson(0.3 + lift[variants[i]] * 5)):
            # -3 .. +12 days around exposure: some before, some after a 7-day window
            offset = pd.Timedelta(seconds=int(rng.integers(-3 * 86400, 12 * 86400)))
            ts = exposed_at[i] + offset
            rows.append((f"o{len(rows)}", ids[i], "order", round(float(rng.gamma(2.0, 30.0)), 2), str(ts)))
            if rng.random() < 0.1:
                rows.append((f"r{len(rows)}", ids[i], "refund", 0.0, str(ts + pd.Timedelta(days=2))))
    # a handful of exact window boundaries: exactly at exposure (in) and exactly +7 days (out)
    for i in range(0, users, 500):
        rows.append((f"b{i}a", ids[i], "order", 10.0, str(exposed_at[i])))
        rows.append((f"b{i}b", ids[i], "order", 20.0, str(exposed_at[i] + pd.Timedelta(days=7))))
    events = pd.DataFrame(rows, columns=["event_id", "user_id", "event", "value", "ts"])
    registry.ingest_events(events_batch(events, "test"), source="test")
    registry.set_attributes(pd.DataFrame({"user_id": ids[: users - 100],  # some users lack the covariate
                                          "prior_spend": rng.gamma(2.0, 40.0, users - 100).round(2),
                                          "country": rng.choice(["US", "CA"], users - 100)}))
    return registry


def assert_close(a, b, rel: float = 1e-9, path: str = "") -> None:
    """Report dicts equal: floats to ``rel`` relative or 1e-12 absolute (DuckDB sums in a
    different order; a near-zero quantity such as a tiny CUPED variance reduction is a
    difference of large sums and only accurate in absolute terms), the rest exactly."""
    import pytest

    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=rel, abs=1e-12, nan_ok=True), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], rel, f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, rel, f"{path}[{i}]")
    else:
        assert a == b, path
