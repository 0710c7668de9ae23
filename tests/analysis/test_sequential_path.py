"""The sequential path of a registry experiment (``promolab sequential KEY --looks K``):
the last look is the report, boundaries are gst_boundaries at the observed fractions, the
always-valid p-value is a running minimum, and the hash split is balanced."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from promolab.analysis.sequential_path import hash_groups, sequential_path
from promolab.cli import run
from promolab.errors import InputError
from promolab.spec import parse_experiment
from promolab.stats.sequential import equally_spaced, gst_boundaries
from promolab.store import Registry, events_batch, exposures_batch

SPEC = """
key = "{key}"
name = "Sequential path test"
owner = "tests"
control = "a"
[analysis]
sequential = "gst"
looks = 4
spending = "obf"
target_users = 100000
[[variants]]
key = "a"
[[variants]]
key = "b"
[[variants]]
key = "c"
[[metrics]]
key = "conv"
kind = "binomial"
event = "order"
[[metrics]]
key = "revenue"
kind = "mean"
event = "order"
aggregate = "sum"
[[metrics]]
key = "orders"
kind = "mean"
event = "order"
aggregate = "count"
[[metrics]]
key = "aov"
kind = "ratio"
numerator = "revenue"
denominator = "orders"
[filtering]
burst_orders = 3
burst_seconds = 60
"""
RATES = {"a": 0.05, "b": 0.07, "c": 0.055}
T0 = pd.Timestamp("2024-03-01")


def _fill(reg: Registry, key: str, n: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n users over ``days`` days (one time stamp when days == 0); orders up to 3 days later."""
    reg.create_experiment(parse_experiment(SPEC.format(key=key)), by="tests")
    reg.set_status(key, "running", by="tests")
    rng = np.random.default_rng(seed)
    users = [f"{key}-u{i:05d}" for i in range(n)]
    variants = rng.choice(list(RATES), size=n)
    offsets = pd.to_timedelta(rng.uniform(0, days * 86400, n) if days else np.zeros(n), unit="s")
    exposed = (T0 + offsets).floor("s")
    exposures = pd.DataFrame({"user_id": users, "variant": variants, "ts": exposed})
    rows = []
    for i, (u, v, t) in enumerate(zip(users, variants, exposed)):
        for j in range(rng.poisson(RATES[v] * 1.4)):
            rows.append((f"{u}-{j}", u, "order", float(rng.gamma(2.0, 25.0)),
                         t + pd.Timedelta(seconds=int(rng.uniform(60, 3 * 86400)))))
        if i % 400 == 7:  # a bot: five orders within ten seconds, removed by the abuse filter
            rows += [(f"{u}-bot{j}", u, "order", 20.0, t + pd.Timedelta(seconds=600 + 2 * j)) for j in range(5)]
    events = pd.DataFrame(rows, columns=["event_id", "user_id", "event", "value", "ts"])
    reg.record_exposures(key, exposures_batch(exposures.assign(ts=exposures.ts.map(pd.Timestamp.isoformat))))
    reg.ingest_events(events_batch(events.assign(ts=events.ts.map(pd.Timestamp.isoformat)), source=key), source=key)
    reg.set_status(key, "stopped", by="tests")  # the report's final look: information fraction 1
    return exposures, events


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("seqpath") / "seq.duckdb"
    reg = Registry.open(path)
    frames = {"spread": _fill(reg, "spread", 6000, 10, 1), "oneday": _fill(reg, "oneday", 4000, 0, 2)}
    yield path, reg, frames
    reg.close()


def _cli(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert run(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("key", ["spread", "oneday"])
def test_last_look_is_the_report(registry, capsys, key: str) -> None:
    path, reg, _ = registry
    report = _cli(capsys, "report", key, "--db", str(path), "--json")
    seq = _cli(capsys, "sequential", key, "--looks", "4", "--db", str(path), "--json")
    assert seq["split"] == ("time" if key == "spread" else "hash")
    assert seq["looks"][-1]["information_fraction"] == 1.0
    assert seq["looks"][-1]["users"] == sum(s for s in report["srm"]["observed"].values())
    assert sum(report["filtering"]["excluded"].values()) >= 10  # the bots are filtered at every look too
    tau2 = {}
    by_pair = {(c["metric"], c["variant"]): c for c in seq["comparisons"]}
    assert set(by_pair) == {(m["name"], v["variant"]) for m in report["metrics"] for v in m["variants"]
                            if v["lift"] is not None}
    for m in report["metrics"]:
        for v in m["variants"]:
            if v["lift"] is None:
                continue
            lift, last = v["lift"], by_pair[(m["name"], v["variant"])]["points"][-1]
            readout = lift["sequential"]
            # fixed-horizon test and confidence sequence: the report's, to the last bit
            for name in ("p_value", "absolute", "abs_ci_low", "abs_ci_high", "relative", "ci_low", "ci_high"):
                assert last[name] == pytest.approx(lift[name], rel=1e-9), (m["name"], name)
            assert last["z"] == pytest.approx(readout["z"], rel=1e-9)
            for side in ("cs_abs_ci_low", "cs_abs_ci_high", "cs_rel_ci_low", "cs_rel_ci_high"):
                assert last[side] == pytest.approx(readout[side], rel=1e-9)
            assert last["treatment_n"] == v["n"] and last["control_n"] == m["variants"][0]["n"]
            # the running always-valid p can only be below the single-look one
            assert last["always_valid_p"] <= last["always_valid_p_look"] + 1e-15
            tau2[(m["name"], v["variant"])] = readout["tau2"]
    # with the report's τ², the last look's single-look mSPRT values are the report's
    fixed = sequential_path(reg, key, 4, tau2=tau2)
    for m in report["metrics"]:
        for v in m["variants"]:
            if v["lift"] is None:
                continue
            readout = v["lift"]["sequential"]
            last = fixed.comparison(m["name"], v["variant"]).points[-1]
            assert last.always_valid_p_look == pytest.approx(readout["always_valid_p_value"], rel=1e-9, abs=1e-300)
            assert readout["always_valid_ci_low"] <= last.always_valid_ci_low + 1e-12
            assert last.always_valid_ci_high <= readout["always_valid_ci_high"] + 1e-12
    if key == "oneday":  # exactly equal groups: fractions k/4, so the report's boundary too
        for m in report["metrics"]:
            for v in m["variants"][1:]:
                assert seq["looks"][-1]["boundary"] == pytest.approx(v["lift"]["sequential"]["boundary"], rel=1e-9)


@pytest.mark.parametrize(("key", "spending"), [("spread", "obf"), ("oneday", "pocock"), ("spread", "hsd")])
def test_boundaries_are_gst_boundaries_at_the_observed_fractions(registry, key: str, spending: str) -> None:
    _, reg, _ = registry
    result = sequential_path(reg, key, 5, spending=spending)
    fractions = [k.information_fraction for k in result.looks]
    design = gst_boundaries(fractions, alpha=result.alpha, spending=spending)
    assert [k.boundary for k in result.looks] == pytest.approx(list(design.efficacy), rel=1e-9)
    assert [k.alpha_spent for k in result.looks] == pytest.approx(list(design.alpha_spent), rel=1e-9)
    assert fractions[-1] == 1.0 and np.all(np.diff(fractions) > 0)
    for c in result.comparisons:
        for p, k in zip(c.points, result.looks):
            # crossed is the corrected decision: never without |z| beyond the nominal boundary
            assert not p.crossed or abs(p.z) >= k.boundary
            assert p.crossed == (p.p_value_adjusted < result.alpha)
    if key == "oneday":
        assert fractions == pytest.approx(list(equally_spaced(5)))


def test_always_valid_p_is_a_running_minimum(registry) -> None:
    _, reg, _ = registry
    result = sequential_path(reg, "spread", 8)
    assert len(result.looks) == 8
    for c in result.comparisons:
        running = np.array([p.always_valid_p for p in c.points])
        single = np.array([p.always_valid_p_look for p in c.points])
        assert np.all(np.diff(running) <= 0)
        assert running == pytest.approx(np.minimum.accumulate(single), rel=1e-12)
        assert np.all((running > 0) & (running <= 1))
        lows = np.array([p.always_valid_ci_low for p in c.points])
        highs = np.array([p.always_valid_ci_high for p in c.points])
        assert np.all(np.diff(lows) >= 0) and np.all(np.diff(highs) <= 0)  # intersected over looks
        assert c.tau2 > 0


def test_time_looks_cut_users_and_events(registry) -> None:
    _, reg, frames = registry
    exposures, events = frames["spread"]
    result = sequential_path(reg, "spread", 4, metric="conv")
    assert [c.metric for c in result.comparisons] == ["conv", "conv"]
    first = result.looks[0]
    lo, hi = exposures.ts.min(), exposures.ts.max()
    assert pd.Timestamp(first.cut) == lo + (hi - lo) / 4
    seen = exposures[exposures.ts < pd.Timestamp(first.cut)]
    assert first.users == len(seen)
    # conversion at look 1: orders after exposure and before the cut (pandas, not SQL)
    before = events[events.ts < pd.Timestamp(first.cut)].merge(seen, on="user_id", suffixes=("", "_x"))
    buyers = set(before[before.ts >= before.ts_x].user_id)
    # the abuse filter at look 1 sees the orders before the cut: 3 within 60 s flags a user
    orders = events[events.ts < pd.Timestamp(first.cut)].sort_values(["user_id", "ts"])
    third = orders.groupby("user_id").ts.shift(-2)
    bots = set(orders.user_id[(third - orders.ts) <= pd.Timedelta(seconds=60)])
    control = seen[(seen.variant == "a") & ~seen.user_id.isin(bots)]
    point = result.comparison("conv", "b").points[0]
    assert point.control_n == len(control)
    assert point.control_mean == pytest.approx(control.user_id.isin(buyers).mean(), rel=1e-12)
    assert [k.users for k in result.looks][-1] == len(exposures)


def test_hash_split_is_balanced_and_stable(registry) -> None:
    _, reg, frames = registry
    result = sequential_path(reg, "oneday", 4)
    assert result.split == "hash" and "hash of the user id" in result.notes[0]
    assert [k.users for k in result.looks] == [1000, 2000, 3000, 4000]
    exposures = frames["oneday"][0]
    shares = exposures.variant.value_counts(normalize=True)
    for k in result.looks[:-1]:
        n = {c.variant: c.points[k.look - 1].treatment_n for c in result.comparisons if c.metric == "conv"}
        n["a"] = result.comparisons[0].points[k.look - 1].control_n
        for v, share in shares.items():  # each look is a random-like sample of the users
            assert abs(n[v] / k.users - share) < 4 * np.sqrt(share * (1 - share) / k.users)
    ids = pd.Series([f"user-{i}" for i in range(1001)])
    hashes = ids.map(lambda u: hashlib.md5(u.encode()).hexdigest())
    for looks in (2, 3, 7):
        groups = hash_groups(ids, hashes, looks)
        sizes = np.bincount(groups, minlength=looks)
        assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(ids)
        shuffled = np.random.default_rng(0).permutation(len(ids))
        again = hash_groups(ids.iloc[shuffled].reset_index(drop=True), hashes.iloc[shuffled].reset_index(drop=True),
                            looks)
        assert dict(zip(ids.iloc[shuffled], again)) == dict(zip(ids, groups))  # order does not matter


def test_bad_input_names_the_field(registry, capsys) -> None:
    path, reg, _ = registry
    with pytest.raises(InputError) as info:
        sequential_path(reg, "spread", 1)
    assert info.value.field == "plan.looks"
    with pytest.raises(InputError) as info:
        sequential_path(reg, "spread", 4, metric="nope")
    assert info.value.field == "metric"
    capsys.readouterr()
    assert run(["sequential", "spread", "--looks", "3", "--spending", "linear", "--db", str(path)]) == 2
    assert "--spending" in capsys.readouterr().err
    assert run(["sequential", "spread", "--looks", "3", "--metric", "conv", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv: b vs a" in out and "time split" in out
