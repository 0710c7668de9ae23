"""Registries for the dashboard tests: the Hillstrom demo, a Thompson-sampling bandit with a
stored weight history, an A/B test with a broken split (sample ratio mismatch), and the
checkout-coupon experiment with planted abusers and a refund guardrail that fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promolab.spec import experiment_from_dict, load_experiment
from promolab.store import Registry, events_batch, exposures_batch

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboards" / "app.py"
BANDIT_KEY = "coupon-bandit"
SRM_KEY = "broken-split"


def _spec(key: str, kind: str, variants: list[tuple[str, str]], bandit: dict | None = None) -> dict:
    spec = {
        "key": key, "name": f"{key} (test fixture)", "owner": "tests", "kind": kind, "control": variants[0][0],
        "variants": [{"key": k, "name": n, "weight": 1} for k, n in variants],
        "metrics": [{"key": "conversion", "name": "Ordered", "kind": "binomial", "event": "order"},
                    {"key": "revenue", "name": "Revenue per user ($)", "kind": "mean", "event": "order"}],
    }
    if bandit is not None:
        spec["bandit"] = bandit
    return spec


def bandit_spec(key: str = BANDIT_KEY):
    """``experiments/coupon-bandit.toml`` (the spec the demo uses), else an equivalent inline spec."""
    path = REPO / "experiments" / "coupon-bandit.toml"
    if path.exists() and key == BANDIT_KEY:
        return load_experiment(path)
    arms = [("no-coupon", "No coupon"), ("pct10", "10 % off"), ("pct20", "20 % off"), ("free-shipping", "Free shipping")]
    return experiment_from_dict(_spec(key, "bandit", arms, {"policy": "thompson", "reward": "conversion",
                                                            "update_period_seconds": 86400, "floor": 0.05}))


RATES = {"no-coupon": 0.030, "pct10": 0.045, "pct20": 0.055, "free-shipping": 0.040}


def add_bandit(registry: Registry, key: str = BANDIT_KEY, days: int = 14, users_per_day: int = 400,
               seed: int = 1) -> None:
    """A coupon bandit run for ``days`` days: Thompson sampling on conversion, weights updated daily."""
    spec = bandit_spec(key)
    arms = list(spec.variant_keys)
    rates = np.array([RATES.get(a, 0.035) for a in arms])
    floor = spec.bandit.floor if spec.bandit is not None else 0.0
    registry.create_experiment(spec, by="tests")
    registry.set_status(key, "running", by="tests")
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-05-01")
    k = len(arms)
    weights = np.full(k, 1 / k)
    wins, losses = np.ones(k), np.ones(k)
    exposures, events = [], []
    for day in range(days):
        at = start + pd.Timedelta(days=day)
        registry.record_weights(key, dict(zip(arms, map(float, weights))), policy="thompson",
                                reason="daily update", at=at.to_pydatetime())
        arm = rng.choice(k, size=users_per_day, p=weights)
        converted = rng.random(users_per_day) < rates[arm]
        for i in range(users_per_day):
            user = f"b{day:02d}-{i:04d}"
            ts = at + pd.Timedelta(minutes=int(i * 1440 / users_per_day))
            exposures.append((user, arms[arm[i]], ts.isoformat()))
            if converted[i]:
                events.append((f"{key}-{user}", user, "order", float(rng.gamma(2.0, 30.0)),
                               (ts + pd.Timedelta(minutes=30)).isoformat()))
        np.add.at(wins, arm[converted], 1)
        np.add.at(losses, arm[~converted], 1)
        draws = rng.beta(wins, losses, size=(4000, k))
        share = np.bincount(draws.argmax(axis=1), minlength=k) / 4000
        weights = floor + (1 - k * floor) * share
        weights = weights / weights.sum()
    registry.record_exposures(key, exposures_batch(pd.DataFrame(exposures, columns=["user_id", "variant", "ts"])))
    registry.ingest_events(events_batch(pd.DataFrame(events, columns=["event_id", "user_id", "event", "value", "ts"]),
                                        source=key), source=key)


def add_broken_split(registry: Registry, key: str = SRM_KEY) -> None:
    """An A/B test configured 50/50 that received 1,000 vs 800 users: SRM must fail."""
    registry.create_experiment(experiment_from_dict(_spec(key, "ab", [("control", "Control"),
                                                                      ("coupon", "Coupon")])), by="tests")
    registry.set_status(key, "running", by="tests")
    rng = np.random.default_rng(3)
    rows, events = [], []
    for variant, n, rate in (("control", 1000, 0.05), ("coupon", 800, 0.07)):
        for i in range(n):
            user = f"s-{variant}-{i}"
            rows.append((user, variant, "2024-06-01T10:00:00"))
            if rng.random() < rate:
                events.append((f"{key}-{user}", user, "order", 40.0, "2024-06-01T12:00:00"))
    registry.record_exposures(key, exposures_batch(pd.DataFrame(rows, columns=["user_id", "variant", "ts"])))
    registry.ingest_events(events_batch(pd.DataFrame(events, columns=["event_id", "user_id", "event", "value", "ts"]),
                                        source=key), source=key)


def build_dashboard_db(path: Path, broken_split: bool = True, checkout: bool | None = None) -> Path:
    """``path`` (a copy of the demo registry) plus a bandit (unless the demo already has
    ``coupon-bandit``); with ``broken_split`` an SRM fixture and (unless ``checkout`` is False)
    the checkout-coupon fixture."""
    registry = Registry.open(path)
    if BANDIT_KEY not in registry.experiment_keys():
        add_bandit(registry)
    if broken_split:
        add_broken_split(registry)
    if checkout if checkout is not None else broken_split:
        add_checkout_coupon(registry)
    return path


@pytest.fixture(scope="session")
def dashboard_db(tmp_path_factory: pytest.TempPathFactory, copy_demo) -> Path:
    """A registry for in-process AppTest runs (stays open in this process)."""
    return build_dashboard_db(copy_demo(tmp_path_factory.mktemp("dashboard") / "dashboard.duckdb"))


@pytest.fixture(scope="module")
def browser_db(tmp_path_factory: pytest.TempPathFactory, copy_demo) -> Path:
    """A demo registry (plus the bandit) for a dashboard server in another process: closed here."""
    path = build_dashboard_db(copy_demo(tmp_path_factory.mktemp("browser") / "demo.duckdb"), broken_split=False)
    Registry.close_if_open(path)
    return path


# -- checkout coupon: planted abuse in one arm and a refund guardrail that fails ------------------

CHECKOUT_KEY = "checkout-coupon"
CHECKOUT_RATES = {"no-coupon": (0.05, 0.010), "pct10": (0.09, 0.035), "free-shipping": (0.055, 0.004)}
# planted abusers per variant: bots (60 page views in a day), order bursts, coupon-refund abusers
CHECKOUT_ABUSE = {"no-coupon": (1, 0, 0), "pct10": (12, 8, 10), "free-shipping": (1, 1, 0)}


def add_checkout_coupon(registry: Registry, users_per_variant: int = 2000, seed: int = 8) -> dict[str, list[str]]:
    """``experiments/checkout-coupon.toml`` run to its end: 10 % off converts better but raises refunds
    beyond the 0.5-point margin (verdict "do not ship"), and coupon abusers crowd into pct10 (the
    imbalance alert fires). Returns the planted abusers per variant."""
    spec = load_experiment(REPO / "experiments" / "checkout-coupon.toml")
    registry.create_experiment(spec, by="tests")
    registry.set_status(spec.key, "running", by="tests")
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-07-01")
    exposures, events, attrs = [], [], []
    planted: dict[str, list[str]] = {v: [] for v in spec.variant_keys}

    def ev(user: str, event: str, ts: pd.Timestamp, value: float = 1.0) -> None:
        events.append((f"co-{len(events)}", user, event, value, ts.isoformat()))

    for variant in spec.variant_keys:
        conv, refund = CHECKOUT_RATES[variant]
        bots, bursts, refunders = CHECKOUT_ABUSE[variant]
        for i in range(users_per_variant):
            user = f"co-{variant}-{i:05d}"
            at = t0 + pd.Timedelta(minutes=int(rng.integers(0, 14 * 1440)))
            exposures.append((user, variant, at.isoformat()))
            attrs.append({"user_id": user, "device_id": f"dev-{user}", "payment_fingerprint": f"pay-{user}",
                          "country": "US" if rng.random() < 0.7 else "CA",
                          "device": "mobile" if rng.random() < 0.6 else "desktop"})
            if rng.random() < conv:
                order = at + pd.Timedelta(minutes=int(rng.integers(5, 600)))
                if variant == "pct10":
                    ev(user, "coupon", order - pd.Timedelta(minutes=1))
                ev(user, "order", order, float(rng.gamma(2.0, 35.0)))
            if rng.random() < refund:
                ev(user, "refund", at + pd.Timedelta(days=2))
            kind = ("bot" if i < bots else "burst" if i < bots + bursts
                    else "refunder" if i < bots + bursts + refunders else None)
            if kind is None:
                continue
            planted[variant].append(user)
            if kind == "bot":
                for s in range(60):
                    ev(user, "view", at + pd.Timedelta(minutes=s))
            elif kind == "burst":
                for s in range(3):
                    ev(user, "order", at + pd.Timedelta(seconds=10 * s), 50.0)
            else:
                ev(user, "coupon", at)
                for d in range(3):
                    ev(user, "order", at + pd.Timedelta(days=d, hours=1), 40.0)
                    ev(user, "refund", at + pd.Timedelta(days=d, hours=6))
    registry.record_exposures(spec.key, exposures_batch(pd.DataFrame(exposures, columns=["user_id", "variant", "ts"])))
    registry.ingest_events(events_batch(pd.DataFrame(events, columns=["event_id", "user_id", "event", "value", "ts"]),
                                        source=spec.key), source=spec.key)
    registry.set_attributes(pd.DataFrame(attrs))
    registry.set_status(spec.key, "stopped", by="tests", reason="test window over")
    return planted
