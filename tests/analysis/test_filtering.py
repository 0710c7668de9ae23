"""Abuse and bot filtering: planted abusers are caught, honest heavy buyers are not, and
an imbalance of exclusions between variants raises the alert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.filtering import TableFilters, imbalance_test
from promolab.spec import parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

SPEC = """
key = "flt"
name = "Filtering fixture"
owner = "qa"
control = "a"
[[variants]]
key = "a"
weight = 1
[[variants]]
key = "b"
weight = 1
[[metrics]]
key = "conversion"
kind = "binomial"
event = "order"
[[metrics]]
key = "revenue"
kind = "mean"
event = "order"
[filtering]
max_events_per_day = 40
burst_orders = 3
burst_seconds = 60
refunds_after_coupon = 2
shared_attributes = ["device_id", "payment_fingerprint"]
max_accounts = 3
outlier_z = 5.0
"""

T0 = pd.Timestamp("2024-05-01")
PLANTED = {"bot": "events_per_day", "burst": "order_burst", "refunder": "refunds_after_coupon",
           "farm": "shared_device_id", "spider": "activity_outlier"}


def _fixture(abuse_in_b_only: bool = False, n: int = 600, seed: int = 1):
    rng = np.random.default_rng(seed)
    users = [f"u{i:04d}" for i in range(n)]
    variant = np.where(np.arange(n) % 2 == 0, "a", "b")
    events, attrs = [], []

    def ev(user, event, ts, value=1.0):
        events.append({"event_id": f"e{len(events)}", "user_id": user, "event": event, "value": value, "ts": ts})

    for i, u in enumerate(users):
        attrs.append({"user_id": u, "device_id": f"d{i}", "payment_fingerprint": f"p{i}"})
        for j in range(rng.poisson(1.2)):  # honest: a few orders over weeks
            ev(u, "order", T0 + pd.Timedelta(days=int(rng.integers(1, 28)), hours=int(rng.integers(0, 24))),
               float(rng.gamma(2, 30)))
        if i < 20:  # honest heavy buyers: 10-14 orders, one per day, an occasional refund after a coupon
            for d in range(10 + i % 5):
                ev(u, "order", T0 + pd.Timedelta(days=1 + d, hours=10), 80.0)
            ev(u, "coupon", T0 + pd.Timedelta(days=1))
            ev(u, "refund", T0 + pd.Timedelta(days=3))
    planted: dict[str, list[str]] = {k: [] for k in PLANTED}
    pool = [i for i in range(20, n) if not abuse_in_b_only or variant[i] == "b"]
    it = iter(pool[:: 7])
    for kind in PLANTED:
        for _ in range(4):
            i = next(it)
            u = users[i]
            planted[kind].append(u)
            if kind == "bot":  # 60 page events in one day
                for s in range(60):
                    ev(u, "view", T0 + pd.Timedelta(days=2, minutes=s))
            elif kind == "burst":  # 3 orders within 20 seconds
                for s in range(3):
                    ev(u, "order", T0 + pd.Timedelta(days=3, seconds=10 * s), 50.0)
            elif kind == "refunder":  # coupon, then 3 refunds
                ev(u, "coupon", T0 + pd.Timedelta(days=1))
                for d in range(3):
                    ev(u, "order", T0 + pd.Timedelta(days=2 + d), 40.0)
                    ev(u, "refund", T0 + pd.Timedelta(days=2 + d, hours=5))
            elif kind == "farm":  # 4 accounts on one device
                attrs[i]["device_id"] = "shared-device"
            elif kind == "spider":  # 35 events a day for 20 days: under the daily cap, far out in volume
                for d in range(20):
                    for s in range(35):
                        ev(u, "view", T0 + pd.Timedelta(days=1 + d, minutes=s))
    exposures = pd.DataFrame({"user_id": users, "variant": variant, "ts": T0.isoformat()})
    frame = pd.DataFrame(events)
    frame["ts"] = frame["ts"].astype(str)
    return exposures, frame, pd.DataFrame(attrs), planted


def _registry(path: Path, abuse_in_b_only: bool = False, spec_text: str = SPEC) -> tuple[Registry, dict]:
    exposures, events, attrs, planted = _fixture(abuse_in_b_only)
    reg = Registry.open(path)
    spec = parse_experiment(spec_text)
    reg.create_experiment(spec)
    reg.set_status(spec.key, "running")
    reg.record_exposures(spec.key, exposures_batch(exposures, "t"), source="t")
    reg.ingest_events(events_batch(events, "t"), source="t")
    reg.set_attributes(attrs)
    return reg, planted


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return _registry(tmp_path_factory.mktemp("flt") / "r.duckdb")


def _flagged(reg: Registry) -> pd.DataFrame:
    from promolab.analysis.filtering import _rules

    ctes, rules = _rules(reg.get_experiment("flt"), reg.get_experiment("flt").filtering)
    return reg.query("WITH " + ",\n".join(ctes) + "\nSELECT * FROM flt_flags"), rules


def test_planted_abusers_are_caught_and_heavy_buyers_are_not(registry) -> None:
    reg, planted = registry
    flags, rules = _flagged(reg)
    flags = flags.set_index("user_id")
    for kind, rule in PLANTED.items():
        caught = flags.loc[planted[kind], rule]
        assert caught.all(), (kind, rule, caught)
    assert flags.loc[planted["farm"], "__excluded"].all()
    heavy = [f"u{i:04d}" for i in range(20)]
    assert flags.loc[heavy, "__excluded"].sum() == 0
    all_planted = {u for users in planted.values() for u in users}
    # the farm's 4th account is whoever else shares the device: nobody honest is excluded
    assert set(flags.index[flags["__excluded"] == 1]) == all_planted


def test_report_counts_per_rule_and_variant(registry) -> None:
    reg, planted = registry
    report = analyze_experiment(reg, "flt", compare_unfiltered=True)
    f = report.filtering
    assert sum(f.excluded.values()) == 20 and f.exposed == {"a": 300, "b": 300}
    by_rule = {r.rule: sum(r.flagged.values()) for r in f.rules}
    assert by_rule["events_per_day"] >= 4 and by_rule["shared_device_id"] == 4
    assert by_rule["shared_payment_fingerprint"] == 0
    assert report.metric("conversion").variant("a").n + report.metric("conversion").variant("b").n == 580
    assert report.srm.observed == {"a": 300, "b": 300}  # SRM on all exposed users
    assert report.unfiltered is not None and report.unfiltered.metric("conversion").variant("a").n == 300
    data = report.to_dict()
    assert data["filtering"]["rules"][0]["excluded"].keys() == {"a", "b"}
    assert data["unfiltered"]["filtering"] is None


def test_imbalance_alert_when_one_variant_attracts_abuse(tmp_path: Path) -> None:
    reg, _ = _registry(tmp_path / "r.duckdb", abuse_in_b_only=True)
    report = analyze_experiment(reg, "flt")
    f = report.filtering
    assert f.excluded["a"] == 0 and f.excluded["b"] == 20
    assert f.alert and f.p_value < 0.01
    assert any("imbalanced" in n for n in report.notes)
    assert report.to_dict()["filtering"]["imbalance"]["alert"] is True


def test_balanced_exclusions_raise_no_alert(registry) -> None:
    assert not analyze_experiment(registry[0], "flt").filtering.alert


def test_imbalance_test_matches_scipy() -> None:
    from scipy.stats import chi2_contingency

    stat, p = imbalance_test({"a": 5, "b": 25, "c": 10}, {"a": 1000, "b": 1000, "c": 990})
    want = chi2_contingency([[5, 995], [25, 975], [10, 980]], correction=False)
    assert stat == pytest.approx(want[0]) and p == pytest.approx(want[1])


def test_missing_fingerprint_attribute_is_noted(tmp_path: Path) -> None:
    text = SPEC.replace('shared_attributes = ["device_id", "payment_fingerprint"]',
                        'shared_attributes = ["device_id", "card_hash"]')
    reg, _ = _registry(tmp_path / "r.duckdb", spec_text=text)
    notes = analyze_experiment(reg, "flt").filtering.notes
    assert any("card_hash" in n for n in notes)


def test_table_filters_on_per_user_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    frame = pd.DataFrame({"variant": np.where(np.arange(n) % 2, "t", "c"),
                          "orders": rng.poisson(1.0, n), "device": [f"d{i}" for i in range(n)],
                          "fraud": 0})
    frame["converted"] = (frame["orders"] > 0).astype(int)
    frame.loc[:9, "orders"] = 400  # bots
    frame.loc[10:14, "orders"] = 12  # heavy but honest
    frame.loc[20:25, "device"] = "farm"
    frame.loc[30, "fraud"] = 1
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    filters = TableFilters(flags=("fraud",), outliers=("orders",), shared=("device",), outlier_z=5.0)
    report = analyze_table(path, "variant", "c", ["converted:binomial"], filters=filters, compare_unfiltered=True)
    rules = {r.rule: sum(r.flagged.values()) for r in report.filtering.rules}
    assert rules == {"flag_fraud": 1, "outlier_orders": 10, "shared_device": 6}
    assert sum(report.filtering.excluded.values()) == 17
    assert report.unfiltered.metric("converted").variant("c").n == n // 2
