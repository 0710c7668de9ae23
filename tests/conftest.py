"""Fixtures shared across test folders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from promolab.demo import hillstrom_frame



@pytest.fixture(scope="session")
def hillstrom() -> pd.DataFrame:
    """The Hillstrom table as shipped inside the package."""
    return hillstrom_frame()


@pytest.fixture(scope="session")
def hillstrom_csv(hillstrom: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hillstrom") / "hillstrom.csv"
    hillstrom.to_csv(path, index=False)
    return path
