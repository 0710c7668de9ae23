"""CLI: report / analyze-table with filtering, guardrails, segments and economics;
segment-users; simulate-segments; the demo's drill-down and incremental spend."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import promolab.cli  # noqa: F401
from promolab.cli.app import app
from promolab.spec import load_experiment, experiment_from_dict, experiment_to_dict

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_checkout_coupon_spec_round_trips_with_new_fields() -> None:
    spec = load_experiment(ROOT / "experiments" / "checkout-coupon.toml")
    assert spec.variant("pct10").cost == {"discount_pct": 10.0}
    assert spec.guardrails[0].margin == 0.005 and spec.filtering.burst_orders == 3
    assert spec.economics.margin_rate == 0.4
    assert experiment_from_dict(experiment_to_dict(spec)) == spec


def test_analyze_table_sections_text_and_json(hillstrom_csv: Path) -> None:
    args = ["analyze-table", hillstrom_csv, "--variant", "segment", "--control", "No E-Mail",
            "--metric", "visit:binomial", "--metric", "spend:mean", "--segment", "channel",
            "--guardrail", "conversion:binomial:increase:0.002", "--revenue", "spend",
            "--cost", "Mens E-Mail:per_user=0.01", "--outlier", "history", "--no-filter"]
    code, out = run(*args)
    assert code == 0, out
    for text in ("Abuse and bot filtering", "Guardrails", "Promotion economics", "Segments by channel",
                 "Filtered vs unfiltered"):
        assert text in out
    code, out = run(*args, "--json")
    data = json.loads(out)
    assert {"filtering", "guardrails", "segments", "economics", "unfiltered"} <= set(data)
    assert data["guardrails"]["Mens E-Mail"][0]["passed"] is True
    code, out = run("analyze-table", hillstrom_csv, "--variant", "segment", "--control", "No E-Mail",
                    "--metric", "visit:binomial", "--cost", "x:gift=1", "--revenue", "spend")
    assert code == 2 and "--cost" in out


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, copy_demo) -> Path:
    return copy_demo(tmp_path_factory.mktemp("demo") / "demo.duckdb")


def test_report_shows_hillstrom_drilldown_and_incremental_spend(demo_db: Path) -> None:
    code, out = run("report", "hillstrom-email", "--db", demo_db, "--json", "--segment", "history_segment")
    assert code == 0, out
    data = json.loads(out)
    assert [s["column"] for s in data["segments"]] == ["history_segment"]
    econ = {v["variant"]: v for v in data["economics"]["variants"]}
    assert econ["mens-email"]["incremental_revenue"]["ci_low"] > 0
    assert econ["mens-email"]["cost"] == {"per_user": 0.01}
    code, out = run("report", "hillstrom-email", "--db", demo_db)
    assert "Segments by channel" in out and "Segments by newbie" in out and "Promotion economics" in out


def test_segment_users_stores_a_usable_attribute(demo_db: Path) -> None:
    code, out = run("segment-users", "--db", demo_db, "--feature", "recency", "--feature", "history",
                    "--feature", "channel", "--feature", "newbie", "--log", "history", "--k-max", "4", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["stored"] == 64_000 and 2 <= data["k"] <= 4 and "silhouette" in data["criterion"]
    code, out = run("report", "hillstrom-email", "--db", demo_db, "--json", "--segment", "rfm_cluster")
    values = {s["value"] for s in json.loads(out)["segments"][0]["segments"]}
    assert values == {str(k) for k in range(1, data["k"] + 1)}


def test_simulate_segments_command() -> None:
    code, out = run("simulate-segments", ROOT / "simulations" / "segments" / "differ.toml", "--runs", "5", "--json")
    assert code == 0, out
    results = json.loads(out)["scenarios"][0]["results"]
    assert {r["policy"] for r in results} == {"global thompson", "per-segment thompson"}


def test_replay_segments_command(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 4000
    seg = rng.integers(0, 2, n)
    action = rng.integers(0, 2, n)
    reward = (rng.random(n) < np.where(seg == action, 0.1, 0.02)).astype(int)
    pd.DataFrame({"action": action, "reward": reward, "cluster": seg}).to_csv(tmp_path / "log.csv", index=False)
    code, out = run("replay-segments", tmp_path / "log.csv", "--policy", "thompson", "--segment-col", "cluster",
                    "--uniform", "--json")
    assert code == 0, out
    assert json.loads(out)["policy"]["per_segment"] is True


def test_the_demo_deploys_the_targeting_policy_the_readme_quotes(demo_db: Path) -> None:
    code, out = run("report", "hillstrom-targeted", "--db", demo_db, "--json")
    assert code == 0, out
    data = json.loads(out)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"its report reads `{data['verdict']['text']}`" in readme
    assert data["contextual"]["holdout_users"] > 1500 and data["srm"]["ok"]
    code, out = run("report", "hillstrom-targeted", "--db", demo_db)
    assert "Policy vs holdout (spend)" in out
