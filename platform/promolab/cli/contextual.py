"""Contextual scenarios in ``promolab simulate``: loading, running and the text table.

``promolab simulate`` hands over the files that declare context ``features``
(``promolab.sim.contextual_scenario``); their JSON is ``ContextualReport.to_dict()``.
"""

from __future__ import annotations

from pathlib import Path

from promolab.cli.output import Table, plain, progress
from promolab.sim.contextual import ContextualReport, run_contextual
from promolab.sim.contextual_scenario import (ContextualScenario, check_contextual_work, is_contextual_file,
                                              load_contextual_scenario)


def contextual_files(files: list[Path]) -> list[Path]:
    """The files among ``files`` that hold contextual scenarios."""
    return [f for f in files if is_contextual_file(f)]


def load_contextual(files: list[Path], *, runs: int | None, policy: list[str] | None) -> list[ContextualScenario]:
    """Validated scenarios, with ``--policy`` and the totals of ``--runs`` applied, before any run."""
    scenarios = [load_contextual_scenario(f) for f in files]
    if policy:
        scenarios = [s.with_policies(policy) for s in scenarios]
    for scenario in scenarios:
        check_contextual_work(scenario, runs)
    return scenarios


def run_contextual_scenarios(scenarios: list[ContextualScenario], *, runs: int | None, seed: int | None,
                             quiet: bool) -> list[ContextualReport]:
    if not scenarios:
        return []
    with progress("simulating", sum(len(s.policies) for s in scenarios), unit="policies", quiet=quiet) as advance:
        return [run_contextual(s, runs, seed, on_done=lambda _label: advance(1)) for s in scenarios]


def contextual_table(report: ContextualReport) -> Table:
    sc, pop = report.scenario, report.scenario.population
    table = Table(title=plain(f"{sc.name}: {sc.horizon:,} users × {report.runs} runs, {sc.link} response to "
                              f"{sc.k} offers over {sc.features.dim} context columns", "table.title"))
    headers = ["policy", "regret (5–95 %)", "last regret/user", "reward/user", "share per offer"]
    if sc.segment is not None:
        headers.append(f"share by {sc.segment}")
    for header in headers:
        table.add_column(header, text=header == "policy", justify="left" if "share" in header else None)
    for r in report.results:
        band = r.regret
        row = [plain(r.policy + ("" if r.contextual else " (context-free)")),
               f"{band.mean[-1]:,.1f} ({band.low[-1]:,.0f}–{band.high[-1]:,.0f})",
               f"{r.final_regret.mean[0]:.4f}", f"{r.reward.mean[0]:.4f}",
               plain("\n".join(f"{a} {s:.0%}" for a, s in zip(sc.arms, r.final_share)))]
        if r.segment_share is not None:
            row.append(plain("\n".join(f"{s}: " + ", ".join(f"{x:.0%}" for x in shares)
                                       for s, shares in zip(pop.segments, r.segment_share))))
        table.add_row(*row)
    table.caption = (f"oracle (best offer per customer): {pop.oracle_value:.4f} per user; best single offer "
                     f"({sc.arms[int(pop.offer_values.argmax())]}): {pop.offer_values.max():.4f}, regret "
                     f"{sc.best_fixed_regret:,.1f}, which no context-free policy beats in expectation")
    return table
