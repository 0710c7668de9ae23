"""``promolab peeking``: table and JSON output, and bad input as one line + exit 2."""

import json

from typer.testing import CliRunner

from promolab.cli import run
from promolab.cli.app import app

runner = CliRunner()


def test_json_output():
    result = runner.invoke(app, ["peeking", "--looks", "10", "--runs", "400", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["looks"] == 10 and data["runs"] == 400
    assert set(data["naive_any_look"]) == {"rejections", "runs", "rate", "low", "high"}
    assert data["naive_any_look"]["rate"] >= data["fixed_horizon"]["rate"]


def test_table_output():
    args = ["peeking", "--looks", "5", "--runs", "200", "--users-per-look", "500", "--rate", "0.1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "naive z-test at every look" in result.output and "mSPRT" in result.output


def test_bad_input_is_one_line_and_exit_code_2(capsys):
    assert run(["peeking", "--looks", "0", "--runs", "10"]) == 2
    assert "looks: got 0, expected an integer >= 1" in capsys.readouterr().err
