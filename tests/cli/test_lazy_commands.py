"""The command table loads a command's module only when that command runs: ``promolab
--help`` imports none of the heavy packages, ``promolab power`` none of the registry,
analysis pipeline, service or dashboard packages (nor numpy, scipy, statsmodels or pandas:
its math is the standard library's), ``promolab experiment list`` DuckDB but no pandas or
scientific stack, and the table names exactly the commands the modules register."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import typer

from promolab.cli import run
from promolab.cli.app import COMMANDS, app

HEAVY = ("pandas", "scipy", "statsmodels", "duckdb", "fastapi", "streamlit", "sklearn", "pyspark", "ray", "plotly")
# what no command but serve, dashboard, segment-* and --engine spark needs
SURFACES = ("fastapi", "streamlit", "sklearn", "pyspark", "ray", "plotly")
# the scientific stack: what the analysis needs, and the registry's ingest methods (pandas)
SCIENTIFIC = ("numpy", "pandas", "scipy", "statsmodels")
# power opens no registry and runs no analysis; of promolab.stats it needs power.py only,
# which computes with the standard library (statsmodels is its reference in the tests)
NOT_FOR_POWER = SURFACES + SCIENTIFIC + ("duckdb", "promolab.store", "promolab.analysis", "promolab.stats.bayesian",
                                         "promolab.stats.multiple", "promolab.stats.srm")
POWER = ["power", "--baseline", "0.05", "--mde", "0.1"]
# reading the registry (experiment list / show) needs DuckDB only: no pandas, no analysis
NOT_FOR_READING = SURFACES + SCIENTIFIC + ("promolab.analysis", "promolab.stats", "promolab.store.batches")
ROOT = Path(__file__).resolve().parents[2]


def _imported_after(code: str, names: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of ``names`` are in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps([m for m in {names!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _quietly(argv: list[str]) -> str:
    return ("from promolab.cli import run\nimport contextlib, io\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    assert run({argv!r}) == 0")


def test_importing_the_cli_and_its_help_import_no_heavy_package() -> None:
    assert _imported_after("import promolab.cli") == []
    assert _imported_after(_quietly(["--help"])) == []


def test_the_power_command_imports_no_registry_analysis_service_or_dashboard() -> None:
    assert COMMANDS["power"][0] == "power"
    assert _imported_after("from promolab.cli.app import load_command\nload_command('power')", NOT_FOR_POWER) == []
    assert _imported_after(_quietly(POWER), NOT_FOR_POWER) == []
    assert _imported_after(_quietly(POWER + ["--help"]), NOT_FOR_POWER) == []


def test_experiment_list_reads_the_registry_without_pandas(tmp_path: Path, capsys) -> None:
    db = tmp_path / "r.duckdb"
    assert run(["experiment", "create", str(ROOT / "experiments" / "checkout-coupon.toml"), "--db", str(db)]) == 0
    assert run(["experiment", "launch", "checkout-coupon", "--db", str(db)]) == 0
    capsys.readouterr()
    for argv in (["experiment", "list", "--db", str(db)], ["experiment", "list", "--db", str(db), "--json"],
                 ["experiment", "show", "checkout-coupon", "--db", str(db)]):
        assert _imported_after(_quietly(argv), NOT_FOR_READING + ("duckdb",)) == ["duckdb"], argv
    assert run(["experiment", "list", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["status"], r["exposures"]) for r in rows] == [("checkout-coupon", "running", 0)]
    assert rows[0]["launched_at"] is not None


def test_the_dashboard_command_checks_its_registry_file_before_loading_duckdb_or_streamlit(tmp_path: Path) -> None:
    """DuckDB (0.06-0.09 s) comes with the server's head start, after the server answers."""
    db = tmp_path / "r.duckdb"
    db.write_bytes(b"\0" * 8 + b"DUCK" + b"\0" * (3 * 4096))
    code = ("from pathlib import Path\nfrom promolab.cli.app import load_command\nload_command('dashboard')\n"
            f"from promolab.store.preflight import inspect_path\nassert inspect_path(Path({str(db)!r}))")
    assert _imported_after(code, ("duckdb", "streamlit", "promolab.store.files")) == []


def test_the_probe_sees_what_a_command_imports() -> None:
    """The checks above can fail: a command that opens the registry loads DuckDB and the store."""
    assert _imported_after("from promolab.cli.app import load_command\nload_command('experiment')",
                           NOT_FOR_POWER) == ["duckdb", "promolab.store"]


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
