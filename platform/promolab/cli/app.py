"""The Typer application object and the error boundary shared by every command module."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from promolab.errors import PromolabError

app = typer.Typer(
    name="promolab",
    help="Experiments and bandits for e-commerce promotions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 120  # piped or captured output: report tables need more than 80 columns
err_console = Console(stderr=True)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; a PromolabError becomes one line on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="promolab", standalone_mode=False)
    except PromolabError as exc:
        for line in str(exc).splitlines():
            err_console.print(f"error: {line}", markup=False, highlight=False)
        return 2
    except typer.Exit as exc:  # raised by commands that end early on purpose
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        return 1
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0
