"""Bad analyze-table input: one line naming the thing, the value and what was expected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from promolab.analysis import analyze_table
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
        ({"variant": "group"}, "--variant: got 'group', expected a column of"),
        ({"control": "zzz"}, "--control: got 'zzz', expected a value of column arm: a, b, c"),
        ({"metrics": ["nope:mean"]}, "--metric: got 'nope'"),
        ({"metrics": ["name:mean"]}, "column name: got 'VARCHAR', expected a numeric column"),
        ({"metrics": ["score:binomial"]}, "column score: got 2, expected only 0 or 1"),
        ({"metrics": ["rev:median"]}, "--metric: got 'rev:median'"),
        ({"metrics": ["rev:ratio"]}, "NUM/DEN:ratio"),
        ({"covariate": "pre"}, "--covariate: got 'pre'"),
        ({"alpha": 2.0}, "alpha: got 2.0"),
    ],
)
def test_bad_input_messages(small: Path, kwargs: dict, message: str) -> None:
    args = {"variant": "arm", "control": "a", "metrics": ["rev:mean"]} | kwargs
    with pytest.raises(InputError) as info:
        analyze_table(small, **args)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


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
