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
