"""Bad analyze-table input: one line naming the thing, the value and what was expected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from promolab.analysis import analyze_table
from promolab.cli import run
from promolab.errors import InputError


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    pd.DataFrame({
        "arm": ["a", "a", "b", "b", "c"],
        "conv": [0, 1, 1, 1, 0],
        "rev": [0.0, 3.5, 2.0, 1.0, 0.0],
        "name": ["x", "y", "z", "w", "v"],
        "score": [0, 2, 1, 1, 0],
    }).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "group"}, "table.variant: got 'group', expected a column of"),
        ({"control": "zzz"}, "plan.control: got 'zzz', expected a value of column arm: a, b, c"),
        ({"metrics": ["nope:mean"]}, "metric nope: got 'nope'"),
        ({"metrics": ["name:mean"]}, "column name: got 'VARCHAR', expected a numeric column"),
        ({"metrics": ["score:binomial"]}, "column score: got 2, expected only 0 or 1"),
        ({"metrics": ["rev:median"]}, "metric: got 'rev:median'"),
        ({"metrics": ["rev:ratio"]}, "NUM/DEN:ratio"),
        ({"covariate": "pre"}, "metric rev.covariate: got 'pre'"),
        ({"alpha": 2.0}, "plan.alpha: got 2.0"),
        ({"metrics": ["rev:mean:cap=inf"]}, "metric rev.cap: got 'inf', expected a finite number"),
        ({"metrics": ["rev:mean:cap=p120"]}, "metric rev.cap: got 'p120'"),
        ({"user": "who"}, "table.user: got 'who', expected a column of"),
        ({"srm_threshold": 0.0}, "plan.srm_threshold: got 0.0, expected a number in (0, 1)"),
    ],
)
def test_bad_input_messages(small: Path, kwargs: dict, message: str) -> None:
    """The library names the plan's fields (the service and the dashboard show these)."""
    args = {"variant": "arm", "control": "a", "metrics": ["rev:mean"]} | kwargs
    with pytest.raises(InputError) as info:
        analyze_table(small, **args)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--variant", "group"], "error: --variant: got 'group', expected a column of"),
        (["--control", "zzz"], "error: --control: got 'zzz', expected a value of column arm: a, b, c"),
        (["--metric", "rev:median"], "error: --metric: got 'rev:median'"),
        (["--metric", "rev:mean:cap=inf"], "error: --metric rev.cap: got 'inf', expected a finite number"),
        (["--alpha", "2"], "error: --alpha: got 2.0, expected a number in (0, 1)"),
        (["--sequential", "gst"], "error: --looks: got None, expected an integer in [1, 50]"),
        (["--srm-threshold", "1"], "error: --srm-threshold: got 1.0"),
        (["--user", "who"], "error: --user: got 'who'"),
    ],
)
def test_the_cli_names_flags(small: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the CLI maps the library's fields to its flag names."""
    base = {"--variant": "arm", "--control": "a", "--metric": "rev:mean"}
    for flag, value in zip(flags[::2], flags[1::2]):
        base[flag] = value
    argv = ["analyze-table", str(small)] + [x for kv in base.items() for x in kv]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_group_of_one_user_is_refused(small: Path) -> None:
    with pytest.raises(InputError, match="variant 'c': got 'n=1', expected at least 2 users"):
        analyze_table(small, "arm", "a", ["rev:mean"])


def test_missing_file_and_wrong_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected an existing CSV or Parquet file"):
        analyze_table(tmp_path / "none.csv", "arm", "a", ["rev:mean"])
    odd = tmp_path / "t.xlsx"
    odd.write_text("x")
    with pytest.raises(InputError, match="ending in .csv"):
        analyze_table(odd, "arm", "a", ["rev:mean"])
