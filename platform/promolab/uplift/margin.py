"""Per-user margin after promotion costs: the reward a targeting policy maximises.

The same definition as ``promolab.analysis.economics`` (which computes it in SQL): for a
user in arm a with cost {discount_pct d %, shipping_cost s, coupon_value c, per_user e}
and margin rate g,

    paid = revenue (winsorised at the cap)       gross = paid / (1 − d)
    cost = gross − paid + s·orders + c·buyer + e  margin = g·gross − cost

The uplift of this margin, τ_k^m(x) = E[margin | x, k] − E[margin | x, control], is the
predicted incremental margin of offer k after its cost. With only per-user costs it is
g·τ_k^revenue(x) − (e_k − e_0); a discount's cost also falls on sales that would have
happened anyway, which is why the learner models the margin rather than revenue alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from promolab.analysis.economics import EconomicsConfig, parse_costs
from promolab.errors import InputError
from promolab.spec.model import COST_KEYS

_KEYED = re.compile(rf"^.+:({'|'.join(COST_KEYS)})=")


def per_user_margin(config: EconomicsConfig, arms: Sequence[str], arm: np.ndarray, revenue: np.ndarray,
                    orders: np.ndarray | None = None, buyers: np.ndarray | None = None) -> np.ndarray:
    """margin_i for each row; ``arm`` indexes ``arms`` (cost keys are arm names)."""
    for name in config.costs:
        if name not in arms:
            raise InputError("cost", name, "an arm of the table: " + ", ".join(arms))
    paid = np.asarray(revenue, dtype=float)
    if config.revenue_cap is not None:
        paid = np.minimum(paid, config.revenue_cap)
    n_orders = np.zeros_like(paid) if orders is None else np.asarray(orders, dtype=float)
    buyer = (np.asarray(buyers, dtype=float) if buyers is not None else
             (n_orders > 0).astype(float) if orders is not None else (paid > 0).astype(float))
    cost = np.array([[config.costs.get(a, {}).get(key, 0.0) for key in COST_KEYS] for a in arms])[arm]
    discount, shipping, coupon, per_user = cost.T
    gross = paid / (1 - discount / 100)
    spent = gross - paid + shipping * n_orders + coupon * buyer + per_user
    return config.margin_rate * gross - spent


def parse_offer_costs(items: Sequence[str]) -> dict[str, dict[str, float]]:
    """CLI ``--cost``: ``OFFER=AMOUNT`` (a per-user cost, e.g. sending an e-mail) or, as in
    ``analyze-table``, ``OFFER:key=value[,key=value]`` with keys discount_pct, shipping_cost,
    coupon_value, per_user."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        if _KEYED.match(item):
            for offer, cost in parse_costs([item]).items():
                out.setdefault(offer, {}).update(cost)
            continue
        offer, sep, amount = item.rpartition("=")
        try:
            value = float(amount)
        except ValueError:
            value = math.nan
        if not (sep and offer and math.isfinite(value) and value >= 0):
            raise InputError("cost", item, "OFFER=AMOUNT (a per-user cost >= 0, e.g. 'Mens E-Mail=0.1') or "
                                           "OFFER:key=value[,key=value] with keys " + ", ".join(COST_KEYS))
        out.setdefault(offer, {})["per_user"] = value
    return out


def reward_label(config: EconomicsConfig) -> str:
    """What the policy maximises, in words."""
    costs = "; ".join(f"{a}: " + ", ".join(f"{k}={v:g}" for k, v in c.items()) for a, c in config.costs.items() if c)
    return (f"margin per user = {config.margin_rate:g} × {config.revenue} − promotion cost"
            + (f" ({costs})" if costs else " (no costs given)"))
