"""The promolab command: life cycle, ingestion, reports, power, demo; bad input → exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize
from typer.testing import CliRunner

import promolab.cli  # noqa: F401  (registers the commands)
from promolab.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
COUPON = ROOT / "experiments" / "checkout-coupon.toml"
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.duckdb"


def test_life_cycle(db: Path) -> None:
    assert run("init", "--db", db)[0] == 0
    assert run("experiment", "create", COUPON, "--db", db)[0] == 0
    assert run("experiment", "launch", "checkout-coupon", "--db", db, "--by", "ann")[0] == 0
    assert run("experiment", "ramp", "checkout-coupon", "80", "--db", db)[0] == 0
    assert run("experiment", "pause", "checkout-coupon", "--db", db, "--reason", "bug")[0] == 0
    code, out = run("experiment", "show", "checkout-coupon", "--db", db, "--json")
    data = json.loads(out)
    assert data["status"] == "paused" and data["spec"]["traffic_percent"] == 80
    assert [h["to_status"] for h in data["history"]] == ["draft", "running", "running", "paused"]
    code, out = run("experiment", "list", "--db", db, "--json")
    assert json.loads(out)[0]["key"] == "checkout-coupon"
    assert run("experiment", "stop", "checkout-coupon", "--db", db)[0] == 0


def test_bad_input_exits_2_with_one_line_and_changes_nothing(db: Path, tmp_path: Path) -> None:
    run("experiment", "create", COUPON, "--db", db)
    code, out = run("experiment", "create", COUPON, "--db", db)
    assert code == 2 and "key: got 'checkout-coupon'" in out
    code, out = run("experiment", "pause", "checkout-coupon", "--db", db)
    assert code == 2 and "cannot go from draft to paused" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("key = [")
    code, out = run("experiment", "create", bad, "--db", db)
    assert code == 2 and f"{bad}: toml:" in out
    _, listing = run("experiment", "list", "--db", db, "--json")
    rows = json.loads(listing)
    assert len(rows) == 1 and rows[0]["status"] == "draft"


def test_ingest_is_idempotent_and_report_reads_it(db: Path, tmp_path: Path) -> None:
    run("experiment", "create", COUPON, "--db", db)
    run("experiment", "launch", "checkout-coupon", "--db", db)
    n = 600
    users = [f"u{i}" for i in range(n)]
    variants = ["no-coupon", "pct10", "free-shipping"] * (n // 3)
    pd.DataFrame({"user_id": users, "variant": variants, "ts": "2024-03-01T00:00:00"}).to_csv(
        tmp_path / "exp.csv", index=False)
    buyers = [i for i in range(n) if i % 4 == 0 or (variants[i] == "pct10" and i % 3 == 0)]
    pd.DataFrame({"event_id": [f"o{i}" for i in buyers], "user_id": [users[i] for i in buyers], "event": "order",
                  "value": [20.0 + i % 7 for i in buyers], "ts": "2024-03-02T00:00:00"}).to_parquet(
        tmp_path / "events.parquet")
    code, out = run("ingest", tmp_path / "exp.csv", "--kind", "exposures", "--experiment", "checkout-coupon",
                    "--db", db, "--json")
    assert code == 0 and json.loads(out)["inserted"] == n
    for expected_new in (len(buyers), 0):
        code, out = run("ingest", tmp_path / "events.parquet", "--kind", "events", "--db", db, "--json")
        assert json.loads(out)["inserted"] == expected_new
    code, out = run("report", "checkout-coupon", "--db", db, "--json")
    data = json.loads(out)
    conv = next(m for m in data["metrics"] if m["name"] == "conversion")
    means = {v["variant"]: v["mean"] for v in conv["variants"]}
    frame = pd.DataFrame({"variant": variants, "buy": [i in set(buyers) for i in range(n)]})
    assert means == pytest.approx(frame.groupby("variant").buy.mean().to_dict())
    assert data["srm"]["ok"]


def test_bad_event_file_stores_nothing(db: Path, tmp_path: Path) -> None:
    pd.DataFrame({"event_id": ["a", "b"], "user_id": ["u", "v"], "event": "order", "value": [1.0, "lots"],
                  "ts": "2024-01-01"}).to_csv(tmp_path / "bad.csv", index=False)
    code, out = run("ingest", tmp_path / "bad.csv", "--kind", "events", "--db", db)
    assert code == 2 and "value (row 2): got 'lots'" in out
    from promolab.store import Registry

    assert Registry.open(db).query("SELECT COUNT(*) AS n FROM events").n[0] == 0


def test_analyze_table_json_reproduces_hillstrom(hillstrom_csv: Path) -> None:
    code, out = run("analyze-table", hillstrom_csv, "--variant", "segment", "--control", "No E-Mail",
                    "--metric", "visit:binomial", "--metric", "spend:mean", "--json")
    assert code == 0
    data = json.loads(out)
    spend = next(m for m in data["metrics"] if m["name"] == "spend")
    mens = next(v for v in spend["variants"] if v["variant"] == "Mens E-Mail")
    assert mens["n"] == 21_307 and mens["mean"] == pytest.approx(1.4226, abs=5e-5)
    assert mens["lift"]["p_value"] == pytest.approx(1.2e-7, rel=0.1)


def test_analyze_table_bad_control(hillstrom_csv: Path) -> None:
    code, out = run("analyze-table", hillstrom_csv, "--variant", "segment", "--control", "Nope",
                    "--metric", "visit:binomial")
    assert code == 2
    assert out.strip().startswith("error: --control: got 'Nope', expected a value of column segment")


def test_power_matches_statsmodels() -> None:
    code, out = run("power", "--baseline", "0.1", "--mde", "0.1", "--json", "--daily-users", "1000")
    data = json.loads(out)
    effect = proportion_effectsize(0.11, 0.10)
    n = NormalIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8, ratio=1.0)
    assert data["n_per_variant"] == pytest.approx(n, abs=1)
    assert data["days"] == -(-data["n_total"] // 1000)
    assert run("power", "--baseline", "0.1")[0] == 2


def test_demo_prints_the_hillstrom_report(tmp_path: Path) -> None:
    code, out = run("demo", "--db", tmp_path / "demo.duckdb", "--json")
    assert code == 0
    data = json.loads(out)
    visit = next(m for m in data["metrics"] if m["name"] == "visit")
    means = {v["variant"]: round(v["mean"], 6) for v in visit["variants"]}
    assert means == {"no-email": 0.106167, "mens-email": 0.182757, "womens-email": 0.1514}
    assert data["srm"]["ok"] and data["verdict"]["decision"] == "ship"
