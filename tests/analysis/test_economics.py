"""Promotion economics: per-1,000-user amounts, delta-method CIs cross-checked by a
bootstrap, break-even lift; Hillstrom's incremental spend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promolab.analysis import analyze_table
from promolab.analysis.economics import EconomicsConfig

COSTS = {"pct10": {"discount_pct": 10.0}, "ship": {"shipping_cost": 6.5}, "coupon": {"coupon_value": 5.0,
                                                                                     "per_user": 0.05}}


def _table(tmp_path: Path, n: int = 6000, seed: int = 2) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    variant = rng.choice(["none", "pct10", "ship", "coupon"], size=n)
    rate = pd.Series(variant).map({"none": 0.05, "pct10": 0.07, "ship": 0.065, "coupon": 0.06}).to_numpy()
    orders = rng.binomial(1, rate) * (1 + rng.poisson(0.3, n))
    value = np.where(variant == "pct10", 0.9, 1.0) * orders * rng.gamma(3, 20, n)
    frame = pd.DataFrame({"variant": variant, "orders": orders, "revenue": value})
    path = tmp_path / "promo.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _margin(frame: pd.DataFrame, g: float) -> np.ndarray:
    d = frame["variant"].map({"pct10": 0.10}).fillna(0.0).to_numpy()
    gross = frame["revenue"].to_numpy() / (1 - d)
    ship = frame["variant"].map({"ship": 6.5}).fillna(0.0).to_numpy() * frame["orders"].to_numpy()
    coupon = np.where(frame["variant"] == "coupon", 5.0 * (frame["orders"] > 0) + 0.05, 0.0)
    return g * gross - (gross - frame["revenue"].to_numpy() + ship + coupon)


def test_margin_ci_matches_bootstrap(tmp_path: Path) -> None:
    path, frame = _table(tmp_path)
    config = EconomicsConfig("revenue", "orders", None, 0.4, None, COSTS)
    report = analyze_table(path, "variant", "none", ["revenue:mean"], economics=config)
    econ = report.economics
    margin = _margin(frame, 0.4)
    rng = np.random.default_rng(0)
    groups = {v: margin[frame["variant"].to_numpy() == v] for v in ("none", "pct10", "ship", "coupon")}
    for v in ("pct10", "ship", "coupon"):
        im = econ.variant(v).incremental_margin
        want = 1000 * (groups[v].mean() - groups["none"].mean())
        assert im.value == pytest.approx(want, rel=1e-9)
        boot = np.array([1000 * (rng.choice(groups[v], groups[v].size).mean()
                                 - rng.choice(groups["none"], groups["none"].size).mean()) for _ in range(800)])
        assert im.se == pytest.approx(boot.std(ddof=1), rel=0.12)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        assert im.ci_low == pytest.approx(lo, abs=0.2 * (hi - lo)) and im.ci_high == pytest.approx(hi, abs=0.2 * (hi - lo))
    cost = econ.variant("ship").promotion_cost.value
    assert cost == pytest.approx(1000 * 6.5 * frame.loc[frame.variant == "ship", "orders"].mean(), rel=1e-9)


def test_break_even_lift() -> None:
    from promolab.analysis.economics import _break_even

    config = EconomicsConfig("revenue", margin_rate=0.4, costs={"pct10": {"discount_pct": 10.0}})
    # margin per unit of volume falls from 0.40 to 0.30: volume must rise by a third
    assert _break_even(config, "none", "pct10", 5.0, 0.1, 0.1) == pytest.approx(0.4 / 0.3 - 1)
    deep = EconomicsConfig("revenue", margin_rate=0.3, costs={"pct50": {"discount_pct": 50.0}})
    assert _break_even(deep, "none", "pct50", 5.0, 0.1, 0.1) is None  # every sale loses money


def test_hillstrom_incremental_spend_per_1000(hillstrom_csv: Path, hillstrom: pd.DataFrame) -> None:
    config = EconomicsConfig("spend", costs={"Mens E-Mail": {"per_user": 0.0}, "Womens E-Mail": {"per_user": 0.0}})
    report = analyze_table(hillstrom_csv, "segment", "No E-Mail", ["spend:mean"], economics=config)
    means = hillstrom.groupby("segment")["spend"].mean()
    for v in ("Mens E-Mail", "Womens E-Mail"):
        ir = report.economics.variant(v).incremental_revenue
        assert ir.value == pytest.approx(1000 * (means[v] - means["No E-Mail"]), rel=1e-9)
        assert ir.ci_low > 0  # both campaigns raise spend
    data = report.to_dict()["economics"]
    assert data["per_users"] == 1000 and data["variants"][1]["incremental_revenue"]["ci_low"] > 0


def test_variant_cost_is_validated() -> None:
    from promolab.errors import SpecError
    from promolab.spec import parse_experiment

    text = """key = "e"
name = "e"
owner = "o"
[[variants]]
key = "a"
[[variants]]
key = "b"
cost = { discount_pct = 120, gift = 3 }
[[metrics]]
key = "conversion"
kind = "binomial"
event = "order"
"""
    with pytest.raises(SpecError) as err:
        parse_experiment(text)
    assert "variants[1].cost.discount_pct" in str(err.value) and "variants[1].cost.gift" in str(err.value)
