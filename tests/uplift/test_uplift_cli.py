"""``promolab uplift`` on a Hillstrom sample: text, --json (equal to the library's report),
--save-policy round trip, and bad input as one line with exit code 2 and nothing written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from promolab.cli.app import console
import promolab.cli.uplift  # noqa: F401  (registers the command)
import promolab.uplift.data
from promolab.analysis.economics import EconomicsConfig
from promolab.cli import run
from promolab.jsonable import to_plain
from promolab.uplift import analyze_uplift, load_policy

FEATURES = "recency,history,mens,womens,zip_code,newbie,channel"


@pytest.fixture(scope="module")
def sample(hillstrom: pd.DataFrame) -> pd.DataFrame:
    return hillstrom.sample(3000, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="module")
def table(sample, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("uplift") / "hillstrom-sample.csv"
    sample.to_csv(path, index=False)
    return str(path)


def args(table: str, *extra: str) -> list[str]:
    return ["uplift", table, "--treatment-col", "segment", "--control", "No E-Mail", "--outcome-col", "visit",
            "--outcome-col", "spend", "--features", FEATURES, "--revenue", "spend", "--cost", "Mens E-Mail=0.05",
            "--cost", "Womens E-Mail=0.05", "--margin-rate", "0.5", "--model", "ridge", "--folds", "3", *extra]


def test_text_output(table, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 240)  # no header wrapped inside its column
    assert run(args(table, "--learner", "x,t")) == 0
    out = " ".join(capsys.readouterr().out.split())  # long lines still wrap
    for text in ("hillstrom-sample.csv: 3,000 rows", "control No E-Mail", "randomisation check passed", "Uplift models, out of sample",
                 "Qini coef.", "AUUC", "visit, Mens E-Mail vs No E-Mail: observed uplift by decile",
                 "spend, Womens E-Mail vs No E-Mail", "Policies: margin per user = 0.5 × spend − promotion cost",
                 "targeted: X-learner", "distilled: linear scores", "everyone: Womens E-Mail", "no one (No E-Mail)",
                 "95 % CI (Welch)"):
        assert text in out, text


def test_json_equals_the_library_report_and_the_policy_file_round_trips(table, sample, tmp_path, capsys):
    path = tmp_path / "policy.json"
    assert run(args(table, "--json", "--save-policy", str(path), "--share", "0.5")) == 0
    data = json.loads(capsys.readouterr().out)
    report = analyze_uplift(sample, treatment="segment", control="No E-Mail", outcomes=["visit", "spend"],
                            features=FEATURES.split(","), learners=["x"], model="ridge", folds=3, share=0.5,
                            economics=EconomicsConfig("spend", margin_rate=0.5,
                                                      costs={"Mens E-Mail": {"per_user": 0.05},
                                                             "Womens E-Mail": {"per_user": 0.05}}))
    assert data == to_plain({**report.to_dict(), "policy_file": str(path)})
    assert [(e["outcome"], e["offer"]) for e in data["evaluations"]] == [
        ("visit", "Mens E-Mail"), ("visit", "Womens E-Mail"), ("spend", "Mens E-Mail"), ("spend", "Womens E-Mail")]
    assert len(data["evaluations"][0]["deciles"]) == 10
    assert data["targeting"]["best_blanket"].startswith(("everyone", "no one"))
    policy = load_policy(path)
    assert policy.to_dict() == data["policy"]
    assert np.mean(policy.choose(sample) > 0) == pytest.approx(0.5, abs=0.01)
    assert policy.source["rows"] == 3000 and policy.reward.startswith("margin per user = 0.5 × spend")


def one_line_error(argv: list[str], capsys) -> str:
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


@pytest.mark.parametrize("change, expected", [
    (["--outcome-col", "nope"], "error: --outcome-col: got 'nope', expected a column of the table"),
    (["--treatment-col", "channel_x"], "error: --treatment-col: got 'channel_x', expected a column of the table"),
    (["--control", "Kids E-Mail"], "error: --control: got 'Kids E-Mail', expected a value of column segment"),
    (["--outcome-col", "zip_code"], "error: --outcome-col zip_code: got 'str', expected a numeric column"),
    (["--features", "recency,nope"], "error: --features: got 'nope', expected a column of the table"),
    (["--revenue", "revenue"], "error: --revenue: got 'revenue', expected a column of the table"),
    (["--cost", "Kids E-Mail=1"], "error: --cost: got 'Kids E-Mail', expected an arm of the table"),
    (["--cost", "Mens E-Mail=-1"], "error: --cost: got 'Mens E-Mail=-1', expected OFFER=AMOUNT"),
    (["--margin-rate", "2"], "error: --margin-rate: got 2.0, expected a number in (0, 1]"),
    (["--learner", "s"], "error: --learner: got 's', expected one or more of t, x, dr"),
    (["--model", "forest"], "error: --model: got 'forest', expected one of ridge, hgb"),
    (["--folds", "1"], "error: --folds: got 1, expected an integer in [2, 20]"),
    (["--seed", "-1"], "error: --seed: got -1, expected an integer in [0, "),
    (["--share", "0"], "error: --share: got 0.0, expected a share of users in (0, 1]"),
    (["--propensity", "No E-Mail=2"], "error: --propensity: got 'No E-Mail=2', expected ARM=PROBABILITY"),
    (["--propensity", "No E-Mail=0.5"], "error: --propensity: got 'Mens E-Mail', expected a probability for every arm"),
])
def test_bad_flags_are_one_line_exit_2_and_write_nothing(table, tmp_path, capsys, change, expected):
    path = tmp_path / "policy.json"
    assert one_line_error(args(table, "--save-policy", str(path)) + change, capsys).startswith(expected)
    assert not path.exists()


def test_bad_tables_are_refused(sample, tmp_path, capsys, monkeypatch):
    path, saved = tmp_path / "t.csv", tmp_path / "policy.json"
    sample[sample["segment"] == "No E-Mail"].to_csv(path, index=False)
    assert one_line_error(args(str(path), "--save-policy", str(saved)), capsys).startswith(
        "error: --treatment-col: got 'segment', expected at least two arms")
    # offers sent by who bought men's merchandise: not a randomised experiment
    observational = sample.assign(segment=np.where(sample["mens"] == 1, "Mens E-Mail", sample["segment"]))
    observational.to_csv(path, index=False)
    err = one_line_error(args(str(path), "--save-policy", str(saved)), capsys)
    assert err.startswith("error: --treatment-col: got 'segment', expected a randomised assignment") and "mens" in err
    sample.to_csv(path, index=False)
    monkeypatch.setattr(promolab.uplift.data, "MAX_ROWS", 1000)
    assert one_line_error(args(str(path), "--save-policy", str(saved)), capsys) == (
        "error: FILE: got 'more than 1,000 rows', expected at most 1,000 rows (sample the table first)")
    assert one_line_error(args(str(tmp_path / "missing.csv")), capsys).startswith("error: FILE: got")
    assert one_line_error(args(str(path), "--save-policy", str(tmp_path / "no" / "p.json")), capsys).startswith(
        "error: --save-policy: got")
    assert not saved.exists()
