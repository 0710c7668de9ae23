"""Fixtures shared across test folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from promolab.demo import build_demo, hillstrom_frame
from promolab.store import Registry
from promolab.store.location import DB_ENV



@pytest.fixture(scope="session", autouse=True)
def _no_registry_in_the_working_tree(tmp_path_factory: pytest.TempPathFactory):
    """A command or library call that names no registry uses $PROMOLAB_DB: point it at a
    temp file for the whole session, so no test reads or creates ./promolab.duckdb (or the
    demo's registry) in the checkout it runs from. Tests of the default unset it."""
    previous = os.environ.get(DB_ENV)
    os.environ[DB_ENV] = str(tmp_path_factory.mktemp("default-registry") / "promolab.duckdb")
    yield
    if previous is None:
        os.environ.pop(DB_ENV, None)
    else:
        os.environ[DB_ENV] = previous


@pytest.fixture(scope="session")
def hillstrom() -> pd.DataFrame:
    """The Hillstrom table as shipped inside the package."""
    return hillstrom_frame()


@pytest.fixture(scope="session")
def hillstrom_csv(hillstrom: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hillstrom") / "hillstrom.csv"
    hillstrom.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def copy_demo(tmp_path_factory: pytest.TempPathFactory):
    """``copy_demo(path)``: a private copy of ``promolab demo``'s registry at ``path``. The demo
    is built once per test process (about 10 s), on first use; each copy is the test's own."""
    master = tmp_path_factory.mktemp("demo-master") / "demo.duckdb"

    def copy(path: Path) -> Path:
        if not master.exists():
            build_demo(master).close()
        Registry.close_if_open(master)
        shutil.copyfile(master, path)
        return path

    return copy
