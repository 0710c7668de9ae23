"""The demo: Hillstrom's e-mail experiment registered, ingested and reported, a targeting
policy learned on it and deployed with a holdout (``demo_targeting``), a coupon bandit.

The data ships inside the package (``data/hillstrom.csv.gz``) so a fresh clone needs
nothing else. Each customer becomes an exposure on 2008-03-01 (the campaign), a
visit, conversion or order (value = spend) becomes an event within the two weeks, and
the pre-period columns (recency, history, …) become user attributes (``history`` is the
CUPED covariate of the spend metric).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from promolab.data import hillstrom_frame
from promolab.demo_targeting import OBSERVATION, deploy_and_replay, learn_policy
from promolab.spec import Experiment, parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

HILLSTROM_SEGMENTS = {"Mens E-Mail": "mens-email", "Womens E-Mail": "womens-email", "No E-Mail": "no-email"}
CAMPAIGN_START = pd.Timestamp("2008-03-01")
ATTRIBUTES = ("recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel")


def packaged_spec(name: str) -> Experiment:
    """An experiment spec shipped in ``promolab/data`` (also linked from ``experiments/``)."""
    text = resources.files("promolab.data").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse_experiment(text, source=f"promolab/data/{name}.toml")


def hillstrom_spec() -> Experiment:
    return packaged_spec("hillstrom-email")


# The demo's stated assumptions: sending an e-mail costs $0.01 (the data has no cost), the
# report drills down by channel and new vs returning customers, spend is the revenue.
EMAIL_COST = 0.01
DEMO_SEGMENTS = ("channel", "newbie")


def demo_spec() -> Experiment:
    """Hillstrom's spec plus the demo's economics (per-e-mail cost) and drill-down columns."""
    from dataclasses import replace

    from promolab.spec.model import Economics

    spec = hillstrom_spec()
    variants = tuple(replace(v, cost={"per_user": EMAIL_COST}) if v.key != spec.control else v for v in spec.variants)
    return replace(spec, variants=variants, plan=replace(spec.plan, segments=DEMO_SEGMENTS),
                   economics=Economics(revenue="spend", buyers="conversion"))


def hillstrom_batches(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(exposures, events, attributes) frames for the registry."""
    users = pd.Series([f"h{i:05d}" for i in range(len(frame))])
    exposures = pd.DataFrame({"user_id": users, "variant": frame["segment"].map(HILLSTROM_SEGMENTS),
                              "ts": CAMPAIGN_START.isoformat()})
    day = (CAMPAIGN_START + pd.Timedelta(days=3)).isoformat()
    parts = []
    for event, mask, value in (
        ("visit", frame["visit"] == 1, np.ones(len(frame))),
        ("conversion", frame["conversion"] == 1, np.ones(len(frame))),
        ("order", frame["spend"] > 0, frame["spend"].to_numpy()),
    ):
        idx = np.flatnonzero(mask.to_numpy())
        parts.append(pd.DataFrame({"event_id": [f"{event}-{i}" for i in idx], "user_id": users.iloc[idx].to_numpy(),
                                   "event": event, "value": value[idx], "ts": day}))
    events = pd.concat(parts, ignore_index=True)
    attributes = frame[list(ATTRIBUTES)].assign(user_id=users)
    return exposures, events, attributes


def build_demo(db: str | Path, progress: Callable[[str], None] = lambda _: None) -> Registry:
    """Create a fresh registry at ``db`` holding the Hillstrom experiment, launched and ingested."""
    path = Path(db)
    Registry.close_if_open(path)
    for suffix in ("", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    registry = Registry.open(path)
    spec = demo_spec()
    progress("registering the experiment")
    sent, over = CAMPAIGN_START.to_pydatetime(), (CAMPAIGN_START + OBSERVATION).to_pydatetime()
    registry.create_experiment(spec, by="demo", at=sent)
    registry.set_status(spec.key, "running", by="demo", reason="Hillstrom campaign sent 2008-03-01", at=sent)
    progress("reading 64,000 customers")
    exposures, events, attributes = hillstrom_batches(hillstrom_frame())
    progress("ingesting exposures")
    registry.record_exposures(spec.key, exposures_batch(exposures, "hillstrom"), source="hillstrom")
    progress("ingesting events")
    registry.ingest_events(events_batch(events, "hillstrom"), source="hillstrom")
    progress("storing customer attributes")
    registry.set_attributes(attributes)
    registry.set_status(spec.key, "stopped", by="demo", reason="two-week observation window over", at=over)
    progress("learning who should get which e-mail on half the customers")
    report, other_half = learn_policy(registry)
    progress("deploying the targeting policy with a holdout, replayed on the other half")
    deploy_and_replay(registry, report, other_half, CAMPAIGN_START)
    progress("running a coupon bandit for 14 simulated days")
    simulate_bandit(registry)
    return registry


# True daily conversion rates and order values of the simulated coupon bandit: 20 % off
# converts best, shoppers convert 30 % more at weekends (a time trend the bandit's
# estimates must survive).
BANDIT_RATES = {"no-coupon": 0.030, "pct10": 0.036, "pct20": 0.042, "free-shipping": 0.034}
BANDIT_ORDER_VALUE = {"no-coupon": 60.0, "pct10": 58.0, "pct20": 55.0, "free-shipping": 62.0}
BANDIT_START = pd.Timestamp("2024-06-03")  # a Monday


def simulate_bandit(registry: Registry, days: int = 14, users_per_day: int = 3000, seed: int = 2024) -> None:
    """Run the packaged ``coupon-bandit`` spec on simulated shoppers, one weight update a day.

    Each day's new users are assigned (sticky) into the current weights, convert with
    the variant's rate (higher at weekends) and order value, and the policy then updates
    the weights from all data so far, stored with that day's time stamp.
    """
    from promolab.adaptive import sticky_assign, update_weights

    rng = np.random.default_rng(seed)
    spec = packaged_spec("coupon-bandit")
    launched = BANDIT_START.to_pydatetime()
    registry.create_experiment(spec, by="demo", at=launched)
    registry.set_status(spec.key, "running", by="demo", reason="simulated shoppers", at=launched)
    for day in range(days):
        start = BANDIT_START + pd.Timedelta(days=day)
        users = [f"b{day:02d}-{i:05d}" for i in range(users_per_day)]
        assigned = sticky_assign(registry, spec.key, users, at=start.to_pydatetime())
        variants = np.array(assigned.variants)
        weekend = 1.3 if start.day_of_week >= 5 else 1.0
        rates = np.array([BANDIT_RATES[v] for v in variants]) * weekend
        buyers = np.flatnonzero(rng.random(len(users)) < rates)
        values = np.array([BANDIT_ORDER_VALUE[v] for v in variants[buyers]]) * rng.gamma(4.0, 0.25, len(buyers))
        registry.ingest_events(events_batch(pd.DataFrame({
            "event_id": [f"{users[i]}-order" for i in buyers], "user_id": [users[i] for i in buyers],
            "event": "order", "value": values.round(2), "ts": (start + pd.Timedelta(hours=20)).isoformat(),
        }), "bandit-demo"), source="bandit-demo")
        update_weights(registry, spec.key, by="demo", at=(start + pd.Timedelta(hours=23, minutes=59)).to_pydatetime())
