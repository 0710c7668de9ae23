"""Registry reports refuse a variant that received nobody, naming it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from promolab.analysis import analyze_experiment
from promolab.errors import InputError
from promolab.spec import load_experiment
from promolab.store import Registry, exposures_batch

ROOT = Path(__file__).resolve().parents[2]


def test_a_variant_with_no_users_is_named(tmp_path: Path) -> None:
    reg = Registry.open(tmp_path / "r.duckdb")
    spec = load_experiment(ROOT / "experiments" / "checkout-coupon.toml")
    reg.create_experiment(spec)
    reg.set_status(spec.key, "running")
    users = [f"u{i}" for i in range(200)]
    reg.record_exposures(spec.key, exposures_batch(pd.DataFrame(
        {"user_id": users, "variant": ["no-coupon", "pct10"] * 100, "ts": "2024-01-01"})))
    with pytest.raises(InputError, match="variant 'free-shipping': got 'n=0', expected users exposed to every variant"):
        analyze_experiment(reg, spec.key)
    reg.close()
