"""Experiment → plain dict / TOML, the inverse of ``experiment_from_dict``."""

from __future__ import annotations

from typing import Any

import tomli_w

from dataclasses import asdict

from promolab.spec.model import Experiment, FilterRules, Metric, Safety


def _metric_dict(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {"key": m.key, "kind": m.kind}
    if m.name:
        out["name"] = m.name
    if m.kind == "ratio":
        out["numerator"], out["denominator"] = m.numerator, m.denominator
    else:
        out["event"] = m.event
        out["aggregate"] = m.aggregate
    out["direction"] = m.direction
    if m.cap is not None:
        out["cap"] = m.cap
    if m.covariate is not None:
        out["covariate"] = m.covariate
    if m.margin is not None:
        out["margin"], out["margin_type"] = m.margin, m.margin_type
    if m.window_hours is not None:
        out["window_hours"] = m.window_hours
        if m.delay_hours:
            out["delay_hours"] = m.delay_hours
    return out


def _filtering_dict(f: FilterRules) -> dict[str, Any]:
    """Only the fields that differ from the defaults (None thresholds are rules left off)."""
    out: dict[str, Any] = {}
    for name, default in asdict(FilterRules()).items():
        value = getattr(f, name)
        if value != default and value is not None:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def experiment_to_dict(e: Experiment) -> dict[str, Any]:
    """A dict that ``experiment_from_dict`` turns back into an equal Experiment."""
    out: dict[str, Any] = {
        "key": e.key,
        "name": e.name,
        "owner": e.owner,
        "kind": e.kind,
        "control": e.control,
        "traffic_percent": round(e.coverage * 100.0, 10),
    }
    if e.hypothesis:
        out["hypothesis"] = e.hypothesis
    if e.salt:
        out["salt"] = e.salt
    if e.layer is not None:
        out["layer"] = {"key": e.layer.key, "start": e.layer.start, "end": e.layer.end}
    plan = {"alpha": e.plan.alpha, "correction": e.plan.correction, "spending": e.plan.spending,
            "srm_threshold": e.plan.srm_threshold}
    if e.plan.sequential:
        plan["sequential"] = e.plan.sequential
    if e.plan.looks is not None:
        plan["looks"] = e.plan.looks
    if e.plan.target_users is not None:
        plan["target_users"] = e.plan.target_users
    if e.plan.segments:
        plan["segments"] = list(e.plan.segments)
    out["analysis"] = plan
    if e.bandit is not None:
        b = e.bandit
        out["bandit"] = {"policy": b.policy, "reward": b.reward, "params": dict(b.params),
                         "update_period_seconds": b.update_period_seconds, "floor": b.floor, "burn_in": b.burn_in}
    if e.contextual is not None:
        c = e.contextual
        out["contextual"] = {"policy": c.policy, "reward": c.reward, "params": dict(c.params),
                             "update_period_seconds": c.update_period_seconds, "floor": c.floor,
                             "holdout": c.holdout, "burn_in": c.burn_in, "features": c.features.to_dicts()}
    out["variants"] = [
        {"key": v.key, "name": v.name, "weight": v.weight, "payload": dict(v.payload),
         **({"cost": dict(v.cost)} if v.cost else {})} for v in e.variants
    ]
    if e.filtering is not None:
        out["filtering"] = _filtering_dict(e.filtering)
    if e.economics is not None:
        out["economics"] = {k: v for k, v in asdict(e.economics).items() if v is not None}
    if e.safety != Safety():
        out["safety"] = {"auto_pause": e.safety.auto_pause, "guardrails": list(e.safety.guardrails)}
    out["metrics"] = [_metric_dict(m) for m in e.metrics]
    if e.guardrails:
        out["guardrails"] = [_metric_dict(m) for m in e.guardrails]
    if e.targeting:
        out["targeting"] = [{"attribute": r.attribute, "op": r.op, "value": r.value} for r in e.targeting]
    return out


def experiment_to_toml(e: Experiment) -> str:
    """The spec as TOML text, loadable with ``parse_experiment``."""
    return tomli_w.dumps(experiment_to_dict(e))
