"""The figures the README quotes are what the commands print today.

The simulation table ("Hillstrom visit rates, 10,000 users × 200 runs") and the
per-segment regret sentence are parsed from README.md and compared with the ``--json``
output of the commands that make them (same scenarios, runs and seeds), to the digits
the README shows. A change to a policy or a scenario that moves a figure fails here
until the README says the new number.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promolab.cli import run

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def cli_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert run([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def simulation_table() -> dict[str, tuple[int, int, int, int, int]]:
    """policy → (regret, p05, p95, share on the best e-mail %, P(best found) %) from the README."""
    start = README.index("Hillstrom visit rates, 10,000 users × 200 runs")
    rows = {}
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        m = re.match(r"\| ([\w-]+) \| (\d+) \((\d+)–(\d+)\) \| (\d+) %.*\| (\d+) % \|$", line)
        if m:
            rows[m.group(1)] = tuple(int(g) for g in m.groups()[1:])
    return rows


def test_the_simulation_table_is_what_simulate_prints(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    quoted = simulation_table()
    assert set(quoted) == {"thompson", "kl-ucb", "epsilon-greedy", "ucb1", "top-two-thompson"}
    policies = [a for p in quoted for a in ("--policy", p)]
    out = cli_json(capsys, "simulate", "simulations/hillstrom.toml", "--runs", "200", *policies)
    (scenario,) = out["scenarios"]
    assert scenario["horizon"] == 10_000
    for r in scenario["results"]:
        final = r["regret"]["final"]
        printed = (round(final["mean"]), round(final["p05"]), round(final["p95"]),
                   round(100 * r["allocation"]["final_share"]["Mens E-Mail"]),
                   round(100 * r["best_arm_identification"]["p_best"][-1]))
        assert printed == quoted[r["policy"]], r["policy"]
    bound = re.search(r"Lai-Robbins lower bound at 10,000 users: (\d+)", README)
    assert bound and int(bound.group(1)) == round(scenario["results"][0]["lai_robbins"][-1])


def test_the_per_segment_regret_sentence_is_what_simulate_segments_prints(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    m = re.search(r"they cut regret\s+from (\d+) to (\d+); when segments are identical they only pay extra "
                  r"exploration \((\d+) → (\d+)\)", README)
    assert m, "the README's per-segment sentence changed shape; update this test with it"
    out = cli_json(capsys, "simulate-segments", "simulations/segments/differ.toml",
                   "simulations/segments/identical.toml")
    regret = {(s["name"], r["per_segment"]): round(r["regret"]["final"]["mean"])
              for s in out["scenarios"] for r in s["results"]}
    assert tuple(int(g) for g in m.groups()) == (
        regret["segments-differ", False], regret["segments-differ", True],
        regret["segments-identical", False], regret["segments-identical", True])


@pytest.fixture(scope="module")
def hillstrom_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's ``hillstrom-email`` experiment alone (what ``uplift --experiment`` reads)."""
    from promolab.demo import demo_spec, hillstrom_batches, hillstrom_frame
    from promolab.store import Registry, events_batch, exposures_batch

    path = tmp_path_factory.mktemp("readme") / "demo.duckdb"
    registry = Registry(path)
    spec = demo_spec()
    registry.create_experiment(spec)
    registry.set_status(spec.key, "running")
    exposures, events, attributes = hillstrom_batches(hillstrom_frame())
    registry.record_exposures(spec.key, exposures_batch(exposures, "h"))
    registry.ingest_events(events_batch(events, "h"))
    registry.set_attributes(attributes)
    registry.set_status(spec.key, "stopped")
    return path


def test_the_uplift_figures_are_what_uplift_prints(capsys, hillstrom_registry: Path) -> None:
    out = cli_json(capsys, "uplift", "--experiment", "hillstrom-email", "--model", "ridge",
                   "--db", str(hillstrom_registry))
    names = {"Mens E-Mail": "mens-email", "Womens E-Mail": "womens-email"}
    quoted = re.findall(r"^\| (visit|spend) \| (Mens E-Mail|Womens E-Mail) \| (−?[\d.]+) \| (−?[\d.]+) \|$", README,
                        re.M)
    assert len(quoted) == 4
    got = {(e["outcome"], e["offer"]): e for e in out["evaluations"] if e["learner"] == "x"}
    for outcome, offer, qini, auuc in quoted:
        e = got[outcome, names[offer]]
        assert (f"{e['qini_coefficient']:.4f}", f"{e['auuc']:.4f}") == (qini.replace("−", "-"), auuc.replace("−", "-"))
    values = {p["policy"]: p for p in out["targeting"]["policies"]}
    rows = {"targeted: X-learner": r"targeted: X-learner \(60 % men's, 37 % women's, 3 % none\)",
            "everyone: mens-email": "everyone: men's e-mail", "everyone: womens-email": "everyone: women's e-mail",
            "no one (no-email)": "no one"}
    for policy, label in rows.items():
        p = values[policy]
        m = re.search(rf"^\| {label} \| ([\d.]+) \[([\d.]+), ([\d.]+)\] \| ([\d,]+) \|$", README, re.M)
        assert m, label
        dr = p["dr"]
        assert m.groups() == (f"{dr['value']:.4g}", f"{dr['lower']:.4g}", f"{dr['upper']:.4g}",
                              f"{p['weights']['ess']:,.0f}"), policy
    share = values["targeted: X-learner"]["share"]
    assert [round(100 * share[k]) for k in ("mens-email", "womens-email", "no-email")] == [60, 37, 3]
    (lift,) = [lift for lift in out["targeting"]["lifts"] if lift["policy"] == "targeted: X-learner"]
    dr = lift["dr"]
    assert f"DR lift {dr['value']:.4g} per user, CI {dr['lower']:.4g} to {dr['upper']:.4g}" in \
        " ".join(README.split()).replace("−", "-")


def test_the_contextual_table_is_what_simulate_prints(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    start = README.index("| policy (20,000 customers × 50 runs)")
    quoted = {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5))
              for m in re.finditer(r"^\| ([\w-]+)(?: \(context-free\))? \| (\d+) \((\d+)–(\d+)\) \| ([\d.]+) \|$",
                                   README[start:start + 800], re.M)}
    assert set(quoted) == {"linucb", "lin-ts", "logistic-ts", "thompson", "ucb1"}
    (scenario,) = cli_json(capsys, "simulate", "simulations/contextual/hillstrom.toml")["scenarios"]
    assert (scenario["horizon"], scenario["runs"]) == (20_000, 50)
    for r in scenario["results"]:
        final = r["regret"]["final"]
        assert quoted[r["policy"]] == (round(final["mean"]), round(final["p05"]), round(final["p95"]),
                                       f"{r['reward_per_user']['mean']:.4f}"), r["policy"]
    oracle = scenario["oracle"]
    assert f"oracle earns {oracle['value_per_user']:.4f} per customer" in README
    assert f"leaves regret {round(oracle['best_fixed_regret'])}," in README
