"""``promolab segment-users``, ``simulate-segments`` and ``replay-segments``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from promolab.analysis.rfm import MAX_CLUSTERS, MAX_SEED, attribute_frame, check_k_range, rfm_sql, segment_users
from promolab.bandits import make_policy
from promolab.bandits.base import check_int
from promolab.cli.app import app, console
from promolab.cli.flags import flag_errors
from promolab.cli.options import DbOption, JsonOption, open_registry
from promolab.cli.output import Table, plain, print_json, progress, say, status
from promolab.errors import InputError


@app.command("segment-users")
def segment_users_cmd(
    db: DbOption = None,
    feature: Annotated[Optional[list[str]], typer.Option(
        "--feature", metavar="ATTRIBUTE...",
        help="User attribute to cluster on (repeatable); default: RFM from order events.")] = None,
    log: Annotated[Optional[list[str]], typer.Option("--log", metavar="FEATURE...",
                                                     help="Use ln(1 + x) for this feature (skewed money).")] = None,
    event: Annotated[str, typer.Option("--event", metavar="EVENT", help="Order event for RFM features.")] = "order",
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar="TIME",
                                                 help="RFM from events before this time stamp.")] = None,
    k_min: Annotated[int, typer.Option("--k-min", help="Fewest clusters to try (at least 2).")] = 2,
    k_max: Annotated[int, typer.Option("--k-max", help=f"Most clusters to try (at most {MAX_CLUSTERS}).")] = 8,
    name: Annotated[str, typer.Option("--name", help="Attribute the cluster is stored as.")] = "rfm_cluster",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the clusters without storing them.")] = False,
    json_: JsonOption = False,
) -> None:
    """Cluster customers by behaviour (k-means, k by silhouette) and store the cluster as an attribute.

    Example: promolab segment-users --db promolab-demo.duckdb --dry-run
    """
    k_range = check_k_range(k_min, k_max)  # bounded before the registry is opened
    check_int("--seed", seed, 0, MAX_SEED)
    registry = open_registry(db)
    if feature:
        frame = attribute_frame(registry, feature)
        columns = list(feature)
    else:
        frame = registry.query(rfm_sql(event, as_of))
        if frame.empty:
            raise InputError("--event", event, "an event with recorded orders (or pass --feature)")
        columns = ["recency", "frequency", "monetary"]
        log = list(log or []) + ["frequency", "monetary"]
    with status(f"clustering {len(frame):,} users", quiet=json_):
        result = segment_users(frame, columns, log or (), k_range, seed=seed)
    stored = 0
    if not dry_run:
        stored = registry.set_attributes(pd.DataFrame({"user_id": frame["user_id"].astype(str),
                                                       name: result.labels.astype(int)}))
    if json_:
        print_json({**result.to_dict(), "attribute": name, "users": len(frame), "stored": stored})
        return
    scores = ", ".join(f"k={k}: {s:.3f}" for k, s in result.scores.items())
    say(f"k-means on {', '.join(result.features)} ({len(frame):,} users); silhouette {scores}")
    say(f"chosen k = {result.k} (highest mean silhouette)")
    table = Table(title=plain(f"clusters ({name})", "table.title"))
    profile = result.profile.reset_index()
    for col in profile.columns:
        table.add_column(plain(col))
    for row in profile.itertuples(index=False):
        table.add_row(*[f"{x:,.0f}" if c in ("cluster", "users") else f"{x:.3g}" for c, x in zip(profile.columns, row)])
    console.print(table)
    say(f"stored as attribute {name!r} for {len(frame):,} users" if not dry_run else "dry run: nothing stored")


@app.command("simulate-segments")
def simulate_segments_cmd(
    files: list[Path] = typer.Argument(..., help="Segmented scenario TOML files (simulations/segments/*.toml)."),
    runs: Optional[int] = typer.Option(None, "--runs", help="Runs per policy (default: the scenario's)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    json_: JsonOption = False,
) -> None:
    """Simulate one global bandit against one bandit per segment.

    Example: promolab simulate-segments simulations/segments/differ.toml
    """
    from promolab.cli.simulate import SIM_FLAGS, _check_flags
    from promolab.sim.segmented import load_segmented_scenario, run_segmented

    _check_flags(runs=runs, seed=seed)  # before any file is read; the totals once each is

    scenarios = [load_segmented_scenario(file) for file in files]
    runs_by_file = []
    with progress("simulating", sum(len(s.base.policies) for s in scenarios), unit="policies",
                  quiet=json_) as advance:
        for scenario in scenarios:
            with flag_errors(SIM_FLAGS):
                runs_by_file.append(run_segmented(scenario, runs, seed, on_done=lambda _label: advance(1)))
    if json_:
        out = [{"file": str(file), "name": scenario.name, "segments": list(scenario.segments),
                "shares": scenario.shares.tolist(), "rates": scenario.rates.tolist(),
                "results": [r.to_dict() for r in results]}
               for file, scenario, results in zip(files, scenarios, runs_by_file)]
        console.print_json(json.dumps({"scenarios": out}))
        return
    for scenario, results in zip(scenarios, runs_by_file):
        table = Table(title=plain(f"{scenario.name}: {scenario.base.horizon:,} users × {results[0].runs} runs "
                                  f"({scenario.base.description})", "table.title"))
        for header in ("policy", "regret (5–95 %)", "± se", "share per arm, by segment"):
            table.add_column(header, text=header == "policy", justify="left" if header.startswith("share") else None)
        for r in results:
            shares = "\n".join(f"{s}: " + ", ".join(f"{a} {x:.0%}" for a, x in zip(r.arms, row))
                               for s, row in zip(r.segments, r.share))
            table.add_row(plain(r.policy), f"{r.regret.mean[-1]:,.1f} ({r.regret.low[-1]:,.0f}–{r.regret.high[-1]:,.0f})",
                          f"{r.regret.se[-1]:.1f}", plain(shares))
        console.print(table)


@app.command("replay-segments")
def replay_segments_cmd(
    file: Path = typer.Argument(..., help="Logged rows with a segment column: CSV or Parquet."),
    policy: str = typer.Option(..., "--policy", metavar="NAME", help="Registered policy name."),
    segment_col: str = typer.Option(..., "--segment-col", metavar="COL", help="Column holding each row's segment."),
    global_: bool = typer.Option(False, "--global", help="One policy for all segments (for comparison)."),
    action_col: str = typer.Option("action", "--action-col", metavar="COL"),
    reward_col: str = typer.Option("reward", "--reward-col", metavar="COL"),
    propensity_col: str = typer.Option("propensity", "--propensity-col", metavar="COL"),
    uniform: bool = typer.Option(False, "--uniform", help="The log was assigned uniformly (propensity 1/K)."),
    batch_size: int = typer.Option(100, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    json_: JsonOption = False,
) -> None:
    """Estimate a per-segment policy's value on logged data (replay, IPS, SNIPS, DR).

    Example: promolab replay-segments log.csv --policy thompson --segment-col channel
    """
    from promolab.cli.simulate import SIM_FLAGS, _check_flags
    from promolab.sim.logged import _read_frame, read_log
    from promolab.sim.segmented import evaluate_segmented

    _check_flags(seed=seed, batch_size=batch_size)  # before the log is read
    with status(f"reading {file}", quiet=json_):
        log = read_log(file, action_col=action_col, reward_col=reward_col, propensity_col=propensity_col,
                       uniform=uniform)
        frame = _read_frame(Path(file))
    if segment_col not in frame.columns:
        raise InputError("--segment-col", segment_col, f"a column of the log: {', '.join(map(str, frame.columns))}")
    labels = frame[segment_col].astype(str).to_numpy()
    with (flag_errors({**SIM_FLAGS, "segments": "--segment-col"}),  # ≤ MAX_SEGMENTS labels, bounded work
          progress("replaying", log.n, unit="rows", quiet=json_) as advance):
        evaluation = evaluate_segmented(log, labels, make_policy(policy, field="--policy"), per_segment=not global_,
                                        seed=seed, batch_size=batch_size, progress=advance)
    if json_:
        console.print_json(json.dumps(evaluation.to_dict()))
        return
    kind = "one global policy" if global_ else f"one policy per {segment_col}"
    table = Table(title=plain(f"{policy} ({kind}) on {file}: {log.n:,} rows, {evaluation.replay.accepted:,} accepted",
                              "table.title"))
    for header in ("estimator", "value", "95 % CI", "n"):
        table.add_column(header, text=header == "estimator")
    for e in (evaluation.replay.estimate, evaluation.ips, evaluation.snips, evaluation.dr):
        table.add_row(e.estimator, f"{e.value:.5g}", f"[{e.lower:.5g}, {e.upper:.5g}]", f"{e.n:,}")
    console.print(table)
