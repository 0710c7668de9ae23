"""The command table loads a command's module only when that command runs: ``promolab
--help`` imports none of the heavy packages, and the table names exactly the commands
the modules register."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import typer

from promolab.cli import run
from promolab.cli.app import COMMANDS, app

HEAVY = ("pandas", "scipy", "statsmodels", "duckdb", "fastapi", "streamlit", "sklearn", "pyspark", "ray", "plotly")


def _imported_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_and_its_help_import_no_heavy_package() -> None:
    assert _imported_after("import promolab.cli") == []
    help_then_list = ("from promolab.cli import run\nimport contextlib, io\n"
                      "with contextlib.redirect_stdout(io.StringIO()):\n    run(['--help'])")
    assert _imported_after(help_then_list) == []


def test_the_table_names_exactly_the_registered_commands() -> None:
    for module in sorted({m for m, _ in COMMANDS.values()}):
        importlib.import_module(f"promolab.cli.{module}")
    registered = typer.main.get_command(app).commands
    assert sorted(registered) == sorted(COMMANDS)
    for name, command in registered.items():
        assert command.callback is None or command.callback.__module__ == f"promolab.cli.{COMMANDS[name][0]}" \
            or isinstance(command, typer.core.TyperGroup), name


def test_help_lists_every_command_and_unknown_ones_are_refused(capsys) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert run(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
