"""Scenario TOML files: the shipped ones load, bad ones fail with one line naming file, field, value."""

from pathlib import Path

import pytest

from promolab.errors import InputError
from promolab.sim.scenario import load_scenario

SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"

GOOD = """
name = "t"
horizon = 100
[arms]
names = ["a", "b"]
rate = [0.1, 0.2]
[[policies]]
name = "thompson"
"""


@pytest.mark.parametrize("path", sorted(SIMULATIONS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path):
    scenario = load_scenario(path)
    assert scenario.arms.k >= 2 and scenario.policies


def test_hillstrom_rates():
    scenario = load_scenario(SIMULATIONS / "hillstrom.toml")
    assert scenario.arms.rate.tolist() == [0.182757, 0.151400, 0.106167]
    revenue = load_scenario(SIMULATIONS / "hillstrom-revenue.toml")
    spend = revenue.arms.rate * revenue.arms.order_value
    assert spend.round(3).tolist() == [1.423, 1.077, 0.653]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "thompson"', 'name = "softmax"', "policies[0].name: got 'softmax', expected one of thompson"),
        ("rate = [0.1, 0.2]", "rate = [-0.1, 0.2]", "arms.rate[0]: got -0.1, expected a number in [0.0, 1.0]"),
        ("rate = [0.1, 0.2]", "rate = [0.1, 0.2]\ndiscount = [0.1]", "arms.discount: got [0.1], expected a list of 2"),
        ('name = "thompson"', 'name = "thompson"\nfloor = 0.7', "policies[0].floor: got 0.7, expected at most 1/2 with 2 arms"),
        ("horizon = 100", "horizon = 0", "horizon: got 0, expected an integer"),
        ("horizon = 100", 'horizon = 100\nreward = "margin"', "arms.order_value: got None"),
        ("horizon = 100", "horizon = 100\nhorizn = 5", "horizn: got 5, expected a scenario field"),
    ],
)
def test_bad_scenarios(tmp_path, old, new, message):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(InputError) as err:
        load_scenario(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_bernoulli_only_policy_rejected_for_margin(tmp_path):
    path = tmp_path / "margin.toml"
    text = GOOD.replace("horizon = 100", 'horizon = 100\nreward = "margin"').replace(
        "rate = [0.1, 0.2]", "rate = [0.1, 0.2]\norder_value = [50.0, 40.0]")
    path.write_text(text)
    with pytest.raises(InputError, match=r"policies\[0\].name: got 'thompson', expected a policy for a real-valued"):
        load_scenario(path)
    path.write_text(text.replace('name = "thompson"', 'name = "thompson"\nprior = { model = "normal" }'))
    assert load_scenario(path).reward == "margin"
