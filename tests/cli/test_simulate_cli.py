"""``promolab simulate`` and ``promolab replay``: JSON and table output, bad input as one line + exit 2."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import promolab.cli  # noqa: F401  (registers the commands)
from promolab.cli import run
from promolab.cli.app import app

runner = CliRunner()
SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"


def test_simulate_json_has_regret_allocation_identification_and_cost():
    args = ["simulate", str(SIMULATIONS / "coupons.toml"), "--json", "--runs", "20", "--seed", "3",
            "--policy", "thompson", "--policy", "ucb1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    scenario = data["scenarios"][0]
    assert scenario["name"] == "coupons" and scenario["runs"] == 20 and scenario["seed"] == 3
    first = scenario["results"][0]
    assert [r["policy"] for r in scenario["results"]] == ["thompson", "ucb1"]
    assert first["params"]["floor"] == 0.02  # the scenario's configured thompson
    assert len(first["regret"]["mean"]) == len(first["users"]) == len(first["best_arm_identification"]["p_best"])
    assert set(first["allocation"]["final_share"]) == {"none", "10% off", "20% off", "free shipping"}
    assert first["discount_spent"]["mean"] > 0 and first["margin_lost"]["mean"] >= 0
    assert first["lai_robbins"] is None  # margin reward: no Bernoulli bound
    again = json.loads(runner.invoke(app, args).stdout)
    assert again == data  # same seed, same numbers


def test_simulate_table_with_lai_robbins_caption():
    result = runner.invoke(app, ["simulate", str(SIMULATIONS / "hillstrom.toml"), "--runs", "10",
                                 "--policy", "thompson"])
    assert result.exit_code == 0, result.output
    assert "thompson" in result.stdout and "Lai-Robbins" in result.stdout


def test_replay_json(tmp_path):
    rng = np.random.default_rng(0)
    action = rng.integers(3, size=3000)
    frame = pd.DataFrame({"arm": action, "y": (rng.random(3000) < np.array([0.1, 0.2, 0.3])[action]).astype(int),
                          "p": 1 / 3})
    frame.to_csv(tmp_path / "log.csv", index=False)
    result = runner.invoke(app, ["replay", str(tmp_path / "log.csv"), "--policy", "epsilon-greedy", "--param",
                                 "epsilon=0.2", "--action-col", "arm", "--reward-col", "y", "--propensity-col", "p",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["policy"]["epsilon"] == 0.2 and data["uniform_logging"] is True
    assert set(data["estimates"]) == {"replay", "ips", "snips", "dr"}
    table = runner.invoke(app, ["replay", str(tmp_path / "log.csv"), "--policy", "thompson",
                                "--action-col", "arm", "--reward-col", "y", "--propensity-col", "p"])
    assert table.exit_code == 0 and "snips" in table.stdout


def one_line_error(argv, capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    return err


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text((SIMULATIONS / "hillstrom.toml").read_text().replace("0.106167]", "-0.1]"))
    assert one_line_error(["simulate", str(bad)], capsys) == (
        f"error: {bad}: arms.rate[2]: got -0.1, expected a number in [0.0, 1.0]")
    bad.write_text((SIMULATIONS / "hillstrom.toml").read_text().replace('name = "ucb1"', 'name = "ucb9"'))
    assert f"{bad}: policies[1].name: got 'ucb9'" in one_line_error(["simulate", str(bad)], capsys)
    assert "--policy.name: got 'nope'" in one_line_error(
        ["simulate", str(SIMULATIONS / "hillstrom.toml"), "--policy", "nope"], capsys)
    log = tmp_path / "log.csv"
    pd.DataFrame({"action": [0, 1], "reward": [1, 0]}).to_csv(log, index=False)
    assert f"{log}: --propensity-col: got 'propensity'" in one_line_error(["replay", str(log), "--policy", "ucb1"], capsys)
    pd.DataFrame({"action": [0, 1], "reward": [1, 0], "propensity": [0.0, 0.5]}).to_csv(log, index=False)
    assert f"{log}: propensity[row 0]: got 0.0" in one_line_error(["replay", str(log), "--policy", "ucb1"], capsys)
    assert "--param: got 'epsilon'" in one_line_error(["replay", str(log), "--policy", "ucb1", "--param", "epsilon"],
                                                      capsys)
