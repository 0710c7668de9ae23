"""The Typer application object, the error boundary, and the lazy command table.

A command's module is imported only when that command runs (or its own help is asked
for): ``promolab --help`` and ``promolab power`` do not import pandas, FastAPI,
Streamlit or scikit-learn. ``COMMANDS`` names each top-level command's module and its
one-line help for the command list; a test holds it equal to what the modules register.
"""

from __future__ import annotations

import importlib
import os

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from promolab.cli.helptext import install as _install_help
from promolab.errors import PromolabError

_install_help()  # flags show no `<bool>`, options a metavar (PATH, N, KEY...), in every command's --help

console = Console()
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 120  # piped or captured output: report tables need more than 80 columns
err_console = Console(stderr=True)


# top-level command → (module under promolab.cli that registers it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "alerts": ("alerts", "Health alerts of running experiments: list, acknowledge, check now."),
    "analyze-stats": ("warehouse", "The report from per-variant sufficient statistics computed elsewhere."),
    "analyze-table": ("analysis", "Analyse any exported per-user table."),
    "assign": ("data", "Which variant each user gets: deterministic, sticky (a user keeps their first variant)."),
    "bandit": ("bandit", "Bandit experiments: weight updates and their history."),
    "dashboard": ("dashboard", "Open the dashboard: reports, sequential monitoring, bandits, simulation lab, launch."),
    "demo": ("demo", "Register Hillstrom's e-mail experiment (64,000 customers) and report it; deploy a targeting policy; run a bandit."),
    "deploy-policy": ("uplift", "Deploy a targeting policy as a contextual experiment with a randomised holdout."),
    "experiment": ("experiments", "Create experiments from specs and move them through their life cycle."),
    "export-parquet": ("warehouse", "Export the registry's exposures, events and attributes to Parquet."),
    "export-users": ("warehouse", "Write the report's per-user rows (variant, metrics, covariates)."),
    "ingest": ("data", "Load exposures, events or user attributes from a CSV or Parquet file."),
    "init": ("experiments", "Create (or migrate) the registry file."),
    "keys": ("service", "API keys for the HTTP service (only their hashes are stored)."),
    "peeking": ("sequential", "Simulate A/A tests with repeated looks: naive peeking vs group-sequential vs mSPRT."),
    "power": ("power", "Sample size for an MDE, or the MDE for a sample size."),
    "replay": ("simulate", "Estimate a policy's value on logged data: replay, IPS, SNIPS, DR."),
    "replay-segments": ("segmenting", "Estimate a per-segment policy's value on logged data."),
    "report": ("analysis", "Significance report of a registry experiment."),
    "segment-users": ("segmenting", "Cluster customers by behaviour (k-means) and store the cluster as an attribute."),
    "sequential": ("sequential_path", "z path over K interim looks vs group-sequential boundaries, always-valid p."),
    "serve": ("service", "Run the HTTP API (assign, events, experiments, reports) on the registry."),
    "simulate": ("simulate", "Simulate bandit policies on scenarios: regret, allocation, best-arm identification."),
    "simulate-segments": ("segmenting", "Simulate one global bandit against one bandit per segment."),
    "sql": ("warehouse", "Print the experiment's sufficient-statistics SQL for a warehouse."),
    "uplift": ("uplift", "Who should get which offer: uplift models, Qini/AUUC, a targeting policy valued off-policy."),
}


def load_command(name: str) -> None:
    """Import the module that registers command ``name`` on ``app``."""
    importlib.import_module(f"promolab.cli.{COMMANDS[name][0]}")


class PromolabGroup(TyperGroup):
    """The top-level command: loads a command's module when it is used, and turns a
    PromolabError from any command into one line per problem and exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        # not loaded: the command list needs only its name and help
        return click.Command(cmd_name, help=COMMANDS[cmd_name][1], short_help=COMMANDS[cmd_name][1])

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            load_command(name)
            self.commands.update(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PromolabError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            ctx.exit(2)


app = typer.Typer(
    name="promolab",
    cls=PromolabGroup,
    help="Experiments and bandits for e-commerce promotions.\n\nExample: promolab demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Experiments and bandits for e-commerce promotions."""


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    try:
        app(args=argv, prog_name="promolab")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
