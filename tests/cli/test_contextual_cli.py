"""``promolab simulate`` on contextual scenarios: JSON and table, mixed with context-free
scenarios, the same numbers as the library, and bad input as one ``error:`` line, exit 2."""

import json
from pathlib import Path

from typer.testing import CliRunner

import promolab.cli  # noqa: F401  (registers the commands)
from promolab.cli import run
from promolab.cli.app import app
from promolab.sim.contextual import run_contextual
from promolab.sim.contextual_scenario import load_contextual_scenario

runner = CliRunner()
SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"
CONTEXTUAL = SIMULATIONS / "contextual" / "hillstrom.toml"
SMALL = ["--runs", "3", "--seed", "4", "--policy", "linucb", "--policy", "thompson"]


def test_simulate_json_of_a_contextual_and_a_context_free_scenario():
    both = runner.invoke(app, ["simulate", str(SIMULATIONS / "coupons.toml"), str(CONTEXTUAL), "--json", "--runs",
                               "2", "--policy", "thompson"])
    assert both.exit_code == 0, both.output
    coupons, contextual = json.loads(both.stdout)["scenarios"]
    assert coupons["name"] == "coupons" and contextual["kind"] == "contextual"
    assert [r["policy"] for r in contextual["results"]] == ["thompson"]
    result = runner.invoke(app, ["simulate", str(CONTEXTUAL), "--json", *SMALL])
    assert result.exit_code == 0, result.output
    contextual, = json.loads(result.stdout)["scenarios"]
    assert contextual["runs"] == 3 and contextual["seed"] == 4 and len(contextual["features"]) == 12
    linucb, thompson = contextual["results"]
    assert (linucb["policy"], linucb["contextual"], thompson["contextual"]) == ("linucb", True, False)
    assert linucb["params"] == {"name": "linucb", "floor": 0.0, "l2": 1.0, "alpha": 0.3}  # the scenario's
    assert set(linucb["allocation_by_segment"]) == {"Rural", "Surburban", "Urban"}
    assert len(linucb["users"]) == len(linucb["regret"]["mean"]) == len(linucb["allocation"]["over_time"])
    library = run_contextual(load_contextual_scenario(CONTEXTUAL).with_policies(["linucb", "thompson"]), 3, 4)
    assert contextual["oracle"] == library.to_dict()["oracle"]
    assert [r["regret"]["final"]["mean"] for r in contextual["results"]] == \
        [round(float(r.regret.mean[-1]), 6) for r in library.results]


def test_simulate_table_shows_regret_shares_and_the_best_single_offer():
    result = runner.invoke(app, ["simulate", str(CONTEXTUAL), *SMALL])
    assert result.exit_code == 0, result.output
    for text in ("hillstrom-contextual", "linucb", "thompson", "context-free", "zip_code", "Rural:",
                 "best single offer (10% off)"):
        assert text in result.stdout, text


def test_bad_contextual_input_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(CONTEXTUAL.read_text().replace('link = "logistic"', 'link = "probit"'))
    for argv, message in [
        (["simulate", bad], f"error: {bad}: link: got 'probit', expected one of logistic, linear"),
        (["simulate", CONTEXTUAL, "--runs", "100000"], f"error: {CONTEXTUAL}: --runs × horizon × arms × dim² × "
                                                       "policies: got 4320000000000"),
        (["simulate", CONTEXTUAL, "--policy", "neural"], f"error: {CONTEXTUAL}: --policy.name: got 'neural'"),
    ]:
        assert run([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(message) and "\n" not in err, err
