"""Every command's ``--help`` (the lazily loaded ones included) shows an example
invocation and no Python type names: a flag shows nothing after its name, an option a
metavar (FILE, COL, N, holm|bh|none...)."""

from __future__ import annotations

import re

import pytest
import typer

from promolab.cli import run
from promolab.cli.app import COMMANDS, app, load_command

TYPE_NOISE = re.compile(r"<(bool|int|float|str|text|path|list|tuple|datetime|file|dir)\b", re.IGNORECASE)


def command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command, as the words that invoke it (the root is ``()``)."""
    paths: list[tuple[str, ...]] = [()]
    for name in sorted(COMMANDS):
        load_command(name)
        command = typer.main.get_command(app).commands[name]
        paths.append((name,))
        for sub in sorted(getattr(command, "commands", {})):
            paths.append((name, sub))
    return paths


def help_of(capsys: pytest.CaptureFixture[str], path: tuple[str, ...]) -> str:
    assert run([*path, "--help"]) == 0, path
    return capsys.readouterr().out


def flat(text: str) -> str:
    """The help without its panel borders and line breaks: wrapped help text reads on."""
    return re.sub(r"[│╭╮╰╯─\s]+", " ", text)


def test_the_walk_reaches_the_lazy_commands_and_the_sub_commands() -> None:
    paths = command_paths()
    assert {(name,) for name in COMMANDS} <= set(paths)
    assert {("experiment", "create"), ("bandit", "regret"), ("keys", "revoke")} <= set(paths)


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "promolab")
def test_every_help_has_an_example_and_no_type_names(capsys: pytest.CaptureFixture[str],
                                                      path: tuple[str, ...]) -> None:
    out = help_of(capsys, path)
    example = " ".join(("Example: promolab", *path))
    assert example in flat(out), out
    assert "<bool" not in out and "<list" not in out
    assert TYPE_NOISE.search(out) is None, TYPE_NOISE.search(out)


def test_flags_show_no_metavar_and_options_a_meaningful_one(capsys: pytest.CaptureFixture[str]) -> None:
    out = flat(help_of(capsys, ("analyze-table",)))
    assert re.search(r"--json\s+Print machine-readable JSON", out)
    assert re.search(r"--help\s+Show this message", out)
    assert re.search(r"--keep-cross-variant\s+Keep users", out)
    for option, metavar in (("--metric", "COL:kind..."), ("--variant", "COL"), ("--alpha", "NUMBER"),
                            ("--looks", "N"), ("--correction", "holm|bh|none"), ("--engine", "duckdb|spark")):
        assert re.search(rf"{option}\s+{re.escape(metavar)}\s", out), option
    assert re.search(r"\bFILE\b", out)  # the argument, named in capitals
    assert "promolab[spark]" in out  # help text is not read as rich markup
    out = flat(help_of(capsys, ("report",)))
    assert re.search(r"--cuped\s+--no-cuped\s+Use declared covariates", out)
    assert re.search(r"--db\s+FILE\s", out)
