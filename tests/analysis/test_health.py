"""The report's health section: users exposed more than once or to several variants
(counted, excluded by default, kept on request), percentile caps and heavy tails, and the
configurable SRM threshold — each checked against pandas/numpy/scipy on the raw rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare, ttest_ind

from promolab.analysis import analyze_experiment, analyze_table
from promolab.cli import run
from promolab.spec import parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

RNG = np.random.default_rng(11)


@pytest.fixture
def doubled(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """400 users in a/b; u0 appears twice in a; u1..u5 appear in both a and b (a broken SDK)."""
    users = pd.DataFrame({"user": [f"u{i}" for i in range(400)], "arm": ["a", "b"] * 200,
                          "spend": RNG.gamma(2.0, 10.0, 400)})
    extra = pd.concat([users.iloc[[0]],
                       users.iloc[1:6].assign(arm=lambda d: np.where(d.arm == "a", "b", "a"))])
    table = pd.concat([users, extra], ignore_index=True)
    path = tmp_path / "doubled.csv"
    table.to_csv(path, index=False)
    return path, table


def test_multiple_exposures_counted_and_cross_variant_users_excluded(doubled) -> None:
    path, table = doubled
    report = analyze_table(path, "arm", "a", ["spend:mean"], user="user")
    x = report.health.exposures
    per_user = table.groupby("user").agg(rows=("arm", "size"), arms=("arm", "nunique"))
    assert x.users == len(per_user)
    assert x.repeated_users == int((per_user.rows > 1).sum()) == 6
    assert x.cross_variant_users == int((per_user.arms > 1).sum()) == 5
    assert x.cross_variant_by_variant == {"a": 5, "b": 5} and x.policy == "exclude" and x.excluded_users == 5
    kept = table[~table.user.isin(per_user.index[per_user.arms > 1])]
    a, b = kept[kept.arm == "a"].spend, kept[kept.arm == "b"].spend
    row = report.metric("spend")
    assert [v.n for v in row.variants] == [len(a), len(b)]
    assert row.variant("a").mean == pytest.approx(a.mean(), rel=1e-12)
    assert row.variant("b").lift.p_value == pytest.approx(ttest_ind(b, a, equal_var=False).pvalue, rel=1e-9)
    assert any("5 of 400 users were exposed to more than one variant" in n for n in report.notes)
    data = report.to_dict()["health"]["multiple_exposures"]
    assert data["cross_variant_users"] == 5 and data["policy"] == "exclude"

    kept_all = analyze_table(path, "arm", "a", ["spend:mean"], user="user", cross_variant="keep")
    assert kept_all.health.exposures.excluded_users == 0
    assert sum(v.n for v in kept_all.metric("spend").variants) == len(table)


def test_cli_prints_the_health_line(doubled, capsys) -> None:
    path, _ = doubled
    assert run(["analyze-table", str(path), "--variant", "arm", "--control", "a", "--metric", "spend:mean",
                "--user", "user"]) == 0
    assert "Multiple exposures: 5 of 400 users saw more than one variant" in capsys.readouterr().out
    assert run(["analyze-table", str(path), "--variant", "arm", "--control", "a", "--metric", "spend:mean",
                "--user", "user", "--keep-cross-variant", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["health"]["multiple_exposures"]["policy"] == "keep"


def test_percentile_cap_matches_numpy(tmp_path: Path) -> None:
    n = 4000
    spend = np.where(RNG.random(n) < 0.3, RNG.lognormal(3.0, 1.2, n), 0.0)
    spend[7] = 250_000.0  # one whale
    frame = pd.DataFrame({"arm": ["a", "b"] * (n // 2), "spend": spend})
    path = tmp_path / "tail.csv"
    frame.to_csv(path, index=False)

    raw = analyze_table(path, "arm", "a", ["spend:mean"])
    tail = raw.health.tails[0]
    nonzero = spend[spend != 0]
    assert tail.p99 == pytest.approx(np.percentile(nonzero, 99), rel=1e-12)
    assert tail.maximum == 250_000.0 and tail.heavy_tail and tail.cap is None
    assert any("heavy tail" in note for note in raw.notes)

    capped = analyze_table(path, "arm", "a", ["spend:mean:cap=p99"])
    cap = np.percentile(nonzero, 99)  # PERCENTILE_CONT: linear interpolation, zeros ignored
    assert capped.health.tails[0].cap == pytest.approx(cap, rel=1e-12)
    assert capped.health.tails[0].cap_rule == "p99"
    clipped = frame.assign(spend=np.minimum(spend, cap))
    a, b = clipped[clipped.arm == "a"].spend, clipped[clipped.arm == "b"].spend
    row = capped.metric("spend")
    assert row.variant("a").mean == pytest.approx(a.mean(), rel=1e-9)
    assert row.variant("b").lift.p_value == pytest.approx(ttest_ind(b, a, equal_var=False).pvalue, rel=1e-8)

    fixed = analyze_table(path, "arm", "a", ["spend:mean:cap=100"])
    assert fixed.metric("spend").variant("a").mean == pytest.approx(
        np.minimum(frame[frame.arm == "a"].spend, 100).mean(), rel=1e-9)


SPEC = """
key = "srm-test"
name = "SRM threshold"
owner = "me"
control = "a"
[analysis]
srm_threshold = {threshold}
[[variants]]
key = "a"
[[variants]]
key = "b"
[[metrics]]
key = "conv"
kind = "binomial"
event = "order"
"""


@pytest.fixture
def skewed(tmp_path: Path):
    """1,050 vs 950 users on a 50/50 split: chi-square p ≈ 0.025."""
    def make(threshold: float):
        reg = Registry.open(tmp_path / f"srm-{threshold}.duckdb")
        exp = parse_experiment(SPEC.format(threshold=threshold))
        reg.create_experiment(exp)
        reg.set_status(exp.key, "running")
        users = [f"u{i}" for i in range(2000)]
        arms = ["a"] * 1050 + ["b"] * 950
        reg.record_exposures(exp.key, exposures_batch(pd.DataFrame({"user_id": users, "variant": arms,
                                                                    "ts": "2024-01-01"})))
        buyers = users[::9]
        reg.ingest_events(events_batch(pd.DataFrame({"event_id": buyers, "user_id": buyers, "event": "order",
                                                     "value": 1.0, "ts": "2024-01-02"})))
        return reg
    return make


def test_srm_threshold_from_the_spec_and_the_flag(skewed, capsys) -> None:
    p = chisquare([1050, 950]).pvalue
    assert 0.01 < p < 0.05
    strict = skewed(0.05)
    report = analyze_experiment(strict, "srm-test")
    assert report.srm.p_value == pytest.approx(p, rel=1e-12)
    assert report.srm.threshold == 0.05 and not report.srm.ok and report.verdict.decision == "investigate"
    assert "< 0.05" in report.verdict.text
    relaxed = analyze_experiment(strict, "srm-test", srm_threshold=0.01)
    assert relaxed.srm.ok and relaxed.verdict.decision != "investigate"
    capsys.readouterr()
    assert run(["report", "srm-test", "--db", str(strict.path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["srm"]["threshold"] == 0.05 and data["srm"]["ok"] is False
    assert run(["report", "srm-test", "--db", str(strict.path), "--srm-threshold", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "SRM ok" in out and "threshold 0.01" in out
    default = skewed(0.001)
    assert analyze_experiment(default, "srm-test").srm.ok


def test_registry_keeps_and_excludes_cross_variant_users(skewed, capsys) -> None:
    """A broken SDK shows user u2 both offers: the registry keeps the evidence, the report
    counts it per variant and leaves u2 out of every metric (``--keep-cross-variant`` keeps it)."""
    reg = skewed(0.001)
    reg.record_exposures("srm-test", exposures_batch(pd.DataFrame({"user_id": ["u1", "u2"], "variant": ["a", "b"],
                                                                   "ts": "2024-01-03"})))
    stored = reg.query("SELECT user_id, variant_key FROM exposures WHERE user_id IN ('u1', 'u2') ORDER BY 1")
    assert stored.variant_key.tolist() == ["a", "a"]  # both first saw a: u1 again (sticky), u2 now b too
    conflicts = reg.query("SELECT user_id, variant_key FROM exposure_conflicts")
    assert conflicts.values.tolist() == [["u2", "b"]]
    report = analyze_experiment(reg, "srm-test")
    x = report.health.exposures
    assert (x.users, x.cross_variant_users, x.excluded_users, x.repeated_users) == (2000, 1, 1, None)
    assert x.cross_variant_by_variant == {"a": 1, "b": 1}
    assert sum(v.n for v in report.metric("conv").variants) == 1999
    assert report.srm.observed == {"a": 1050, "b": 950}  # SRM on every exposed user
    kept = analyze_experiment(reg, "srm-test", cross_variant="keep")
    assert sum(v.n for v in kept.metric("conv").variants) == 2000 and kept.health.exposures.excluded_users == 0
    assert run(["report", "srm-test", "--db", str(reg.path)]) == 0
    assert "1 of 2,000 users were exposed to more than one variant" in capsys.readouterr().out
