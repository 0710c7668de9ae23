"""Plain words for what the library calls by key: variant names from the spec, segment values,
promotion costs, and the statistical terms a marketer meets on the pages.

Every page shows the spec's names ("Mens E-Mail"), never the keys ("mens-email") a spec uses
to refer to them; keys stay in reproduce commands and downloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promolab.spec import Experiment

CORRECTIONS = {
    "holm": "Holm correction (keeps the chance of any false win across all comparisons at α)",
    "bh": "Benjamini-Hochberg correction (keeps the expected share of false wins among wins at α)",
    "none": "no correction for multiple comparisons",
}
POLICIES = {"thompson": "Thompson sampling", "top-two-thompson": "top-two Thompson sampling",
            "ucb1": "UCB1 (upper confidence bound)", "kl-ucb": "KL-UCB (upper confidence bound)",
            "epsilon-greedy": "ε-greedy", "linucb": "LinUCB (contextual)", "lin-ts": "linear Thompson sampling (contextual)",
            "logistic-ts": "logistic Thompson sampling (contextual)"}
COSTS = {"discount_pct": "{x:g} % off the order", "shipping_cost": "${x:,.2f} shipping paid per order",
         "coupon_value": "${x:,.2f} coupon per order", "per_user": "${x:,.2f} per user sent the offer"}
YES_NO = {"0": "no", "1": "yes", "0.0": "no", "1.0": "yes", "false": "no", "true": "yes"}


def variant_names(experiment: Experiment) -> dict[str, str]:
    """Variant key → the spec's name (the key where the spec gives none)."""
    return {v.key: v.name or v.key for v in experiment.variants}


def named(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` (a report's JSON) with every variant key, as a dict key or a whole string,
    replaced by its name: the views below then show names without knowing about them."""
    if isinstance(value, dict):
        return {names.get(k, k) if isinstance(k, str) else k: named(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [named(v, names) for v in value]
    if isinstance(value, str):
        return names.get(value, value)
    return value


def money_metrics(experiment: Experiment) -> set[str]:
    """Metrics in dollars: the spec's ``[economics] revenue`` metric and any labelled '($)'."""
    revenue = experiment.economics.revenue if experiment.economics else None
    return {m.key for m in experiment.metrics + experiment.guardrails
            if m.key == revenue or m.label.endswith("($)")}


def in_dollars(data: dict[str, Any], money: set[str]) -> dict[str, Any]:
    """A report's JSON with the kind of every money metric (in ``metrics`` and in each segment)
    shown as ``"money"``, so the views format its means and lifts in $."""
    def mark(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**m, "kind": "money"} if m["name"] in money and m["kind"] == "mean" else m for m in metrics]

    out = {**data, "metrics": mark(data["metrics"])}
    out["segments"] = [{**d, "segments": [{**s, "metrics": mark(s["metrics"])} for s in d["segments"]]}
                       for d in data.get("segments") or []]
    return out


def correction(method: str) -> str:
    """'holm' → 'Holm correction (…)'."""
    return CORRECTIONS.get(method, f"{method} correction")


def policy(name: str) -> str:
    """'thompson' → 'Thompson sampling'."""
    return POLICIES.get(name, name)


def cost(terms: Mapping[str, float] | None) -> str:
    """{'per_user': 0.01} → '$0.01 per user sent the offer'; no terms → 'none'."""
    if not terms:
        return "none"
    return ", ".join(COSTS[k].format(x=x) if k in COSTS else f"{k} {x:g}" for k, x in terms.items())


def segment_value(column: str, value: Any) -> str:
    """A segment as people say it: 0/1 flags become '<column>: no' / '<column>: yes', bare
    numbers '<column> = 3'; words stay as they are ('Web')."""
    text = str(value)
    if text.lower() in YES_NO:
        return f"{column}: {YES_NO[text.lower()]}"
    try:
        float(text)
    except ValueError:
        return text
    return f"{column} = {text}"
