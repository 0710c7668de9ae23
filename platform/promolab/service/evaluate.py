"""What the service serves and the client evaluates: running experiments and their weights.

A *paused* experiment is served too, marked ``"status": "paused"`` in the config: it gives
its control to every user asked (first-exposure map and split ignored) and records no
exposure, on both sides - pausing an offer pulls it from everyone at once.

The server builds its assignment state from the very configuration document it serves
at ``GET /v1/config`` (``running_from_config(config_document(...))``), and the
local-evaluation client builds its state from the same document with the same function,
so the two assign every user identically by construction: both call
``promolab.assign.assign`` on equal experiments, equal weights and equal attributes.

Attribute semantics (both sides): a user whose attributes lack a targeting attribute, or
hold null for it, is not eligible for that experiment (as ``promolab.assign.targeting``
says); users are evaluated in batches, and a batch whose attribute types cannot be
compared with a rule falls back to one user at a time so the error names that user.
One user is evaluated by :func:`evaluate_one` on the scalar path
(``promolab.assign.scalar``, precompiled once per running experiment and weights), which
gives the answers of the vectorised path for a batch of one.

Both sides then consult a first-exposure map (``promolab.service.sticky``) before these
functions: a user keeps the variant of their first exposure when weights change.

This module must not import FastAPI: the client imports it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from promolab.adaptive.served import ServedModel, floored
from promolab.assign import assign
from promolab.assign.scalar import ScalarExperiment, compile_experiment, holdout_prefix, uniform_one, user_bytes
from promolab.errors import InputError
from promolab.spec import Experiment, experiment_from_dict, experiment_to_dict
from promolab.spec.encoding import encode_one
from promolab.store.exposures import context_json

CONFIG_VERSION = 1


@dataclass(frozen=True)
class Decision:
    """One user's assignment: the variant index (-1: not in the experiment), the probability
    it was chosen with, and for a contextual experiment the features it was chosen on (JSON)."""

    index: int
    propensity: float | None = None
    context: str | None = None


NOT_IN = Decision(-1)


@dataclass(frozen=True)
class Running:
    """A served experiment as evaluated: the spec, bandit weights (None: the spec's) and, for
    a contextual experiment, its current model (None: none fitted yet; the weights serve);
    ``paused``: it serves its control to everyone and records nothing."""

    experiment: Experiment
    weights: tuple[float, ...] | None
    model: ServedModel | None = None
    paused: bool = False

    @property
    def key(self) -> str:
        return self.experiment.key

    @cached_property
    def control_index(self) -> int:
        return self.experiment.variant_keys.index(self.experiment.control)

    @cached_property
    def needed(self) -> frozenset[str]:
        return frozenset(r.attribute for r in self.experiment.targeting)

    @cached_property
    def scalar(self) -> ScalarExperiment:
        """The experiment and weights precompiled for one-user evaluation (computed once)."""
        return compile_experiment(self.experiment, self.weights)

    @cached_property
    def shares(self) -> np.ndarray:
        """The split in force, normalised: each variant's propensity for an A/B or bandit user."""
        w = np.asarray(self.weights if self.weights is not None else self.experiment.weights, dtype=float)
        return w / w.sum()

    @cached_property
    def holdout_prefix(self) -> bytes:
        return holdout_prefix(self.experiment)


def config_document(
    experiments: Sequence[tuple[Experiment, Mapping[str, float] | None, ServedModel | None]],
    paused: Sequence[Experiment] = (),
) -> dict[str, Any]:
    """The JSON document of ``GET /v1/config``: each running spec, its current weights and
    (contextual experiments) its current model; then each ``paused`` spec (control for all)."""
    items = []
    for experiment, weights, model in experiments:
        w = None if weights is None else [float(weights[k]) for k in experiment.variant_keys]
        items.append({"spec": experiment_to_dict(experiment), "status": "running", "weights": w,
                      "model": None if model is None else model.to_dict()})
    for experiment in paused:
        items.append({"spec": experiment_to_dict(experiment), "status": "paused", "weights": None, "model": None})
    return {"version": CONFIG_VERSION, "experiments": items}


def config_etag(document: Mapping[str, Any]) -> str:
    body = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def running_from_config(document: Mapping[str, Any]) -> list[Running]:
    """Parse a config document (as served) into evaluation state."""
    out = []
    for item in document.get("experiments", []):
        experiment = experiment_from_dict(item["spec"], source="config")
        weights = item.get("weights")
        raw = item.get("model")
        model = None
        if raw is not None and experiment.contextual is not None:
            model = ServedModel.from_dict(raw, len(experiment.variants), experiment.contextual.features.dim)
        out.append(Running(experiment, None if weights is None else tuple(float(w) for w in weights), model,
                           item.get("status", "running") == "paused"))
    return out


def _evaluate(running: Running, user_ids: Sequence[str], attributes: Sequence[Mapping[str, Any] | None]) -> np.ndarray:
    needed = running.needed
    if not needed:
        return assign(running.experiment, list(user_ids), None, running.weights)
    out = np.full(len(user_ids), -1, dtype=np.int64)
    keep = [i for i, a in enumerate(attributes) if a is not None and all(a.get(k) is not None for k in needed)]
    if not keep:
        return out
    columns = {k: [attributes[i][k] for i in keep] for k in needed}
    out[keep] = assign(running.experiment, [user_ids[i] for i in keep], columns, running.weights)
    return out


def evaluate_one(running: Running, user_id: str, attributes: Mapping[str, Any] | None) -> int:
    """Variant index for one user (-1: not in it): ``evaluate_each(running, [u], [a])[0]``
    on the scalar path. Raises ``InputError`` where that would return one."""
    needed = running.needed
    if needed and (attributes is None or any(attributes.get(k) is None for k in needed)):
        return -1
    return running.scalar.index(user_id, attributes)


def decide_one(running: Running, user_id: str, attributes: Mapping[str, Any] | None) -> Decision:
    """The user's :class:`Decision`. A/B and bandit: the hashed variant of :func:`evaluate_one`,
    chosen with its share of the split. Contextual (``promolab.adaptive.served``): a user in
    the experiment whose holdout draw is below ``holdout`` gets the hashed variant of the
    split, anyone else a variant drawn by the same variant hash from the floored policy
    π(·|φ(x)); the propensity logged is the marginal h·wₐ + (1 − h)·πₐ. Raises
    ``InputError`` for unusable attributes (``context.<feature>`` when a feature is missing
    or invalid)."""
    config = running.experiment.contextual
    if config is None:
        index = evaluate_one(running, user_id, attributes)
        return Decision(index, float(running.shares[index])) if index >= 0 else NOT_IN
    scalar = running.scalar
    user = user_bytes(user_id)
    needed = running.needed
    if needed and (attributes is None or any(attributes.get(k) is None for k in needed)):
        return NOT_IN
    phi = encode_one(config.features, attributes)  # raises InputError naming the feature
    if not scalar.included(user, attributes):
        return NOT_IN
    shares = running.shares
    policy = shares if running.model is None else floored(running.model.probabilities(phi), config.floor)
    if config.holdout > 0 and uniform_one(running.holdout_prefix, user) < config.holdout:
        index = scalar.index(user_id, attributes)
    else:
        cum = np.cumsum(policy)
        u = uniform_one(scalar.variant_prefix, user)
        index = min(int(np.searchsorted(cum / cum[-1], u, side="right")), len(cum) - 1)
    propensity = config.holdout * shares[index] + (1.0 - config.holdout) * policy[index]
    context = context_json({f.name: attributes[f.name] for f in config.features.features})
    return Decision(index, float(propensity), context)


def decide_each(running: Running, user_ids: Sequence[str],
                attributes: Sequence[Mapping[str, Any] | None] | None = None) -> list[Decision | InputError]:
    """:func:`decide_one` per user (vectorised for A/B and bandits); unusable attributes give
    that user's ``InputError``."""
    attrs = list(attributes) if attributes is not None else [None] * len(user_ids)
    if running.experiment.contextual is None:
        shares = running.shares
        return [v if isinstance(v, InputError) else Decision(v, float(shares[v])) if v >= 0 else NOT_IN
                for v in evaluate_each(running, user_ids, attrs)]
    out: list[Decision | InputError] = []
    for u, a in zip(user_ids, attrs):
        try:
            out.append(decide_one(running, u, a))
        except InputError as exc:
            out.append(exc)
    return out


def evaluate(
    running: Running,
    user_ids: Sequence[str],
    attributes: Sequence[Mapping[str, Any] | None] | None = None,
) -> np.ndarray:
    """Variant index per user (-1: not in the experiment).

    Raises ``InputError`` only when a single user's attributes cannot be compared with
    the experiment's targeting rules (a batch with one such user is retried one by one
    by :func:`evaluate_each`).
    """
    attrs = list(attributes) if attributes is not None else [None] * len(user_ids)
    if len(attrs) != len(user_ids):
        raise InputError("attributes", f"{len(attrs)} entries", f"{len(user_ids)}, one per user")
    return _evaluate(running, user_ids, attrs)


def evaluate_each(
    running: Running,
    user_ids: Sequence[str],
    attributes: Sequence[Mapping[str, Any] | None] | None = None,
) -> list[int | InputError]:
    """Like :func:`evaluate`, but a user whose attributes are unusable gets its own error."""
    attrs = list(attributes) if attributes is not None else [None] * len(user_ids)
    try:
        return [int(v) for v in evaluate(running, user_ids, attrs)]
    except InputError:
        pass
    out: list[int | InputError] = []
    for u, a in zip(user_ids, attrs):
        try:
            out.append(int(_evaluate(running, [u], [a])[0]))
        except InputError as exc:
            out.append(exc)
    return out
