"""Fixtures shared across test folders."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from promolab.demo import hillstrom_frame
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
