"""Sequential read-outs in reports: GST boundaries against the published Lan-DeMets table,
mSPRT against its closed form (Johari, Pekelis & Walsh 2017) computed here independently."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.optimize import brentq

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.sequential import SequentialPlan
from promolab.errors import InputError
from promolab.spec import parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

# Lan-DeMets O'Brien-Fleming-type, K = 5, two-sided α = 0.05 (R ldbounds / gsDesign; REFERENCE-VALUES.md)
LD_OBF_5 = (4.877, 3.357, 2.680, 2.290, 2.031)
ARGS = ("segment", "No E-Mail", ["visit:binomial", "spend:mean"])


@pytest.mark.parametrize("look", [1, 2, 3, 4, 5])
def test_gst_boundary_at_each_planned_look_matches_published(hillstrom_csv, look: int) -> None:
    plan = SequentialPlan("gst", looks=5, information_fraction=look / 5)
    report = analyze_table(hillstrom_csv, *ARGS, sequential=plan, correction="none")
    for metric in report.metrics:
        for v in metric.variants:
            if v.lift is None:
                continue
            seq = v.lift.sequential
            assert seq.look == look
            assert seq.boundary == pytest.approx(LD_OBF_5[look - 1], abs=1e-3)
            assert seq.crossed == (abs(seq.z) >= seq.boundary)
            assert v.lift.significant == seq.crossed


def test_gst_decision_differs_from_fixed_horizon_early(hillstrom_csv) -> None:
    """Womens spend: p ≈ 0.001 (fixed horizon significant) but |z| ≈ 3.26 < 3.357 at look 2."""
    early = analyze_table(hillstrom_csv, *ARGS, sequential=SequentialPlan("gst", 5, 0.4))
    lift = early.metric("spend").variant("Womens E-Mail").lift
    assert lift.p_value < 0.05
    assert not lift.significant and lift.p_value_adjusted >= 0.05


def _closed_form_msprt(d: float, v: float, alpha: float = 0.05) -> tuple[float, float]:
    c = 2 * math.log(1 / alpha)
    r = brentq(lambda r: r - c - math.log1p(r), c, 100)
    tau2 = r * v
    lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * d * d / (2 * v * (v + tau2)))
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return min(1.0, 1 / lam), half


def test_msprt_matches_closed_form(hillstrom_csv, hillstrom) -> None:
    report = analyze_table(hillstrom_csv, *ARGS, sequential=SequentialPlan("msprt"))
    t = hillstrom.loc[hillstrom.segment == "Womens E-Mail", "spend"]
    c = hillstrom.loc[hillstrom.segment == "No E-Mail", "spend"]
    d = t.mean() - c.mean()
    v = t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)
    p, half = _closed_form_msprt(d, v)
    seq = report.metric("spend").variant("Womens E-Mail").lift.sequential
    assert seq.always_valid_p_value == pytest.approx(p, rel=1e-6)
    assert seq.always_valid_ci_low == pytest.approx(d - half, rel=1e-6)
    assert seq.always_valid_ci_high == pytest.approx(d + half, rel=1e-6)
    assert seq.always_valid_p_value > report.metric("spend").variant("Womens E-Mail").lift.p_value


def test_json_contract_carries_sequential_fields(hillstrom_csv) -> None:
    data = analyze_table(hillstrom_csv, *ARGS, sequential=SequentialPlan("gst", 3, 1.0)).to_dict()
    lift = data["metrics"][0]["variants"][1]["lift"]
    assert {"boundary", "crossed", "always_valid_p_value", "always_valid_ci_low",
            "always_valid_ci_high"} <= set(lift["sequential"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"method": "bayes"}, "plan.sequential"), ({"method": "gst"}, "plan.looks"),
     ({"method": "msprt", "information_fraction": 1.5}, "plan.information_fraction")],
)
def test_bad_plan(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as info:
        SequentialPlan(**kwargs)
    assert info.value.field == field


SPEC = """
key = "seq-test"
name = "Sequential test"
owner = "me"
control = "a"
[analysis]
sequential = "gst"
looks = 4
target_users = 8000
[[variants]]
key = "a"
[[variants]]
key = "b"
[[metrics]]
key = "conv"
kind = "binomial"
event = "order"
"""


def test_registry_report_uses_observed_information_fraction(tmp_path) -> None:
    reg = Registry.open(tmp_path / "seq.duckdb")
    exp = parse_experiment(SPEC)
    reg.create_experiment(exp)
    reg.set_status(exp.key, "running")
    users = [f"u{i}" for i in range(3000)]
    reg.record_exposures(exp.key, exposures_batch(pd.DataFrame(
        {"user_id": users, "variant": ["a", "b"] * 1500, "ts": "2024-01-01"})))
    buyers = [u for i, u in enumerate(users) if i % 7 == 0 or (i % 2 and i % 5 == 0)]
    reg.ingest_events(events_batch(pd.DataFrame(
        {"event_id": buyers, "user_id": buyers, "event": "order", "value": 1.0, "ts": "2024-01-02"})))
    report = analyze_experiment(reg, exp.key)
    seq = report.metric("conv").variant("b").lift.sequential
    assert seq.information_fraction == pytest.approx(3000 / 8000)
    assert seq.look == 2  # ⌈0.375 · 4⌉
    assert any("information fraction 0.375" in note for note in report.notes)
    reg.set_status(exp.key, "stopped")
    final = analyze_experiment(reg, exp.key).metric("conv").variant("b").lift.sequential
    assert final.information_fraction == 1.0 and final.look == 4
    reg.close()
