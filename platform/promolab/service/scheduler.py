"""Bandit weight updates: on a schedule inside the service, or on demand (admin route).

The update itself is a callable ``update(registry, key) -> {variant: weight}``; by
default ``promolab.bandit_update.update_weights`` (else ``promolab.adaptive.update_weights``),
imported when first needed (if it
does not exist yet, scheduled runs log once and skip; the admin route answers 503).
If the callable returns weights without storing them, they are stored here with
``Registry.record_weights`` so the weight history is always kept. The service's config
(and so every client's next fetch) picks up the new weights at once.
"""

from __future__ import annotations

import logging
import math
import threading
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Callable

from promolab.adaptive.contextual import ModelUpdate, update_model
from promolab.analysis.health_checks import check_running
from promolab.errors import StateError
from promolab.spec.load import TARGETING_POLICY
from promolab.store import Registry
from promolab.store.registry import now_utc

log = logging.getLogger("promolab.service.scheduler")

Update = Callable[[Registry, str], dict[str, float]]


class UpdateUnavailable(Exception):
    """No bandit update function is installed."""


def default_update() -> Update | None:
    """``promolab.bandit_update.update_weights``, else ``promolab.adaptive.update_weights``."""
    try:
        from promolab.bandit_update import update_weights  # type: ignore[import-not-found]
    except ImportError:
        try:
            from promolab.adaptive import update_weights
        except ImportError:
            return None
    return update_weights


def _policy_name(bandit) -> str:
    policy = bandit.get("policy", "bandit") if isinstance(bandit, dict) else getattr(bandit, "policy", "bandit")
    if isinstance(policy, dict):
        policy = policy.get("name", "bandit")
    return str(policy)


def update_one(state, key: str, reason: str = "scheduled update") -> dict[str, float]:
    """Run the bandit update of one running bandit experiment; store and serve its weights.

    Weights the update function returns without storing them are validated first: the
    catalog serving them is built before they are written (``ServiceState.change``), so
    weights the service could not serve are refused (NotServable) and nothing is stored.
    """
    registry: Registry = state.registry
    experiment = registry.get_experiment(key)
    if experiment.kind != "bandit":
        raise StateError(f"experiment {key}: is an A/B test, not a bandit; it has no weights to update")
    status = registry.status(key)
    if status != "running":
        raise StateError(f"experiment {key}: is {status}; only a running bandit is updated")
    update = state.bandit_update or default_update()
    if update is None:
        raise UpdateUnavailable("no bandit update function (promolab.bandit_update.update_weights)")
    result = update(registry, key)
    result = getattr(result, "weights", result)  # a dict, or an object with .weights (WeightUpdate)
    weights = {str(k): float(v) for k, v in dict(result).items()}
    stored = registry.current_weights(key)
    if set(stored) != set(weights) or any(not math.isclose(stored[k], weights[k], abs_tol=1e-12) for k in weights):
        total = sum(weights.values())
        normalised = {k: v / total for k, v in weights.items()} if total > 0 else weights

        def reweight(entries):
            e = entries.get(key)
            if e is not None and e.status == "running":
                entries[key] = replace(e, weights=normalised)

        state.change(key, reweight, lambda: registry.record_weights(
            key, normalised, policy=_policy_name(experiment.bandit), reason=reason))
    else:
        state.refresh()  # the update function stored them (validated by the store), or nothing changed
    return registry.current_weights(key)


def updated_within(registry: Registry, key: str, seconds: float) -> bool:
    """Were ``key``'s weights stored less than ``seconds`` ago (by any process)?"""
    history = registry.weight_history(key)
    if history.empty:
        return False
    return (now_utc() - history.updated_at.max().to_pydatetime()).total_seconds() < seconds


def update_contextual(state, key: str, reason: str = "scheduled update") -> ModelUpdate:
    """Refit one running contextual experiment's model (``update_model``) and serve it."""
    result = update_model(state.registry, key, by=reason)
    if result.version is not None:
        state.refresh()
    return result


def model_updated_within(registry: Registry, key: str, seconds: float) -> bool:
    """Was ``key``'s contextual model stored less than ``seconds`` ago (by any process)?"""
    history = registry.model_history(key)
    if history.empty:
        return False
    return (now_utc() - history.updated_at.max().to_pydatetime()).total_seconds() < seconds


def update_all(state, skip_within: float | None = None) -> dict[str, dict[str, float]]:
    """Update every running bandit's weights and every learning contextual experiment's model;
    one failing experiment does not stop the others.

    ``skip_within``: leave out an experiment updated less than that many seconds ago - with
    several service processes on one registry, each runs the schedule, and the first to
    reach an experiment in a period updates it for all."""
    done = {}
    for running in state.catalog.running:
        config = running.experiment.contextual
        if config is not None and config.policy != TARGETING_POLICY:
            if skip_within is None or not model_updated_within(state.registry, running.key, skip_within):
                try:
                    update_contextual(state, running.key)
                except Exception:
                    log.exception("contextual model update of %s failed", running.key)
            continue
        if running.experiment.kind != "bandit":
            continue
        if skip_within is not None and updated_within(state.registry, running.key, skip_within):
            continue
        try:
            done[running.key] = update_one(state, running.key)
        except UpdateUnavailable:
            raise
        except Exception:
            log.exception("bandit update of %s failed", running.key)
    return done


class PeriodicThread(ABC):
    """A daemon thread calling ``run_once`` every ``period`` seconds until ``stop``; a failing
    run is logged (``what``) and the next one still happens."""

    what = "scheduled work"

    def __init__(self, state, period: float, name: str):
        if not period > 0:
            raise ValueError("period must be > 0 seconds")
        self.state = state
        self.period = period
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @abstractmethod
    def run_once(self):
        """One run of the scheduled work."""

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.run_once()
            except Exception:
                log.exception("%s failed", self.what)


class BanditScheduler(PeriodicThread):
    """``update_all`` every ``period`` seconds."""

    what = "scheduled bandit update"

    def __init__(self, state, period: float):
        super().__init__(state, period, "promolab-bandit-scheduler")
        self._warned = False

    def run_once(self) -> dict[str, dict[str, float]]:
        try:
            done = update_all(self.state, skip_within=self.period / 2)
        except UpdateUnavailable:
            if not self._warned:
                log.warning("bandit updates skipped: promolab.bandit_update.update_weights is not available yet")
                self._warned = True
            done = {}
        self.runs += 1
        if done:
            log.info("bandit weights updated: %s", ", ".join(done))
        return done


DEFAULT_HEALTH_PERIOD = 3600.0  # seconds between scheduled health checks (hourly)


class HealthScheduler(PeriodicThread):
    """Every running experiment's health checked every ``period`` seconds
    (``promolab.analysis.health_checks.check_running``): new alerts are stored, logged and
    queued for the webhooks (``webhooks.send`` returns at once; delivery is its own thread);
    an experiment the check auto-paused serves its control at once.

    With several service processes on one registry, each runs the schedule; an alert is
    raised once (recording is deduplicated in one transaction), so each is sent once."""

    what = "scheduled health check"

    def __init__(self, state, period: float = DEFAULT_HEALTH_PERIOD, webhooks=None):
        super().__init__(state, period, "promolab-health-scheduler")
        self.webhooks = webhooks

    def run_once(self) -> list:
        """Check every running experiment now; the outcomes (``CheckOutcome``)."""
        try:
            self.state.writer.flush()  # exposures this process holds count in the check
        except Exception:  # noqa: BLE001 - a stopped writer: check what is stored
            log.debug("writer flush before the health check failed", exc_info=True)
        outcomes = check_running(self.state.registry)
        if any(o.paused for o in outcomes):
            self.state.refresh()  # serve the control of what was paused now, not at the next sync
        for outcome in outcomes:
            for alert in outcome.alerts:
                log.warning("alert %d on %s [%s%s]: %s", alert.id, alert.experiment, alert.kind,
                            f" {alert.subject}" if alert.subject else "", alert.message)
                if self.webhooks is not None:
                    self.webhooks.send(alert.to_dict())
        self.runs += 1
        return outcomes
