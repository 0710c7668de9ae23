"""The demo: Hillstrom's e-mail experiment registered, ingested and reported.

The data ships inside the package (``data/hillstrom.csv.gz``) so a fresh clone needs
nothing else. Each customer becomes an exposure on 2008-03-01 (the campaign), a
visit, conversion or order (value = spend) becomes an event within the two weeks, and
the pre-period columns (recency, history, …) become user attributes (``history`` is the
CUPED covariate of the spend metric).
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from promolab.spec import Experiment, parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

HILLSTROM_SEGMENTS = {"Mens E-Mail": "mens-email", "Womens E-Mail": "womens-email", "No E-Mail": "no-email"}
CAMPAIGN_START = pd.Timestamp("2008-03-01")
ATTRIBUTES = ("recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel")


def hillstrom_frame() -> pd.DataFrame:
    """The 64,000-row Hillstrom table as shipped with the package."""
    with resources.files("promolab.data").joinpath("hillstrom.csv.gz").open("rb") as fh:
        with gzip.open(fh) as raw:
            return pd.read_csv(raw)


def hillstrom_spec() -> Experiment:
    text = resources.files("promolab.data").joinpath("hillstrom-email.toml").read_text(encoding="utf-8")
    return parse_experiment(text, source="promolab/data/hillstrom-email.toml")


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
    spec = hillstrom_spec()
    progress("registering the experiment")
    registry.create_experiment(spec, by="demo")
    registry.set_status(spec.key, "running", by="demo", reason="Hillstrom campaign sent 2008-03-01")
    progress("reading 64,000 customers")
    exposures, events, attributes = hillstrom_batches(hillstrom_frame())
    progress("ingesting exposures")
    registry.record_exposures(spec.key, exposures_batch(exposures, "hillstrom"), source="hillstrom")
    progress("ingesting events")
    registry.ingest_events(events_batch(events, "hillstrom"), source="hillstrom")
    progress("storing customer attributes")
    registry.set_attributes(attributes)
    registry.set_status(spec.key, "stopped", by="demo", reason="two-week observation window over")
    return registry
