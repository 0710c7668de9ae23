"""Deploy a targeting policy as a ``contextual`` experiment with a randomised holdout.

Learn on experiment A (``promolab uplift``), deploy with measurement in experiment B: B
has A's variants, metrics and economics, ``kind = "contextual"`` and the ``targeting``
policy, whose served scores are the policy's. With offer weights w_k, threshold t and the
control scored 0, the served greedy choice argmax(0, w_1·φ − t, …) is the policy's choice
"the best offer if its score exceeds t, else the control": each offer's intercept is
lowered by t. A ``holdout`` share of users is assigned by A's split instead, so B's report
measures the policy against randomisation (``analysis.contextual``), and ``floor`` keeps
every variant's probability at least that high for later off-policy evaluation.
"""

from __future__ import annotations

from typing import Any

from promolab.errors import InputError
from promolab.spec import Experiment, experiment_from_dict, experiment_to_dict
from promolab.spec.load import TARGETING_POLICY
from promolab.uplift.policy_file import TargetingPolicy


def _variant_keys(policy: TargetingPolicy, like: Experiment) -> list[str]:
    """Each policy action's variant of ``like``, matched by key or by name; the control first."""
    by_label = {**{v.name: v.key for v in like.variants}, **{v.key: v.key for v in like.variants}}
    keys = []
    for i, action in enumerate(policy.actions):
        if action not in by_label:
            raise InputError(f"policy.actions[{i}]", action,
                             f"a variant key or name of {like.key}: " + ", ".join(like.variant_keys))
        keys.append(by_label[action])
    if keys[0] != like.control:
        raise InputError("policy.actions[0]", policy.actions[0], f"{like.key}'s control ({like.control})")
    if sorted(keys) != sorted(like.variant_keys):
        raise InputError("policy.actions", list(policy.actions), "every variant of " + like.key + " once: "
                         + ", ".join(like.variant_keys))
    return keys


def _reward(like: Experiment) -> str:
    """The economics' revenue metric when the spec has one (what the policy's margin is made of), else the primary."""
    revenue = like.economics.revenue if like.economics else None
    return revenue if revenue in {m.key for m in like.metrics} else like.primary_metric.key


def targeting_experiment(policy: TargetingPolicy, like: Experiment, *, key: str, name: str | None = None,
                         holdout: float = 0.1, floor: float = 0.0, reward: str | None = None) -> Experiment:
    """The spec of experiment ``key`` serving ``policy`` over ``like``'s variants (validated as
    any spec is: errors name ``contextual.holdout``, ``contextual.floor``, …). ``reward``: the
    metric B's read-out compares (default ``like``'s revenue metric, else its primary one)."""
    keys = _variant_keys(policy, like)
    scores = {k: [float(w[0] - policy.threshold), *map(float, w[1:])] for k, w in zip(keys[1:], policy.weights)}
    doc: dict[str, Any] = experiment_to_dict(like)
    doc.pop("bandit", None)
    doc.pop("salt", None)
    doc.update(
        key=key, name=name or f"{like.name}: targeted", kind="contextual",
        hypothesis=f"Targeting each customer with the offer predicted to pay most ({policy.reward}) beats "
                   f"{like.name}'s randomised split.",
        contextual={"policy": TARGETING_POLICY, "reward": reward or _reward(like),
                    "features": policy.features.to_dicts(), "params": {"scores": scores},
                    "holdout": holdout, "floor": floor})
    return experiment_from_dict(doc, source=f"policy over {like.key}")
