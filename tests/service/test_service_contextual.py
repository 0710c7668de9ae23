"""Contextual experiments over HTTP: assignment from the user's attributes, propensities and
contexts logged with every exposure, model updates served at once, the local-evaluation
client deciding exactly as the service does, and bad contexts refused with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from promolab.adaptive.contextual import logged_decisions, update_model
from promolab.adaptive.served import ServedModel, floored
from promolab.client import PromolabClient
from promolab.errors import InputError, SpecError
from promolab.service import create_app
from promolab.spec import experiment_from_dict
from promolab.spec.encoding import encode_one
from promolab.store import Registry
from promolab.store.keys import create_key

FEATURES = [
    {"name": "recency", "kind": "numeric", "center": 6.0, "scale": 3.5},
    {"name": "channel", "kind": "categorical", "categories": ["Phone", "Web", "Multichannel"]},
]
CONTEXTUAL = {
    "key": "email-offer", "name": "Which e-mail for whom", "owner": "crm", "kind": "contextual",
    "control": "none",
    "contextual": {"policy": "lin-ts", "reward": "visit", "holdout": 0.2, "floor": 0.05, "burn_in": 50,
                   "features": FEATURES, "params": {"v": 0.5}},
    "variants": [{"key": "none", "name": "No e-mail", "weight": 1}, {"key": "mens", "name": "Mens", "weight": 1},
                 {"key": "womens", "name": "Womens", "weight": 1}],
    "metrics": [{"key": "visit", "kind": "binomial", "event": "visit"}],
}
CHANNELS = ("Phone", "Web", "Multichannel")


def attributes(i: int) -> dict:
    return {"recency": 1 + i % 12, "channel": CHANNELS[i % 3], "country": "UK"}


@pytest.fixture
def served(tmp_path: Path):
    path = tmp_path / "ctx.duckdb"
    reg = Registry.open(path)
    keys = {"admin": create_key(reg, "admin", "a")[0], "sdk": create_key(reg, "sdk", "s")[0]}
    reg.create_experiment(experiment_from_dict(CONTEXTUAL))
    reg.set_status("email-offer", "running")
    reg.close()
    with TestClient(create_app(path)) as client:
        yield client, keys, path


def _assign(client, keys, user: str, attrs: dict | None, **extra):
    return client.post("/v1/assign", json={"user_id": user, "attributes": attrs, "experiment": "email-offer",
                                           **extra}, headers={"Authorization": f"Bearer {keys['sdk']}"})


def test_contextual_assignment_logs_propensity_and_context_and_learns(served) -> None:
    client, keys, path = served
    auth = {"Authorization": f"Bearer {keys['sdk']}"}
    first = {}
    for i in range(300):
        r = _assign(client, keys, f"u{i}", attributes(i))
        assert r.status_code == 200, r.text
        first[f"u{i}"] = r.json()["assignments"][0]["variant"]
    # the same user keeps the variant, whatever the attributes say now
    assert _assign(client, keys, "u7", attributes(8)).json()["assignments"][0]["variant"] == first["u7"]
    # visits: users on the Web visit when e-mailed the womens offer
    events = [{"type": "conversion", "event_id": f"v{i}", "user_id": f"u{i}", "name": "visit"}
              for i in range(300) if first[f"u{i}"] == "womens" and i % 3 == 1]
    assert client.post("/v1/events", json={"source": "web", "events": events}, headers=auth).status_code == 200
    client.app.state.service.writer.flush()

    reg = Registry.open(path, read_only=True)
    try:
        rows = reg.query("SELECT user_id, variant_key, propensity, context_json FROM exposures")
        # before any model: the configured split (1/3 each) is the propensity
        assert len(rows) == 300 and np.allclose(rows.propensity, 1 / 3)
        assert json.loads(rows.context_json[0]).keys() == {"recency", "channel"}  # the features only
    finally:
        reg.close()

    reg = Registry.open(path)
    try:
        update = update_model(reg, "email-offer", at=None)
        assert update.version == 1 and update.users == 300
        decisions = logged_decisions(reg, "email-offer")
        assert decisions.X.shape == (300, 5) and decisions.rewards.sum() == len(events)
    finally:
        reg.close()
    client.app.state.service.refresh()
    running = client.app.state.service.catalog.by_key["email-offer"]
    assert running.model is not None and running.model.kind == "thompson"
    # a new user's propensity is the model's: holdout × 1/3 + (1 − holdout) × floored π(·|x)
    r = _assign(client, keys, "new-web-user", attributes(1))
    variant = r.json()["assignments"][0]["variant"]
    client.app.state.service.writer.flush()
    reg = Registry.open(path, read_only=True)
    try:
        p = reg.query("SELECT propensity FROM exposures WHERE user_id = 'new-web-user'").propensity[0]
    finally:
        reg.close()
    phi = encode_one(running.experiment.contextual.features, attributes(1))
    policy = floored(running.model.probabilities(phi), 0.05)
    index = running.experiment.variant_keys.index(variant)
    assert p == pytest.approx(0.2 / 3 + 0.8 * policy[index], abs=1e-12)
    assert policy[2] > 0.5  # it learnt: Web users get the womens offer


def test_bad_contexts_are_refused_with_the_field(served) -> None:
    client, keys, _ = served
    r = _assign(client, keys, "x", {"channel": "Web"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "attributes.recency"
    r = _assign(client, keys, "x", {"recency": 3, "channel": "Carrier pigeon"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "attributes.channel" and "Phone, Web, Multichannel" in r.text
    r = _assign(client, keys, "x", {"recency": "soon", "channel": "Web"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "attributes.recency"


def test_assigning_every_experiment_leaves_out_one_the_attributes_cannot_serve(served) -> None:
    client, keys, _ = served
    auth = {"Authorization": f"Bearer {keys['sdk']}"}
    r = client.post("/v1/assign", json={"user_id": "y", "attributes": {"channel": "Web"}}, headers=auth)
    assert r.status_code == 200 and r.json()["assignments"] == []
    r = client.post("/v1/assign", json={"user_id": "y", "attributes": attributes(3)}, headers=auth)
    assert [a["experiment"] for a in r.json()["assignments"]] == ["email-offer"]
    sdk = PromolabClient("http://testserver", keys["sdk"], http=client, track_exposures=False)
    try:
        assert sdk.assign("z", {"channel": "Web"}) == {}
        with pytest.raises(InputError, match="recency"):
            sdk.assign("z", {"channel": "Web"}, experiment="email-offer")
    finally:
        sdk.close()


def test_local_evaluation_decides_and_logs_as_the_service(served) -> None:
    client, keys, path = served
    model = ServedModel("thompson", np.array([[0.0] * 5, [0.1, 0.2, 0, 0, 0], [0.0, -0.1, 0.3, 0, 0]]),
                        np.stack([np.eye(5) * 0.01] * 3))
    reg = Registry.open(path)
    try:
        reg.record_model("email-offer", "lin-ts", 0, model.to_json(), reason="test")
    finally:
        reg.close()
    client.app.state.service.refresh()
    sdk = PromolabClient("http://testserver", keys["sdk"], http=client, track_exposures=False)
    try:
        for i in range(60):
            want = _assign(client, keys, f"c{i}", attributes(i), track=False).json()["assignments"][0]["variant"]
            assert sdk.variant("email-offer", f"c{i}", attributes(i)) == want
        with pytest.raises(InputError, match="context.channel"):
            sdk.variant("email-offer", "c-bad", {"recency": 2, "channel": "Fax"})
    finally:
        sdk.close()


def test_contextual_specs_are_validated() -> None:
    bad = json.loads(json.dumps(CONTEXTUAL))
    bad["contextual"]["features"][1]["categories"] = ["Web", "Web"]
    bad["contextual"]["holdout"] = 1.5
    bad["contextual"]["policy"] = "oracle"
    with pytest.raises(SpecError) as info:
        experiment_from_dict(bad)
    text = str(info.value)
    assert "contextual.features.channel.categories" in text and "contextual.holdout" in text
    assert "contextual.policy" in text
    targeting = json.loads(json.dumps(CONTEXTUAL))
    targeting["contextual"] = {"policy": "targeting", "features": FEATURES,
                               "params": {"scores": {"mens": [0.1] * 5, "womens": [0.2] * 4}}}
    with pytest.raises(SpecError, match="contextual.params.scores.womens"):
        experiment_from_dict(targeting)


def test_the_schedule_refits_contextual_models(served) -> None:
    from promolab.service.scheduler import update_all

    client, keys, path = served
    for i in range(60):
        assert _assign(client, keys, f"s{i}", attributes(i)).status_code == 200
    state = client.app.state.service
    state.writer.flush()
    update_all(state)
    running = state.catalog.by_key["email-offer"]
    assert running.model is not None
    update_all(state, skip_within=3600)  # updated just now: skipped
    assert len(state.registry.model_history("email-offer")) == 1


def test_the_report_reads_out_policy_vs_holdout_and_ips_means(served) -> None:
    from promolab.analysis import analyze_experiment
    from promolab.analysis.contextual import in_holdout
    from promolab.stats import WeightedStats, proportion_test, snips_mean

    client, keys, path = served
    auth = {"Authorization": f"Bearer {keys['sdk']}"}
    got = {}
    for i in range(400):
        got[f"r{i}"] = _assign(client, keys, f"r{i}", attributes(i)).json()["assignments"][0]["variant"]
    visits = [{"type": "conversion", "event_id": f"rv{i}", "user_id": f"r{i}", "name": "visit"}
              for i in range(400) if (got[f"r{i}"] != "none") and i % 2]
    assert client.post("/v1/events", json={"source": "web", "events": visits}, headers=auth).status_code == 200
    client.app.state.service.writer.flush()
    reg = Registry.open(path, read_only=True)
    try:
        report = analyze_experiment(reg, "email-offer")
        experiment = reg.get_experiment("email-offer")
    finally:
        reg.close()
    c = report.contextual
    users = sorted(got)
    holdout = in_holdout(experiment, users)
    assert 0.1 < holdout.mean() < 0.3 and c.holdout_users == holdout.sum() and c.policy_users == 400 - holdout.sum()
    visited = {v["user_id"] for v in visits}
    r = np.array([u in visited for u in users], dtype=float)
    from promolab.stats import MeanStats
    expect = proportion_test(MeanStats(int(holdout.sum()), r[holdout].sum(), r[holdout].sum()),
                             MeanStats(int((~holdout).sum()), r[~holdout].sum(), r[~holdout].sum()), 0.05)
    assert c.policy_vs_holdout == expect
    mens = np.array([got[u] == "mens" for u in users])
    assert c.variants["mens"] == snips_mean(WeightedStats.of(r[mens], np.full(mens.sum(), 1 / 3)))
    assert "contextual" in report.to_dict() and any("contextual experiment" in n for n in report.notes)


def test_cli_updates_and_lists_contextual_models(served) -> None:
    from typer.testing import CliRunner

    from promolab.cli import app

    client, keys, path = served
    for i in range(60):
        assert _assign(client, keys, f"k{i}", attributes(i)).status_code == 200
    client.app.state.service.writer.flush()
    runner = CliRunner()
    out = runner.invoke(app, ["bandit", "update", "email-offer", "--db", str(path), "--json"])
    assert out.exit_code == 0, out.output
    update = json.loads(out.stdout)
    assert update["version"] == 1 and update["users"] == 60 and update["policy"] == "lin-ts"
    out = runner.invoke(app, ["bandit", "weights", "email-offer", "--db", str(path), "--json"])
    assert [m["version"] for m in json.loads(out.stdout)] == [1]
    out = runner.invoke(app, ["bandit", "weights", "email-offer", "--db", str(path)])
    assert out.exit_code == 0 and "lin-ts on visit (60 users)" in out.stdout
