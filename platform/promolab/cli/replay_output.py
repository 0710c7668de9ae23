"""What ``promolab replay`` prints: the estimates with their intervals, the importance-weight
diagnostics and the warnings, as tables or JSON. Formatting only: every number comes from
``promolab.sim.replay.PolicyEvaluation`` or ``promolab.sim.evaluation.OffPolicyEvaluation``."""

from __future__ import annotations

from typing import Any

from promolab.cli.app import console
from promolab.cli.output import Table, plain, print_json, say
from promolab.sim.evaluation import OffPolicyEvaluation
from promolab.sim.logged import LoggedData
from promolab.sim.ope import Estimate
from promolab.sim.replay import PolicyEvaluation

INTERVALS = {"bootstrap": "bootstrap", "empirical-bernstein": "emp. Bernstein", "wilson": "Wilson", "none": "—"}


def target_json(log: LoggedData, target_file: str, prefix: str | None, evaluation: OffPolicyEvaluation
                ) -> dict[str, Any]:
    """``prefix`` None: the target is a saved targeting policy file, not probability columns."""
    return {"file": log.source, "target": {"file": target_file, "prefix": prefix}, "arms": list(log.arms),
            "uniform_logging": log.uniform_logging, **evaluation.to_dict()}


def print_policy(evaluation: PolicyEvaluation, json_out: bool) -> None:
    if json_out:
        print_json(evaluation.to_dict())
        return
    title = (f"{evaluation.policy['name']} on {evaluation.source}: {evaluation.rows:,} rows, "
             f"{evaluation.replay.accepted:,} accepted by replay")
    _print(title, (evaluation.replay.estimate, *evaluation.ope.estimates), evaluation.ope, evaluation.warnings)


def print_target(log: LoggedData, target_file: str, prefix: str | None, evaluation: OffPolicyEvaluation,
                 json_out: bool) -> None:
    if json_out:
        print_json(target_json(log, target_file, prefix, evaluation))
        return
    what = "targeting policy" if prefix is None else f"target policy ({prefix}*)"
    title = f"{what} {target_file} on {log.source}: {log.n:,} rows"
    _print(title, evaluation.estimates, evaluation, evaluation.warnings)


def _print(title: str, estimates: tuple[Estimate, ...], ope: OffPolicyEvaluation, warnings: tuple[str, ...]) -> None:
    console.print(_estimates_table(title, estimates, ope))
    console.print(_diagnostics_table(ope))
    for warning in warnings:
        say(f"warning: {warning}", "yellow")


def _estimates_table(title: str, estimates: tuple[Estimate, ...], ope: OffPolicyEvaluation) -> Table:
    table = Table(title=plain(title, "table.title"))
    for header in ("estimator", "value", f"{ope.resampling.level * 100:g} % CI", "interval", "n"):
        table.add_column(header, text=header in ("estimator", "interval"))
    for e in estimates:
        name = f"switch-dr (τ = {ope.tau:g})" if e.estimator == "switch-dr" else e.estimator
        table.add_row(name, f"{e.value:.5g}", f"[{e.lower:.5g}, {e.upper:.5g}]", INTERVALS[e.method], f"{e.n:,}")
    model = ("per-action logged mean reward, refit in each bootstrap resample" if ope.reward_model == "cell means"
             else "the given model, held fixed")
    table.caption = (f"dm and switch-dr rely on the reward model ({model}); "
                     f"{ope.resampling.n_bootstrap:,} bootstrap resamples, seed {ope.resampling.seed}")
    return table


def _diagnostics_table(ope: OffPolicyEvaluation) -> Table:
    d = ope.diagnostics
    table = Table(title=plain("importance weights w = π_target / π_logging", "table.title"))
    table.add_column("diagnostic", text=True)
    table.add_column("value")
    rows = (("effective sample size", f"{d.ess:,.1f} ({d.ess_share:.1%} of {d.rows:,} rows)"),
            ("max weight", f"{d.max_weight:.4g}"),
            ("mean weight (1 if the propensities are right)", f"{d.mean_weight:.4g} ± {d.mean_weight_se:.2g}"),
            ("rows where the target never plays the logged action", f"{d.zero_target_share:.1%}"),
            ("rows where the target plays actions never logged", f"{d.unlogged_support_share:.1%}"))
    for name, value in rows:
        table.add_row(name, value)
    return table
