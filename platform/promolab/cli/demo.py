"""``promolab demo``: the Hillstrom experiment, ingested and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promolab.analysis import analyze_experiment
from promolab.cli.app import app
from promolab.cli.options import JsonOption
from promolab.cli.output import print_json, say, status
from promolab.cli.render import print_report
from promolab.demo import build_demo
from promolab.demo_targeting import LEARNED_ON, TARGETED

DEMO_DB = "promolab-demo.duckdb"


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Demo registry, rebuilt from scratch.")] = Path(DEMO_DB),
    json_: JsonOption = False,
) -> None:
    """Register Hillstrom's e-mail experiment (64,000 customers) and report it; deploy a targeting policy; run a bandit.

    Example: promolab demo --db promolab-demo.duckdb
    """
    with status("building the demo", quiet=json_) as step:
        registry = build_demo(db, progress=step)
    result = analyze_experiment(registry, "hillstrom-email")
    if json_:
        print_json(result.to_dict())
        return
    say(f"demo registry: {registry.path}")
    print_report(result)
    targeted = analyze_experiment(registry, TARGETED)
    say(f"targeting: {TARGETED} serves a policy learned on half the customers (promolab uplift), measured on the "
        f"other half against a randomised holdout: {targeted.verdict.text}")
    say(f"next: promolab dashboard --db {db}  (or: promolab uplift --experiment {LEARNED_ON} --model ridge --db {db})")
