"""Fixtures shared by the registry tests: an empty registry file and the checkout-coupon spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from promolab.spec import load_experiment
from promolab.store import Registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry.open(tmp_path / "r.duckdb")
    yield reg
    reg.close()


@pytest.fixture
def coupon():
    return load_experiment(ROOT / "experiments" / "checkout-coupon.toml")
