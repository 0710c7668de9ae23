"""One truth: every surface shows the same numbers for one experiment.

A registry holds an A/B experiment whose split is broken (SRM fails) with CUPED, a capped
revenue metric, a ratio metric, a guardrail with a margin and a group-sequential plan, and
a bandit with a stored weight history, a contextual (targeting) experiment with a holdout and
logged propensities, and a randomised A/B test to learn uplift on. For each, the CLI
``report --json``, the service's report route, the dashboard's data for the Report,
Sequential, Bandit and Targeting pages, and ``analyze-table`` on the rows ``export-users``
wrote give the same n, means, lifts, CIs, p-values and verdicts (1e-9), and every go/stop
read-out is blocked the same way; ``uplift --json`` and ``report --json`` of the contextual
experiment agree with the Targeting page.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from promolab.cli import run
from promolab.jsonable import to_plain
from promolab.service import create_app
from promolab.spec import experiment_from_dict
from promolab.store import Registry, events_batch, exposures_batch
from promolab.store.keys import create_key
from warehouse_data import assert_close

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
T0 = pd.Timestamp("2024-05-01")
AB = {
    "key": "xs-ab", "name": "Cross-surface A/B", "owner": "tests", "control": "a",
    "variants": [{"key": k, "name": k, "weight": 1} for k in ("a", "b", "c")],
    "metrics": [
        {"key": "conv", "name": "Ordered", "kind": "binomial", "event": "order"},
        {"key": "revenue", "kind": "mean", "event": "order", "cap": 150, "covariate": "prior_spend"},
        {"key": "orders", "kind": "mean", "event": "order", "aggregate": "count"},
        {"key": "aov", "kind": "ratio", "numerator": "revenue", "denominator": "orders"},
    ],
    "guardrails": [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease",
                    "margin": 0.02}],
    "analysis": {"sequential": "gst", "looks": 4, "target_users": 8000, "spending": "obf"},
}
BANDIT = {
    "key": "xs-bandit", "name": "Cross-surface bandit", "owner": "tests", "kind": "bandit", "control": "none",
    "bandit": {"policy": "thompson", "reward": "conv"},
    "variants": [{"key": k, "name": k, "weight": 1} for k in ("none", "pct10", "pct20")],
    "metrics": [{"key": "conv", "kind": "binomial", "event": "order"}],
}
UPLIFT = {
    "key": "xs-uplift", "name": "Cross-surface uplift", "owner": "tests", "control": "a",
    "variants": [{"key": k, "name": k, "weight": 1} for k in ("a", "b", "c")],
    "metrics": [{"key": "conv", "kind": "binomial", "event": "order"}, {"key": "revenue", "kind": "mean", "event": "order"}],
}
CONTEXTUAL = {
    "key": "xs-ctx", "name": "Cross-surface targeting", "owner": "tests", "kind": "contextual", "control": "a",
    "contextual": {"policy": "targeting", "reward": "conv", "holdout": 0.3, "floor": 0.05,
                   "features": [{"name": "prior_spend", "kind": "numeric", "center": 50.0, "scale": 35.0}],
                   "params": {"scores": {"b": [0.1, 0.5], "c": [0.2, -0.5]}}},
    "variants": [{"key": k, "name": k, "weight": 1} for k in ("a", "b", "c")],
    "metrics": [{"key": "conv", "kind": "binomial", "event": "order"}, {"key": "revenue", "kind": "mean", "event": "order"}],
}
RATES = {"a": 0.06, "b": 0.08, "c": 0.07, "none": 0.04, "pct10": 0.05, "pct20": 0.07}


def _fill(reg: Registry, key: str, arms: list[str], shares: list[float], n: int, rng, days: int = 4) -> None:
    exposures, events = [], []
    for i in range(n):
        arm = arms[rng.choice(len(arms), p=shares)]
        user = f"{key}-{i}"
        ts = T0 + pd.Timedelta(seconds=int(rng.uniform(0, days * 86400)))
        exposures.append((user, arm, ts))
        for j in range(rng.poisson(RATES[arm] * 1.4)):
            events.append((f"{user}-o{j}", user, "order", float(rng.gamma(2.0, 30.0)), ts + pd.Timedelta(hours=j + 1)))
        if rng.random() < 0.03:
            events.append((f"{user}-r", user, "refund", 1.0, ts + pd.Timedelta(hours=30)))
    x = pd.DataFrame(exposures, columns=["user_id", "variant", "ts"])
    e = pd.DataFrame(events, columns=["event_id", "user_id", "event", "value", "ts"])
    reg.record_exposures(key, exposures_batch(x.assign(ts=x.ts.map(pd.Timestamp.isoformat))))
    reg.ingest_events(events_batch(e.assign(ts=e.ts.map(pd.Timestamp.isoformat)), source=key), source=key)
    reg.set_attributes(pd.DataFrame({"user_id": x.user_id, "prior_spend": rng.gamma(2.0, 25.0, len(x)).round(2)}))


def _fill_contextual(reg: Registry, rng) -> None:
    """Users assigned by the served targeting policy (holdout, floor, logged propensity and context)."""
    from promolab.adaptive.contextual import spec_model
    from promolab.service.evaluate import Running, decide_each

    spec = reg.get_experiment("xs-ctx")
    users = [f"xs-ctx-{i}" for i in range(2400)]
    prior = rng.gamma(2.0, 25.0, len(users)).round(2)
    decisions = decide_each(Running(spec, None, spec_model(spec)), users, [{"prior_spend": p} for p in prior])
    arms = [spec.variant_keys[d.index] for d in decisions]
    ts = [(T0 + pd.Timedelta(seconds=int(s))).isoformat() for s in rng.uniform(0, 3 * 86400, len(users))]
    x = pd.DataFrame({"user_id": users, "variant": arms, "ts": ts, "propensity": [d.propensity for d in decisions]})
    reg.record_exposures("xs-ctx", exposures_batch(x).assign(context_json=[d.context for d in decisions]))
    buy = rng.random(len(users)) < np.array([RATES[a] for a in arms]) * (1 + prior / 100)
    e = pd.DataFrame({"event_id": [f"{u}-o" for u in np.array(users)[buy]], "user_id": np.array(users)[buy],
                      "event": "order", "value": rng.gamma(2.0, 30.0, int(buy.sum())),
                      "ts": (T0 + pd.Timedelta(days=4)).isoformat()})
    reg.ingest_events(events_batch(e, source="xs-ctx"), source="xs-ctx")
    reg.set_attributes(pd.DataFrame({"user_id": users, "prior_spend": prior}))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("surfaces") / "surfaces.duckdb"
    reg = Registry.open(path)
    rng = np.random.default_rng(2024)
    admin = create_key(reg, "admin", "surfaces")[0]
    for raw in (AB, BANDIT):
        reg.create_experiment(experiment_from_dict(raw))
        reg.set_status(raw["key"], "running")
    _fill(reg, "xs-ab", ["a", "b", "c"], [0.40, 0.33, 0.27], 3000, rng)  # a broken 1:1:1 split
    for day, weights in enumerate(([1 / 3] * 3, [0.2, 0.3, 0.5], [0.1, 0.2, 0.7])):
        reg.record_weights("xs-bandit", dict(zip(["none", "pct10", "pct20"], weights)), policy="thompson",
                           reason="test", at=(T0 + pd.Timedelta(days=day)).to_pydatetime())
    _fill(reg, "xs-bandit", ["none", "pct10", "pct20"], [0.2, 0.3, 0.5], 2400, rng, days=3)
    for raw in (UPLIFT, CONTEXTUAL):
        reg.create_experiment(experiment_from_dict(raw))
        reg.set_status(raw["key"], "running")
    _fill(reg, "xs-uplift", ["a", "b", "c"], [1 / 3] * 3, 2400, rng)
    _fill_contextual(reg, rng)
    reg.close()
    return path, admin


def _cli_json(argv: list[str], capsys) -> dict:
    capsys.readouterr()
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def ui_data(registry):
    if str(DASHBOARDS) not in sys.path:
        sys.path.insert(0, str(DASHBOARDS))
    from ui import data  # the dashboard's one data module (cached library calls)

    return data


def _page(ui_data, fn, *args):
    """What a dashboard page gets from its data function (Streamlit's cache only memoises it)."""
    ui_data.registry.clear()  # the service test closed this process's connection to the file
    return fn.__wrapped__(*args)


@pytest.mark.parametrize("key", ["xs-ab", "xs-bandit", "xs-ctx"])
def test_cli_service_and_dashboard_report_agree(registry, ui_data, key: str, capsys) -> None:
    path, admin = registry
    cli = _cli_json(["report", key, "--db", str(path), "--json"], capsys)
    with TestClient(create_app(path)) as client:
        response = client.get(f"/v1/experiments/{key}/report", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200
    assert_close(response.json(), cli)
    assert_close(to_plain(_page(ui_data, ui_data.report, str(path), key).to_dict()), cli)
    assert cli["srm"]["ok"] is (key != "xs-ab")  # the A/B split is broken; the others follow their weights
    assert cli["verdict"]["decision"] == ("investigate" if key == "xs-ab" else cli["verdict"]["decision"])
    if key == "xs-ctx":  # the contextual read-out decides, policy vs holdout
        lift = cli["contextual"]["policy_vs_holdout"]
        assert f"{lift['absolute']:+.4g}" in cli["verdict"]["text"] and cli["contextual"]["holdout_users"] > 500


def test_analyze_table_on_exported_rows_agrees(registry, tmp_path: Path, capsys) -> None:
    path, _ = registry
    report = _cli_json(["report", "xs-ab", "--db", str(path), "--json"], capsys)
    rows = tmp_path / "rows.csv"
    assert run(["export-users", "xs-ab", str(rows), "--db", str(path)]) == 0
    t = report["sequential"]["information_fraction"]
    table = _cli_json(["analyze-table", str(rows), "--variant", "variant", "--control", "a", "--user", "user_id",
                       "--metric", "conv:binomial", "--metric", "revenue:mean:cap=150:covariate=prior_spend",
                       "--metric", "orders:mean", "--metric", "revenue/orders:ratio:cap=150",
                       "--guardrail", "refund:binomial:decrease:margin=0.02",
                       "--sequential", "gst", "--looks", "4", "--information-fraction", repr(t), "--json"], capsys)
    names = {"conv": "conv", "revenue": "revenue", "orders": "orders", "aov": "revenue/orders", "refund": "refund"}
    assert [m["name"] for m in table["metrics"]] == [names[m["name"]] for m in report["metrics"]]
    for want, got in zip(report["metrics"], table["metrics"]):
        for w, g in zip(want["variants"], got["variants"]):
            assert (g["variant"], g["n"]) == (w["variant"], w["n"])
            assert_close(g["mean"], w["mean"])
            if w["lift"] is not None:
                keep = ("absolute", "relative", "ci_low", "ci_high", "abs_ci_low", "abs_ci_high", "p_value",
                        "p_value_adjusted", "significant", "decision", "cuped", "sequential")
                assert_close({k: g["lift"].get(k) for k in keep}, {k: w["lift"].get(k) for k in keep},
                             path=f"{want['name']}/{w['variant']}")
    assert_close(table["srm"], report["srm"])
    assert table["verdict"]["decision"] == report["verdict"]["decision"] == "investigate"
    assert [c["passed"] for c in table["guardrails"]["b"]] == [c["passed"] for c in report["guardrails"]["b"]]
    assert table["health"]["multiple_exposures"]["cross_variant_users"] == 0


def test_sequential_page_agrees_with_the_report(registry, ui_data, capsys) -> None:
    path, _ = registry
    report = _cli_json(["report", "xs-ab", "--db", str(path), "--json"], capsys)
    cli = _cli_json(["sequential", "xs-ab", "--db", str(path), "--looks", "4", "--json"], capsys)
    page = _page(ui_data, ui_data.sequential_path, str(path), "xs-ab", 4, "obf")
    assert_close(to_plain(page.to_dict()), cli)
    assert page.blocked and cli["blocked"] and not report["srm"]["ok"]  # blocked like the report
    assert_close(cli["srm"], report["srm"])
    metrics = {m["name"]: m for m in report["metrics"]}
    for comparison in page.comparisons:  # the last look holds every user: the report's numbers
        last = comparison.points[-1]
        rows = {v["variant"]: v for v in metrics[comparison.metric]["variants"]}
        lift = rows[comparison.variant]["lift"]
        assert (last.control_n, last.treatment_n) == (rows["a"]["n"], rows[comparison.variant]["n"])
        assert_close([last.control_mean, last.treatment_mean], [rows["a"]["mean"], rows[comparison.variant]["mean"]])
        assert_close([last.absolute, last.abs_ci_low, last.abs_ci_high, last.relative, last.ci_low, last.ci_high,
                      last.p_value],
                     [lift["absolute"], lift["abs_ci_low"], lift["abs_ci_high"], lift["relative"], lift["ci_low"],
                      lift["ci_high"], lift["p_value"]])


def test_bandit_page_agrees_with_the_report(registry, ui_data, capsys) -> None:
    path, _ = registry
    report = _cli_json(["report", "xs-bandit", "--db", str(path), "--json"], capsys)
    cli = _cli_json(["bandit", "regret", "xs-bandit", "--db", str(path), "--json"], capsys)
    page = _page(ui_data, ui_data.bandit_regret, str(path), "xs-bandit")
    assert_close(to_plain(page.to_dict()), cli)
    means = {v["variant"]: v["mean"] for v in report["metrics"][0]["variants"]}
    assert_close({a["variant"]: a["mean_reward"] for a in cli["arms"]}, means)
    assert cli["blocked"] is (not report["srm"]["ok"])
    assert_close(cli["srm"], report["srm"])
    assert cli["best_variant"] == max(means, key=means.get)


def test_targeting_page_agrees_with_uplift_and_allocation(registry, ui_data, capsys) -> None:
    path, _ = registry
    cli = _cli_json(["uplift", "--experiment", "xs-uplift", "--db", str(path), "--model", "ridge", "--json"], capsys)
    page = _page(ui_data, ui_data.uplift_report, str(path), "xs-uplift", ("x",), "ridge", None)
    assert_close(to_plain({**page.to_dict(), "policy_file": None}), cli)
    assert [p["policy"] for p in cli["targeting"]["policies"]][2:] == [
        "no one (a)", "everyone: b", "everyone: c"]
    cli = _cli_json(["bandit", "allocation", "xs-ctx", "--feature", "prior_spend", "--db", str(path), "--json"],
                    capsys)
    page = _page(ui_data, ui_data.segment_allocation, str(path), "xs-ctx", "prior_spend", "day")
    assert_close(to_plain(page.to_dict()), cli)
    report = _cli_json(["report", "xs-ctx", "--db", str(path), "--json"], capsys)
    assert cli["policy_users"] == report["contextual"]["policy_users"]


def test_over_time_agrees_on_every_surface(registry, ui_data, capsys) -> None:
    """``report KEY --over-time --json``, the report route's ``?over_time=day`` and the Report page's
    loader give the same series for every experiment; for the A/B test (pooled like its report) the
    last cumulative point is the report's lift."""
    path, admin = registry
    keys = ("xs-ab", "xs-bandit", "xs-uplift", "xs-ctx")
    cli = {key: _cli_json(["report", key, "--db", str(path), "--over-time", "--json"], capsys) for key in keys}
    with TestClient(create_app(path)) as client:
        for key in keys:
            response = client.get(f"/v1/experiments/{key}/report", params={"over_time": "day"},
                                  headers={"Authorization": f"Bearer {admin}"})
            assert response.status_code == 200, response.text
            assert_close(response.json(), cli[key], path=key)
    for key in keys:
        assert_close(to_plain(_page(ui_data, ui_data.over_time, str(path), key, "day", True).to_dict()), cli[key],
                     path=key)
        assert len(cli[key]["periods"]) >= 3 and cli[key]["period"] == "day"
    report = _cli_json(["report", "xs-ab", "--db", str(path), "--json"], capsys)
    series = {m["name"]: m for m in cli["xs-ab"]["metrics"]}
    for metric in report["metrics"]:
        for row in metric["variants"]:
            if row["lift"] is None:
                continue
            last = next(s for s in series[metric["name"]]["lifts"] if s["variant"] == row["variant"])["points"][-1]
            assert last["treatment_n"] == row["n"]
            assert_close({k: last[k] for k in ("absolute", "abs_ci_low", "abs_ci_high", "relative", "ci_low",
                                               "ci_high", "p_value")},
                         {k: row["lift"][k] for k in ("absolute", "abs_ci_low", "abs_ci_high", "relative", "ci_low",
                                                      "ci_high", "p_value")}, path=f"{metric['name']}/{row['variant']}")
            assert_close(last["boundary"], row["lift"]["sequential"]["boundary"])


def test_alerts_agree_on_every_surface(registry, ui_data, capsys) -> None:
    """``promolab alerts check --json`` raises them; ``promolab alerts --json`` and the dashboard's
    banners (the Experiments list and each experiment's Report page) read the same stored alerts."""
    path, _ = registry
    checked = _cli_json(["alerts", "check", "--db", str(path), "--json"], capsys)
    raised = [a for outcome in checked for a in outcome["alerts"]]
    assert any(a["experiment"] == "xs-ab" and a["kind"] == "srm" for a in raised)
    listed = _cli_json(["alerts", "--db", str(path), "--json"], capsys)
    shown = _page(ui_data, ui_data.open_alerts, str(path))
    assert [to_plain(a.to_dict()) for a in shown] == listed
    assert sorted(a["id"] for a in listed) == sorted(a["id"] for a in raised)
    assert not any(o["paused"] for o in checked)  # no experiment here opted in to auto-pause
