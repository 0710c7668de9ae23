"""The launch form's logic, free of Streamlit: form values → spec dict → validated
``Experiment`` (``promolab.spec.experiment_from_dict``), with every problem keyed by the
spec field it names, so the page can show it next to the widget."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from typing import Any

from promolab.errors import InputError, SpecError
from promolab.spec import Experiment, experiment_from_dict

PAYLOAD_EXPECTED = 'a table such as {discount_pct = 10} or {"discount_pct": 10}'


def parse_payload(text: str) -> dict[str, Any]:
    """A variant payload typed as JSON or as a TOML inline table / key = value lines."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = tomllib.loads(f"payload = {text}")["payload"] if text.startswith("{") else tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(str(exc)) from None
    if not isinstance(value, dict):
        raise ValueError("not a table")
    return value


@dataclass
class FormResult:
    spec: dict[str, Any]
    experiment: Experiment | None
    errors: dict[str, str] = field(default_factory=dict)  # spec field → message
    metric_fields: list[str] = field(default_factory=list)  # form metric row i → "metrics[j]" / "guardrails[j]"

    @property
    def ok(self) -> bool:
        return self.experiment is not None and not self.errors

    def row_errors(self, prefix: str) -> dict[str, str]:
        """Errors whose field starts with ``prefix`` (e.g. ``variants[1].``), keyed by the rest."""
        return {f[len(prefix):]: m for f, m in self.errors.items() if f.startswith(prefix)}


def message(error: InputError) -> str:
    return f"{error.field}: got {error.value!r}, expected {error.expected}"


def build(values: dict[str, Any]) -> FormResult:
    """Form values → spec dict → Experiment; ``values`` holds the widgets' values:

    key, name, owner, hypothesis, kind, traffic_percent, control, variants (list of dicts
    with key, name, weight, payload text), metrics (list of dicts with key, name, kind, event,
    aggregate, direction, numerator, denominator, guardrail), analysis (dict), bandit (dict).
    """
    errors: dict[str, str] = {}
    variants = []
    for i, v in enumerate(values.get("variants", [])):
        try:
            payload = parse_payload(v.get("payload", ""))
        except ValueError:
            errors[f"variants[{i}].payload"] = (f"variants[{i}].payload: got {v.get('payload')!r}, "
                                                f"expected {PAYLOAD_EXPECTED}")
            payload = {}
        variants.append({"key": v.get("key", ""), "name": v.get("name") or v.get("key", ""),
                         "weight": v.get("weight", 1.0), "payload": payload})
    metrics, guardrails, metric_fields = [], [], []
    for m in values.get("metrics", []):
        item: dict[str, Any] = {"key": m.get("key", ""), "kind": m.get("kind", "binomial"),
                                "direction": m.get("direction", "increase")}
        if m.get("name"):
            item["name"] = m["name"]
        if item["kind"] == "ratio":
            item["numerator"], item["denominator"] = m.get("numerator") or None, m.get("denominator") or None
        else:
            item["event"] = m.get("event") or None
            item["aggregate"] = m.get("aggregate", "sum")
        target = guardrails if m.get("guardrail") else metrics
        metric_fields.append(f"{'guardrails' if m.get('guardrail') else 'metrics'}[{len(target)}]")
        target.append({k: v for k, v in item.items() if v is not None})
    spec: dict[str, Any] = {
        "key": values.get("key", ""), "name": values.get("name", ""), "hypothesis": values.get("hypothesis") or None,
        "owner": values.get("owner", ""), "kind": values.get("kind", "ab"), "control": values.get("control"),
        "traffic_percent": values.get("traffic_percent", 100), "variants": variants, "metrics": metrics,
    }
    if spec["hypothesis"] is None:
        del spec["hypothesis"]
    if guardrails:
        spec["guardrails"] = guardrails
    analysis = {k: v for k, v in (values.get("analysis") or {}).items() if v is not None}
    if analysis:
        spec["analysis"] = analysis
    if spec["kind"] == "bandit":
        spec["bandit"] = dict(values.get("bandit") or {})
    experiment = None
    try:
        experiment = experiment_from_dict(spec, source=None)
    except SpecError as exc:
        for problem in exc.problems:
            errors.setdefault(problem.field, message(problem))
    except InputError as exc:
        errors.setdefault(exc.field, message(exc))
    return FormResult(spec, None if errors else experiment, errors, metric_fields)


def days_needed(n_per_variant: int, weights: list[float], daily_users: float, traffic_percent: float) -> int | None:
    """Days until the smallest arm has ``n_per_variant`` users, at ``daily_users`` eligible users
    a day of which ``traffic_percent`` enter the test, split by ``weights``.

    With equal weights this is ``promolab power --daily-users`` (n_total / users a day in the test).
    """
    total = sum(weights)
    if daily_users <= 0 or traffic_percent <= 0 or total <= 0 or not weights:
        return None
    smallest = min(weights) / total
    per_day = daily_users * traffic_percent / 100.0 * smallest
    return math.ceil(n_per_variant / per_day - 1e-9)
