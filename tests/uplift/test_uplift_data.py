"""Input validation (field-named errors, bounded rows) and the randomisation check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from uplift_synthetic import FEATURES, synthetic

from promolab.errors import InputError
from promolab.uplift.balance import check_balance, require_randomised
from promolab.uplift.data import read_table, uplift_data
from promolab.uplift.report import analyze_uplift


@pytest.fixture(scope="module")
def frame():
    return synthetic(3000, seed=21)


def test_arms_outcomes_features_and_propensities(frame):
    data = uplift_data(frame, "arm", "control", ["y", "converted"], FEATURES)
    assert data.arms == ("control", "A", "B") and data.offers == ("A", "B")
    assert data.counts.sum() == 3000 and data.propensity == pytest.approx(data.counts / 3000)
    assert data.x.shape == (3000, 1 + 2 + 3) and set(data.outcomes) == {"y", "converted"}
    given = uplift_data(frame, "arm", "control", ["y"], FEATURES, propensity={"control": 0.2, "A": 0.4, "B": 0.4})
    assert given.propensity.tolist() == [0.2, 0.4, 0.4]
    assert data.fingerprint == uplift_data(frame.copy(), "arm", "control", ["y", "converted"], FEATURES).fingerprint
    changed = frame.assign(y=frame["y"] + 1e-9)
    assert data.fingerprint != uplift_data(changed, "arm", "control", ["y", "converted"], FEATURES).fingerprint


@pytest.mark.parametrize("kwargs, message", [
    ({"treatment": "variant"}, "treatment: got 'variant', expected a column of the table"),
    ({"control": "none"}, "control: got 'none', expected a value of column arm: A, B, control"),
    ({"outcomes": ["revenue"]}, "outcome: got 'revenue', expected a column of the table"),
    ({"outcomes": ["region"], "features": ["x1"]}, "outcome region: got 'str', expected a numeric column"),
    ({"features": ["x1", "nope"]}, "features: got 'nope', expected a column of the table"),
    ({"features": ["x1", "y"]}, "features: got 'y', expected a pre-treatment attribute"),
    ({"propensity": {"control": 0.5, "A": 0.5, "C": 0.0}}, "propensity: got 'C', expected an arm of the table"),
    ({"propensity": {"control": 0.5, "A": 0.5}}, "propensity: got 'B', expected a probability for every arm"),
    ({"propensity": {"control": 0.5, "A": 0.5, "B": 0.5}}, "propensity: got 1.5, expected probabilities summing to 1"),
    ({"max_rows": 2999}, "table: got '3,000 rows', expected 1 to 2,999 rows"),
])
def test_bad_input_is_refused_naming_the_field(frame, kwargs, message):
    args = {"treatment": "arm", "control": "control", "outcomes": ["y"], "features": FEATURES, **kwargs}
    with pytest.raises(InputError) as err:
        uplift_data(frame, **args)
    assert str(err.value).startswith(message)


def test_rows_values_and_arms_are_checked(frame):
    bad = frame.copy()
    bad.loc[7, "y"] = np.nan
    with pytest.raises(InputError, match=r"outcome y\[row 7\]: got None, expected a finite number"):
        uplift_data(bad, "arm", "control", ["y"], FEATURES)
    with pytest.raises(InputError, match="treatment: got 'arm', expected at least two arms"):
        uplift_data(frame[frame["arm"] == "control"], "arm", "control", ["y"], FEATURES)
    bad = frame.astype({"region": object})
    bad.loc[3, "region"] = None
    with pytest.raises(InputError, match="features region"):
        uplift_data(bad, "arm", "control", ["y"], FEATURES)


def test_read_table_is_bounded_before_reading_everything(frame, tmp_path):
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    assert len(read_table(tmp_path / "t.csv")) == len(read_table(tmp_path / "t.parquet")) == 3000
    for name in ("t.csv", "t.parquet"):
        with pytest.raises(InputError, match="table: got 'more than 1,000 rows', expected at most 1,000 rows"):
            read_table(tmp_path / name, max_rows=1000)
    (tmp_path / "t.txt").write_text("a\n1\n")
    with pytest.raises(InputError, match="table: .* expected a file ending in"):
        read_table(tmp_path / "t.txt")
    with pytest.raises(InputError, match="expected an existing CSV or Parquet file"):
        read_table(tmp_path / "missing.csv")


def test_a_randomised_table_passes_the_balance_check(frame):
    check = check_balance(uplift_data(frame, "arm", "control", ["y"], FEATURES))
    assert check.passed and [f.feature for f in check.features] == FEATURES
    assert all(f.max_abs_smd < 0.15 for f in check.features)


def test_the_balance_chi_square_is_scipys_chi2_contingency(frame):
    """X², dof and p of every feature equal scipy.stats.chi2_contingency (no continuity correction)
    on the arms × values table, numeric features cut into the same quantile bins."""
    data = uplift_data(frame.assign(few=np.where(frame["x1"] > 1.5, "rare", "common")), "arm", "control", ["y"],
                       [*FEATURES, "few"])
    start = 1
    for feature, balance in zip(data.features.features, check_balance(data).features, strict=True):
        columns = data.x[:, start:start + feature.width]
        start += feature.width
        codes = columns.argmax(axis=1) if feature.kind == "categorical" else np.searchsorted(
            np.unique(np.quantile(columns[:, 0], np.linspace(0, 1, 11)[1:-1])), columns[:, 0], side="right")
        table = pd.crosstab(data.arm, codes).to_numpy()
        reference = chi2_contingency(table, correction=False)
        assert balance.chi2 == pytest.approx(reference.statistic, rel=1e-12)
        assert balance.dof == reference.dof and balance.p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_a_table_where_assignment_depends_on_a_feature_is_refused(frame):
    rng = np.random.default_rng(0)
    targeted = frame.copy()
    # offer A went mostly to users with high x1: an observational table, not an experiment
    high = targeted["x1"] > 0.5
    targeted.loc[high, "arm"] = np.where(rng.random(high.sum()) < 0.8, "A", targeted.loc[high, "arm"])
    check = check_balance(uplift_data(targeted, "arm", "control", ["y"], FEATURES))
    assert not check.passed and check.worst.feature == "x1" and check.worst.max_abs_smd > 0.5
    with pytest.raises(InputError, match=r"treatment: got 'arm', expected a randomised assignment .* x1 differs"):
        require_randomised(check, "arm")
    with pytest.raises(InputError, match="x1 differs by arm"):
        analyze_uplift(targeted, treatment="arm", control="control", outcomes=["y"], features=FEATURES, model="ridge")


def test_constant_and_categorical_features_are_checked_too(frame):
    data = uplift_data(frame.assign(one=1.0), "arm", "control", ["y"], ["one", "region"])
    check = check_balance(data)
    assert check.features[0].p_value == 1.0 and check.features[0].max_abs_smd == 0.0
    assert check.features[1].dof == 4  # 3 arms × 3 regions
    unbalanced = frame.assign(region=np.where(frame["arm"] == "B", "west", frame["region"]))
    check = check_balance(uplift_data(unbalanced, "arm", "control", ["y"], ["region"]))
    assert check.worst.feature == "region" and not check.passed
    assert isinstance(pd.DataFrame([vars(f) for f in check.features]), pd.DataFrame)
