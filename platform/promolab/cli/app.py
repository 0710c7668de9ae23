"""The Typer application object and the error boundary shared by every command module."""

from __future__ import annotations

import os

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from promolab.errors import PromolabError

console = Console()
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 120  # piped or captured output: report tables need more than 80 columns
err_console = Console(stderr=True)


class PromolabGroup(TyperGroup):
    """Turns a PromolabError from any command into one line per problem and exit code 2."""

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
    help="Experiments and bandits for e-commerce promotions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    try:
        app(args=argv, prog_name="promolab")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
