"""Which registry a command uses with no ``--db``: after ``promolab demo`` the demo's (and the
command says so); reading never creates a file; a missing file names where it looked."""

from __future__ import annotations

from pathlib import Path

import pytest

from promolab.cli import run
from promolab.spec import load_experiment
from promolab.store import DB_ENV, Registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _registry_with_coupon(path: Path) -> None:
    reg = Registry.open(path)
    reg.create_experiment(load_experiment(ROOT / "experiments" / "checkout-coupon.toml"))
    reg.close()


@pytest.mark.parametrize("argv", [["experiment", "list"], ["experiment", "show", "checkout-coupon"],
                                  ["report", "checkout-coupon"], ["keys", "list"], ["sql", "checkout-coupon"]])
def test_reading_a_missing_registry_creates_nothing_and_says_where_it_looked(here: Path, argv, capsys) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "promolab.duckdb: no registry there (looked at --db, $PROMOLAB_DB, ./promolab.duckdb, " \
                              "./promolab-demo.duckdb)" in err[0]
    assert list(here.iterdir()) == []


def test_after_the_demo_commands_use_its_registry_and_say_so(here: Path, capsys) -> None:
    _registry_with_coupon(here / "promolab-demo.duckdb")
    capsys.readouterr()
    assert run(["experiment", "list", "--json"]) == 0
    out = capsys.readouterr()
    assert "checkout-coupon" in out.out
    assert out.err.strip() == ("registry: ./promolab-demo.duckdb (the demo's: there is no ./promolab.duckdb here; "
                               "--db or $PROMOLAB_DB chooses another)")
    assert not (here / "promolab.duckdb").exists()


def test_a_registry_of_ones_own_wins_over_the_demo(here: Path, capsys) -> None:
    _registry_with_coupon(here / "promolab-demo.duckdb")
    Registry.open(here / "promolab.duckdb").close()  # an empty registry of the user's own
    capsys.readouterr()
    assert run(["experiment", "list", "--json"]) == 0
    out = capsys.readouterr()
    assert "checkout-coupon" not in out.out and out.err == ""
