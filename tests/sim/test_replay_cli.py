"""``promolab replay``: a policy given as data (--target-file), estimates with intervals,
diagnostics and warnings in text and --json (the library's numbers), bad input as one line
and exit code 2 with nothing on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promolab.cli import run
from promolab.sim.evaluation import evaluate_target
from promolab.sim.logged import read_log
from promolab.sim.ope_intervals import Resampling
from promolab.sim.target_policy import read_target

ARMS = np.array(["10% off", "free shipping", "none"])
LOGGING = np.array([0.2, 0.2, 0.6])


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A skewed click log and a per-row target in a file of its own."""
    rng = np.random.default_rng(0)
    n = 3000
    action = rng.choice(3, size=n, p=LOGGING)
    pd.DataFrame({"offer": ARMS[action], "clicked": (rng.random(n) < np.array([0.05, 0.04, 0.02])[action]).astype(int),
                  "p": LOGGING[action]}).to_csv(tmp_path / "log.csv", index=False)
    loyal = rng.random(n) < 0.5
    pd.DataFrame({"p_10% off": np.where(loyal, 0.25, 0.5), "p_free shipping": np.where(loyal, 0.75, 0.25),
                  "p_none": np.where(loyal, 0.0, 0.25)}).to_csv(tmp_path / "target.csv", index=False)
    return tmp_path / "log.csv", tmp_path / "target.csv"


def columns(log: Path) -> list[str]:
    return ["--action-col", "offer", "--reward-col", "clicked", "--propensity-col", "p"]


def test_target_file_json_is_the_library_result(files, capsys):
    log, target = files
    assert run(["replay", str(log), "--target-file", str(target), *columns(log), "--json", "--seed", "3",
                "--n-bootstrap", "300", "--switch-tau", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    logged = read_log(log, action_col="offer", reward_col="clicked", propensity_col="p")
    expected = evaluate_target(logged, read_target(target, logged.arms, logged.n), tau=4.0,
                               resampling=Resampling(n_bootstrap=300, seed=3)).to_dict()
    assert data["target"] == {"file": str(target), "prefix": "p_"} and data["arms"] == list(ARMS)
    for key in ("estimates", "reward_model_estimates", "diagnostics", "warnings", "bootstrap", "switch_tau"):
        assert data[key] == expected[key], key
    assert set(data["estimates"]) == {"ips", "snips", "dr"}
    assert set(data["reward_model_estimates"]) == {"dm", "switch-dr"}
    assert data["diagnostics"]["max_weight"] == pytest.approx(0.75 / 0.2)


def test_target_columns_may_live_in_the_log_itself(files, tmp_path, capsys):
    log, target = files
    both = tmp_path / "both.parquet"
    pd.concat([pd.read_csv(log), pd.read_csv(target)], axis=1).to_parquet(both)
    assert run(["replay", str(both), "--target-file", str(both), *columns(log), "--json"]) == 0
    inline = json.loads(capsys.readouterr().out)
    assert run(["replay", str(log), "--target-file", str(target), *columns(log), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimates"] == inline["estimates"]


def test_text_shows_estimates_intervals_diagnostics_and_warnings(files, capsys):
    log, target = files
    assert run(["replay", str(log), "--target-file", str(target), *columns(log)]) == 0
    out = capsys.readouterr().out
    for text in ("ips", "snips", "dr", "dm", "switch-dr (τ = 10)", "95 % CI", "bootstrap", "effective sample size",
                 "mean weight", "rows where the target plays actions never logged"):
        assert text in out, text
    assert "warning:" not in out
    # the log claims uniform assignment, but "none" got 60 %: the weights average 1.78, and the text says so
    pd.read_csv(log).assign(p=1 / 3).to_csv(log, index=False)
    pd.read_csv(target).assign(**{"p_10% off": 0.0, "p_free shipping": 0.0, "p_none": 1.0}).to_csv(target, index=False)
    assert run(["replay", str(log), "--target-file", str(target), *columns(log)]) == 0
    assert "warning: mean importance weight 1.78 is far from 1" in capsys.readouterr().out


def test_policy_json_has_diagnostics_warnings_and_all_estimators(files, capsys):
    log, _ = files
    assert run(["replay", str(log), "--policy", "epsilon-greedy", *columns(log), "--json", "--batch-size", "20"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["estimates"]) == {"replay", "ips", "snips", "dr"}
    assert set(data["reward_model_estimates"]) == {"dm", "switch-dr"}
    assert data["estimates"]["replay"]["method"] == "wilson"
    assert "logging was not uniform: the replay estimate assumes it was; prefer SNIPS / DR" in data["warnings"]
    assert data["diagnostics"]["rows"] == 3000


def one_line_error(argv: list[str], capsys) -> str:
    assert run(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "\n" not in err.strip()
    return err.strip()


def test_bad_input_is_one_line_and_exit_code_2(files, tmp_path, capsys):
    log, target = files
    base = ["replay", str(log), *columns(log)]
    frame = pd.read_csv(target)
    frame.loc[7, "p_none"] = 0.15  # row 7 now sums to 0.9 or 1.15
    frame.to_csv(tmp_path / "sum.csv", index=False)
    total = float(frame.loc[7, ["p_10% off", "p_free shipping", "p_none"]].sum())
    assert one_line_error([*base, "--target-file", str(tmp_path / "sum.csv")], capsys) == (
        f"error: {tmp_path / 'sum.csv'}: target[row 7]: got {total!r}, expected probabilities of p_10% off, "
        "p_free shipping, p_none summing to 1 (± 1e-06)")
    pd.read_csv(target).assign(**{"p_20% off": 0.0}).to_csv(tmp_path / "unknown.csv", index=False)
    unknown = one_line_error([*base, "--target-file", str(tmp_path / "unknown.csv")], capsys)
    assert ("target column: got 'p_20% off', expected 'p_' + an action of the log (10% off, free shipping, none); "
            "action '20% off' is not one") in unknown
    pd.read_csv(target).head(10).to_csv(tmp_path / "short.csv", index=False)
    short = one_line_error([*base, "--target-file", str(tmp_path / "short.csv")], capsys)
    assert "target rows: got 10, expected 3,000" in short
    assert "p_none[row 0]: got 1.5" in one_line_error(
        [*base, "--target-file", str(_with(target, tmp_path, "p_none", 0, 1.5))], capsys)
    logged = pd.read_csv(log)
    for bad, shown in ((0.0, "0.0"), (np.nan, "nan")):
        logged.loc[4, "p"] = bad
        logged.to_csv(tmp_path / "bad_log.csv", index=False)
        argv = ["replay", str(tmp_path / "bad_log.csv"), *columns(log), "--target-file", str(target)]
        assert f"p[row 4]: got {shown}, expected a logging probability in (0, 1]" in one_line_error(argv, capsys)


def _with(path: Path, tmp_path: Path, column: str, row: int, value: float) -> Path:
    frame = pd.read_csv(path)
    frame.loc[row, column] = value
    frame.to_csv(tmp_path / "edited.csv", index=False)
    return tmp_path / "edited.csv"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "error: --policy: got None, expected a registered policy name, or else --target-file or --policy-file (one of the three)"),
        (["--policy", "ucb1", "--target-file", "t.csv"], "error: --policy: got 'ucb1', expected a registered policy"),
        (["--policy", "ucb1", "--n-bootstrap", "5"],
         "error: --n-bootstrap: got 5, expected an integer in [100, 100000]"),
        (["--policy", "ucb1", "--switch-tau", "-1"], "error: --switch-tau: got -1.0, expected an importance-weight"),
    ],
)
def test_flags_are_checked_before_the_log_is_read(flags, message, capsys):
    assert one_line_error(["replay", "no-such-log.csv", *flags], capsys).startswith(message)
