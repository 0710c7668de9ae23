"""Bandit experiments in the registry: validated specs, weight updates with history,
sticky assignment, and period-stratified reports checked against pandas."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

import promolab.cli  # noqa: F401
from promolab.adaptive import sticky_assign, update_weights
from promolab.analysis import analyze_experiment
from promolab.cli.app import app
from promolab.errors import InputError, SpecError, StateError
from promolab.spec import load_experiment, parse_experiment
from promolab.store import Registry, events_batch

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "experiments" / "coupon-bandit.toml"
T0 = datetime(2024, 6, 3)


@pytest.fixture
def registry(tmp_path: Path):
    reg = Registry.open(tmp_path / "bandit.duckdb")
    spec = load_experiment(SPEC_PATH)
    reg.create_experiment(spec)
    reg.set_status(spec.key, "running")
    yield reg
    reg.close()


def _orders(reg: Registry, users: list[str], variants: tuple, rates: dict, rng, day: int) -> None:
    buy = [u for u, v in zip(users, variants) if rng.random() < rates[v]]
    if buy:
        reg.ingest_events(events_batch(pd.DataFrame({
            "event_id": [f"{u}-o" for u in buy], "user_id": buy, "event": "order", "value": 50.0,
            "ts": (T0 + timedelta(days=day, hours=12)).isoformat()})))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [('policy = "thompson"', 'policy = "softmax"', "bandit.policy"),
     ('floor = 0.05', 'floor = 0.4', "bandit.floor"),
     ('reward = "conversion"', 'reward = "aov"', "bandit.reward"),
     ('burn_in = 200', 'burn_in = -3', "bandit.burn_in")],
)
def test_bad_bandit_specs(old: str, new: str, field: str) -> None:
    text = SPEC_PATH.read_text().replace(old, new)
    with pytest.raises(SpecError) as info:
        parse_experiment(text, source="b.toml")
    assert field in [p.field for p in info.value.problems]


def test_kl_ucb_needs_a_binomial_reward() -> None:
    text = SPEC_PATH.read_text().replace('policy = "thompson"', 'policy = "kl-ucb"').replace(
        'reward = "conversion"', 'reward = "revenue"').replace("params = { draws = 20000 }", "")
    with pytest.raises(SpecError, match="bandit.reward: got 'revenue', expected a binomial metric"):
        parse_experiment(text)


def test_burn_in_keeps_configured_split_then_policy_moves_traffic(registry: Registry) -> None:
    rng = np.random.default_rng(0)
    rates = {"no-coupon": 0.02, "pct10": 0.03, "pct20": 0.12, "free-shipping": 0.02}
    first = [f"a{i}" for i in range(400)]
    got = sticky_assign(registry, "coupon-bandit", first, at=T0)
    _orders(registry, first, got.variants, rates, rng, 0)
    burn = update_weights(registry, "coupon-bandit", at=T0 + timedelta(hours=23))
    assert burn.weights == pytest.approx(dict.fromkeys(rates, 0.25)) and "burn-in" in burn.reason
    more = [f"b{i}" for i in range(2400)]
    got = sticky_assign(registry, "coupon-bandit", more, at=T0 + timedelta(days=1))
    _orders(registry, more, got.variants, rates, rng, 1)
    upd = update_weights(registry, "coupon-bandit", at=T0 + timedelta(days=1, hours=23))
    assert max(upd.weights, key=upd.weights.get) == "pct20"
    assert min(upd.weights.values()) >= 0.05 - 1e-12  # the exploration floor
    assert sum(upd.weights.values()) == pytest.approx(1.0)
    history = registry.weight_history("coupon-bandit")
    assert len(history) == 8 and history.updated_at.nunique() == 2


def test_assignment_is_sticky_and_new_users_follow_current_weights(registry: Registry) -> None:
    old = [f"u{i}" for i in range(3000)]
    before = sticky_assign(registry, "coupon-bandit", old, at=T0)
    weights = {"no-coupon": 0.1, "pct10": 0.1, "pct20": 0.7, "free-shipping": 0.1}
    registry.record_weights("coupon-bandit", weights, "thompson", at=T0 + timedelta(hours=1))
    again = sticky_assign(registry, "coupon-bandit", old, at=T0 + timedelta(hours=2))
    assert again.variants == before.variants and again.new == 0
    new = [f"n{i}" for i in range(6000)]
    fresh = sticky_assign(registry, "coupon-bandit", new, at=T0 + timedelta(hours=2))
    counts = pd.Series(fresh.variants).value_counts()
    keys = list(weights)
    p = sps.chisquare([counts[k] for k in keys], [weights[k] * 6000 for k in keys]).pvalue
    assert p > 1e-3
    assert registry.query("SELECT COUNT(*) AS n FROM exposures").n[0] == 9000
    # each exposure stores the share its variant had when the user was assigned (for off-policy evaluation)
    logged = registry.query("SELECT user_id, variant_key, propensity FROM exposures")
    late = logged[logged.user_id.str.startswith("n")]
    assert np.allclose(late.propensity, late.variant_key.map(weights))
    early = logged[logged.user_id.str.startswith("u")]
    assert np.allclose(early.propensity, 0.25)


def test_update_refuses_wrong_experiments(registry: Registry, tmp_path: Path) -> None:
    registry.set_status("coupon-bandit", "paused")
    with pytest.raises(StateError, match="paused"):
        update_weights(registry, "coupon-bandit")
    registry.create_experiment(load_experiment(ROOT / "experiments" / "checkout-coupon.toml"))
    with pytest.raises(InputError, match="a bandit experiment"):
        update_weights(registry, "checkout-coupon")


def test_report_is_period_stratified_and_matches_pandas(registry: Registry) -> None:
    """Conversion doubles on day 2 for everyone while traffic moves to pct20."""
    rng = np.random.default_rng(5)
    rows = []
    for day, boost in ((0, 1.0), (1, 2.0), (2, 2.0)):
        users = [f"d{day}-{i}" for i in range(3000)]
        got = sticky_assign(registry, "coupon-bandit", users, at=T0 + timedelta(days=day))
        rates = {k: r * boost for k, r in {"no-coupon": 0.03, "pct10": 0.03, "pct20": 0.05,
                                           "free-shipping": 0.03}.items()}
        _orders(registry, users, got.variants, rates, rng, day)
        rows += [{"user": u, "variant": v, "period": day} for u, v in zip(users, got.variants)]
        update_weights(registry, "coupon-bandit", at=T0 + timedelta(days=day, hours=23))
    frame = pd.DataFrame(rows)
    frame["y"] = frame.user.isin(set(registry.query("SELECT user_id FROM events").user_id)).astype(float)
    report = analyze_experiment(registry, "coupon-bandit")
    assert any("period-stratified" in n for n in report.notes)
    share = frame.groupby("period").size() / len(frame)
    cell = frame.groupby(["period", "variant"]).y.mean().unstack()
    expected = (cell.mul(share, axis=0)).sum()
    conv = report.metric("conversion")
    for v in conv.variants:
        assert v.mean == pytest.approx(expected[v.variant], rel=1e-9)
    lift = conv.variant("pct20").lift
    assert lift.absolute == pytest.approx(expected["pct20"] - expected["no-coupon"], rel=1e-9)
    assert lift.significant or lift.p_value < 0.2  # a real +2-4 pt lift at these sizes


def test_cli_update_and_weights(registry: Registry) -> None:
    sticky_assign(registry, "coupon-bandit", [f"c{i}" for i in range(100)], at=T0)
    runner = CliRunner()
    path = str(registry.path)
    out = runner.invoke(app, ["bandit", "update", "coupon-bandit", "--db", path, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["weights"]["pct20"] == pytest.approx(0.25)
    out = runner.invoke(app, ["bandit", "weights", "coupon-bandit", "--db", path, "--json"])
    assert len(json.loads(out.output)) == 4
    out = runner.invoke(app, ["bandit", "update", "nope", "--db", path])
    assert out.exit_code == 2 and "experiment: got 'nope'" in out.output


MARGIN_SPEC = SPEC_PATH.read_text().replace('reward = "conversion"', 'reward = "margin"').replace(
    "params = { draws = 20000 }",
    'params = { draws = 20000, prior = { model = "normal", mu = 0.0, kappa = 1.0, alpha = 1.0, beta = 20.0 } }'
).replace('payload = { discount_pct = 20 }', 'payload = { discount_pct = 20 }\ncost = { discount_pct = 20 }').replace(
    'payload = { discount_pct = 10 }', 'payload = { discount_pct = 10 }\ncost = { discount_pct = 10 }').replace(
    'key = "coupon-bandit"', 'key = "margin-bandit"') + '\n[economics]\nrevenue = "revenue"\nmargin_rate = 0.35\n'


def test_margin_reward_needs_prices_and_a_normal_model() -> None:
    bare = SPEC_PATH.read_text().replace('reward = "conversion"', 'reward = "margin"')
    with pytest.raises(SpecError, match="bandit.reward: got 'margin', expected variant costs"):
        parse_experiment(bare)
    beta = MARGIN_SPEC.replace(', prior = { model = "normal", mu = 0.0, kappa = 1.0, alpha = 1.0, beta = 20.0 }', "")
    with pytest.raises(SpecError, match="models 0/1 rewards"):
        parse_experiment(beta)


def test_margin_reward_is_the_per_user_margin_after_discount(tmp_path: Path) -> None:
    """Margin per user = 0.35·gross − discount, with gross = paid / (1 − d): checked by hand."""
    from promolab.adaptive.update import reward_stats

    reg = Registry.open(tmp_path / "margin.duckdb")
    spec = parse_experiment(MARGIN_SPEC)
    reg.create_experiment(spec)
    reg.set_status(spec.key, "running")
    users = [f"m{i}" for i in range(400)]
    got = sticky_assign(reg, spec.key, users, at=T0)
    paid = {u: 54.0 for u in users[::5]}
    reg.ingest_events(events_batch(pd.DataFrame({"event_id": list(paid), "user_id": list(paid), "event": "order",
                                                 "value": list(paid.values()), "ts": "2024-06-03T12:00:00"})))
    stats = reward_stats(reg, spec.key)
    discount = {"no-coupon": 0.0, "pct10": 0.10, "pct20": 0.20, "free-shipping": 0.0}
    for variant, s in stats.items():
        margins = [(0.35 * paid.get(u, 0.0) / (1 - discount[v]) - paid.get(u, 0.0) * (1 / (1 - discount[v]) - 1))
                   for u, v in zip(users, got.variants) if v == variant]
        assert s.n == len(margins)
        assert s.sum == pytest.approx(sum(margins), rel=1e-9)
        assert s.sum_sq == pytest.approx(sum(m * m for m in margins), rel=1e-9)
    reg.close()
