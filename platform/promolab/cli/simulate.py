"""``promolab simulate`` and ``promolab replay``: offline bandit simulation and replay."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import typer

from promolab.bandits import CONTEXTUAL_POLICIES, make_contextual_policy, make_policy
from promolab.bandits.base import check_int
from promolab.cli.app import app, console
from promolab.cli.contextual import contextual_files, contextual_table, load_contextual, run_contextual_scenarios
from promolab.cli.flags import flag_errors
from promolab.cli.output import Table, plain, progress, status
from promolab.cli.replay_output import print_policy, print_target
from promolab.errors import InputError
from promolab.sim.contextual_replay import evaluate_contextual_policy, evaluate_targeting_policy
from promolab.sim.evaluation import DEFAULT_TAU, evaluate_target
from promolab.sim.grid import MAX_WORKERS, check_engine, make_tasks, run_grid
from promolab.sim.logged import read_log
from promolab.sim.metrics import SimulationSummary
from promolab.sim.ope import DEFAULT_RESAMPLING, check_tau
from promolab.sim.ope_intervals import MAX_BOOTSTRAP, MIN_BOOTSTRAP, Resampling
from promolab.sim.replay import evaluate_policy
from promolab.sim.scenario import MAX_BATCH_SIZE, MAX_RUNS, MAX_SEED, Scenario, load_scenario
from promolab.sim.target_policy import DEFAULT_PREFIX, read_target
from promolab.uplift.policy_file import load_policy

# Library fields set by this module's flags (the same names in a scenario file are not flags, so
# only the calls that take these flags are wrapped in flag_errors).
SIM_FLAGS = {"runs": "--runs", "seed": "--seed", "workers": "--workers", "batch_size": "--batch-size"}
OPE_FLAGS = {**SIM_FLAGS, "n_bootstrap": "--n-bootstrap", "tau": "--switch-tau"}


@app.command("simulate")
def simulate_command(
    files: list[Path] = typer.Argument(..., help="Scenario TOML files (simulations/*.toml)."),
    json_out: bool = typer.Option(False, "--json", help="Print results as JSON."),
    runs: int | None = typer.Option(None, "--runs", help=f"Runs per policy, 1 to {MAX_RUNS:,} "
                                    "(default: the scenario's)."),
    seed: int | None = typer.Option(None, "--seed", help="Root seed (default: the scenario's)."),
    policy: list[str] | None = typer.Option(None, "--policy", metavar="NAME...",
                                            help="Policy label or registered name; repeatable."),
    workers: int = typer.Option(1, "--workers", help=f"Worker processes, 1 to {MAX_WORKERS} "
                                "(local Ray: CPUs; 1 = all)."),
    engine: str = typer.Option("pool", "--engine", metavar="pool|ray",
                               help="Where tasks run: pool (processes) or ray."),
    address: str | None = typer.Option(None, "--address", metavar="URL",
                                       help="Ray cluster, e.g. ray://HOST:10001 (default: a local Ray)."),
) -> None:
    """Simulate bandit policies on scenarios: regret, allocation, best-arm identification, cost.

    A scenario with context features (simulations/contextual/*.toml) compares contextual
    policies with context-free ones against the best offer per customer, in this process.

    Example: promolab simulate simulations/coupons.toml --runs 50 --workers 4
    """
    check_engine(engine, address)
    _check_flags(runs=runs, seed=seed, workers=workers)  # before any file is read
    contextual = contextual_files(files)  # scenarios with context features run in this process
    scenarios = [load_scenario(f) for f in files if f not in contextual]
    if policy:
        scenarios = [s.with_policies(policy) for s in scenarios]
    with flag_errors(SIM_FLAGS):
        tasks = make_tasks(scenarios, runs=runs, seed=seed)  # refuses a --runs whose totals exceed a bound
        personalised = load_contextual(contextual, runs=runs, policy=policy)
    with progress("simulating", sum(t.runs for t in tasks), unit="runs", quiet=json_out) as advance:
        summaries = run_grid(tasks, workers=workers, engine=engine, address=address,
                             on_done=lambda task: advance(task.runs))
    with flag_errors(SIM_FLAGS):
        reports = run_contextual_scenarios(personalised, runs=runs, seed=seed, quiet=json_out)
    by_scenario = [[s for s in summaries if s.scenario == sc.name] for sc in scenarios]
    if json_out:
        payload = [_scenario_json(sc, results, runs, seed) for sc, results in zip(scenarios, by_scenario)]
        console.print_json(json.dumps({"scenarios": payload + [r.to_dict() for r in reports]}))
        return
    for scenario, results in zip(scenarios, by_scenario):
        console.print(_scenario_table(scenario, results))
    for report in reports:
        console.print(contextual_table(report))


@app.command("replay")
def replay_command(
    file: Path = typer.Argument(..., help="Logged rows: CSV, CSV.gz or Parquet."),
    policy: str | None = typer.Option(None, "--policy", metavar="NAME",
                                      help="Registered policy name (or give --target-file)."),
    param: list[str] | None = typer.Option(None, "--param", metavar="NAME=VALUE...",
                                           help="Policy parameter NAME=VALUE (TOML value)."),
    target_file: Path | None = typer.Option(
        None, "--target-file", metavar="FILE",
        help="A policy given as data: CSV or Parquet, one row per logged row in the log's order, one column "
             "per action named PREFIX + the action (e.g. p_none, p_10% off) holding its probability; "
             "may be the log itself."),
    target_prefix: str = typer.Option(DEFAULT_PREFIX, "--target-prefix", metavar="PREFIX",
                                      help="Prefix of the target-probability columns."),
    policy_file: Path | None = typer.Option(
        None, "--policy-file", metavar="FILE",
        help="A saved targeting policy (promolab uplift --save-policy), on the log's context columns."),
    features: list[str] | None = typer.Option(
        None, "--features", metavar="COL,COL...",
        help="Context columns of a contextual --policy (linucb, lin-ts, logistic-ts)."),
    json_out: bool = typer.Option(False, "--json", help="Print results as JSON."),
    action_col: str = typer.Option("action", "--action-col", metavar="COL"),
    reward_col: str = typer.Option("reward", "--reward-col", metavar="COL"),
    propensity_col: str = typer.Option("propensity", "--propensity-col", metavar="COL"),
    uniform: bool = typer.Option(False, "--uniform", help="The log was assigned uniformly (propensity 1/K)."),
    batch_size: int = typer.Option(100, "--batch-size", help=f"Rows between policy updates, 1 to {MAX_BATCH_SIZE:,}."),
    seed: int = typer.Option(0, "--seed", help="Seed of the replay and of the bootstrap."),
    n_bootstrap: int = typer.Option(
        DEFAULT_RESAMPLING.n_bootstrap, "--n-bootstrap", metavar="N",
        help=f"Bootstrap resamples for the intervals, {MIN_BOOTSTRAP:,} to {MAX_BOOTSTRAP:,}."),
    switch_tau: float = typer.Option(
        DEFAULT_TAU, "--switch-tau", metavar="TAU",
        help="Switch-DR: the reward model alone on rows whose importance weight exceeds TAU."),
) -> None:
    """Estimate a policy's value on logged data: replay (Li et al. 2011), IPS, SNIPS, DR, DM, switch-DR,
    with bootstrap intervals, importance-weight diagnostics and warnings.

    The policy is a registered bandit policy (--policy, replayed along the log) or given as data
    (--target-file: each row's probability of each action).

    Example: promolab replay log.csv --policy thompson --uniform
    """
    _check_flags(seed=seed, batch_size=batch_size)  # before the log is read
    if sum(x is not None for x in (policy, target_file, policy_file)) != 1:
        raise InputError("--policy", policy, "a registered policy name, or else --target-file or --policy-file "
                         "(one of the three)")
    with flag_errors(OPE_FLAGS):
        resampling = Resampling(n_bootstrap=n_bootstrap, seed=seed)
        check_tau(switch_tau)
    context_columns = [c.strip() for item in features or [] for c in item.split(",") if c.strip()]
    contextual = policy in CONTEXTUAL_POLICIES
    if contextual and not context_columns:
        raise InputError("--features", None, f"the context columns policy {policy} learns from")
    params = _parse_params(param or [])
    chosen = None if policy is None else (make_contextual_policy(policy, params, field="--policy") if contextual
                                          else make_policy(policy, params, field="--policy"))
    saved = None if policy_file is None else load_policy(policy_file)
    with status(f"reading {file}", quiet=json_out):
        log = read_log(file, action_col=action_col, reward_col=reward_col, propensity_col=propensity_col,
                       uniform=uniform)
        target = None if target_file is None else read_target(target_file, log.arms, log.n, target_prefix)
    if target is not None or saved is not None:
        with flag_errors(OPE_FLAGS), status("estimating", quiet=json_out):
            evaluation = (evaluate_target(log, target, tau=switch_tau, resampling=resampling) if saved is None
                          else evaluate_targeting_policy(log, saved, tau=switch_tau, resampling=resampling))
        name = str(target_file if saved is None else policy_file)
        print_target(log, name, target_prefix if saved is None else None, evaluation, json_out)
        return
    # the total work (batches × the policy's draws per batch) is bounded
    with flag_errors({**OPE_FLAGS, "features": "--features"}), \
            progress("replaying", log.n, unit="rows", quiet=json_out) as advance:
        if contextual:
            replayed = evaluate_contextual_policy(log, chosen, context_columns, seed=seed, batch_size=batch_size,
                                                  progress=advance, tau=switch_tau, resampling=resampling)
        else:
            replayed = evaluate_policy(log, chosen, seed=seed, batch_size=batch_size, progress=advance,
                                       tau=switch_tau, resampling=resampling)
    print_policy(replayed, json_out)


def _check_flags(*, runs: int | None = None, seed: int | None = None, workers: int | None = None,
                 batch_size: int | None = None) -> None:
    """Per-flag bounds, checked before any file is read (the totals are checked once it is)."""
    bounds = {"--runs": (runs, 1, MAX_RUNS), "--seed": (seed, 0, MAX_SEED), "--workers": (workers, 1, MAX_WORKERS),
              "--batch-size": (batch_size, 1, MAX_BATCH_SIZE)}
    for flag, (value, low, high) in bounds.items():
        if value is not None:
            check_int(flag, value, low, high)


def _parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not (sep and name.strip()):
                raise ValueError(item)
            params[name.strip()] = tomllib.loads(f"v = {value}")["v"]
        except ValueError:  # tomllib.TOMLDecodeError is a ValueError
            raise InputError("--param", item, 'NAME=VALUE with a TOML value, e.g. epsilon=0.05') from None
    return params


def _scenario_json(scenario: Scenario, results: list[SimulationSummary], runs: int | None, seed: int | None) -> dict:
    arms = scenario.arms
    return {
        "file": scenario.source, "name": scenario.name, "description": scenario.description,
        "reward": scenario.reward, "horizon": scenario.horizon, "batch_size": scenario.batch_size,
        "delay": scenario.delay, "runs": runs or scenario.runs, "seed": scenario.seed if seed is None else seed,
        "arms": {"names": list(arms.names), "rate": arms.rate.tolist(),
                 "order_value": None if arms.order_value is None else arms.order_value.tolist(),
                 "discount": arms.discount.tolist()},
        "results": [r.to_dict() for r in results],
    }


def _scenario_table(scenario: Scenario, results: list[SimulationSummary]) -> Table:
    table = Table(title=plain(f"{scenario.name}: {scenario.horizon:,} users × {results[0].runs} runs, "
                              f"reward = {scenario.reward}", "table.title"))
    for header in ("policy", "regret (5–95 %)", "share per arm", "P(best found)", "users to find", "discount", "margin lost"):
        table.add_column(header, text=header == "policy", justify="left" if header == "share per arm" else None)
    for r in results:
        band = r.regret
        margin = "—" if r.margin_lost is None else f"{r.margin_lost.mean[-1]:,.1f}"
        table.add_row(
            plain(r.policy),
            f"{band.mean[-1]:,.1f} ({band.low[-1]:,.0f}–{band.high[-1]:,.0f})",
            plain("\n".join(f"{a} {s:.0%}" for a, s in zip(r.arms, r.final_share))),
            f"{r.p_best[-1]:.0%}",
            "—" if r.users_to_identify is None else f"{r.users_to_identify:,}",
            f"{r.discount_spent.mean[-1]:,.1f}",
            margin,
        )
    if results[0].lai_robbins is not None:
        table.caption = f"Lai-Robbins asymptotic lower bound at {scenario.horizon:,} users: {results[0].lai_robbins[-1]:,.1f}"
    return table
