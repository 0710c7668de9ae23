"""Data shipped inside the package: the Hillstrom table and example experiment specs."""

from __future__ import annotations

import gzip
from importlib import resources

import pandas as pd


def hillstrom_frame() -> pd.DataFrame:
    """The 64,000-row Hillstrom MineThatData e-mail table (2008), as shipped with the package."""
    with resources.files("promolab.data").joinpath("hillstrom.csv.gz").open("rb") as fh:
        with gzip.open(fh) as raw:
            return pd.read_csv(raw)
