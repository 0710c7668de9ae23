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

DEMO_DB = "promolab-demo.duckdb"


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Demo registry, rebuilt from scratch.")] = Path(DEMO_DB),
    json_: JsonOption = False,
) -> None:
    """Register Hillstrom's e-mail experiment, ingest its 64,000 customers, print the report.

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
    say(f"next: promolab dashboard --db {db}")
