"""Learn on registry experiment A, deploy with measurement in B: ``experiment_uplift`` reads
A's analysed users, attributes, weights and economics; ``targeting_experiment`` makes a
contextual spec whose served choices are the policy's; ``promolab deploy-policy`` writes or
registers it; B's allocation by segment and its policy-vs-holdout verdict read it out."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from uplift_synthetic import ARMS, FEATURES, synthetic

import promolab.cli.uplift  # noqa: F401  (registers the commands)
from promolab.adaptive.contextual import spec_model
from promolab.analysis.allocation import segment_allocation
from promolab.analysis.contextual import PolicyReadout, policy_verdict
from promolab.analysis.economics import EconomicsConfig
from promolab.cli import run
from promolab.errors import InputError
from promolab.jsonable import to_plain
from promolab.service.evaluate import Running, decide_each
from promolab.spec import experiment_from_dict, experiment_to_toml, parse_experiment
from promolab.stats import MeanStats, welch_test
from promolab.stats.srm import srm_test
from promolab.store import Registry, events_batch, exposures_batch
from promolab.uplift.deploy import targeting_experiment
from promolab.uplift.experiment import experiment_table, experiment_uplift
from promolab.uplift.report import analyze_uplift

SHIFT = 5.0  # event values are >= 0: y + 5 has the same effects
KEYS = {"control": "control", "A": "offer-a", "B": "offer-b"}
SPEC = {
    "key": "offers", "name": "Two offers", "owner": "tests", "kind": "ab", "control": "control",
    "variants": [{"key": KEYS[a], "name": f"Offer {a}", "weight": 1} for a in ARMS],
    "metrics": [{"key": "y", "name": "Spend", "kind": "mean", "event": "y"},
                {"key": "converted", "kind": "binomial", "event": "converted"}],
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    frame = synthetic(1800, seed=5)
    return frame.assign(user_id=[f"u{i:05d}" for i in range(len(frame))], arm=frame["arm"].map(KEYS))


@pytest.fixture(scope="module")
def registry(frame, tmp_path_factory) -> Registry:
    reg = Registry(tmp_path_factory.mktemp("deploy") / "reg.duckdb")
    reg.create_experiment(experiment_from_dict(SPEC))
    reg.set_status("offers", "running")
    reg.record_exposures("offers", exposures_batch(pd.DataFrame(
        {"user_id": frame["user_id"], "variant": frame["arm"], "ts": "2024-01-01T00:00:00"}), "t"))
    y = pd.DataFrame({"event_id": [f"y{i}" for i in range(len(frame))], "user_id": frame["user_id"], "event": "y",
                      "value": frame["y"] + SHIFT, "ts": "2024-01-02T00:00:00"})
    buyers = frame[frame["converted"] == 1]
    c = pd.DataFrame({"event_id": [f"c{i}" for i in buyers.index], "user_id": buyers["user_id"], "event": "converted",
                      "value": 1.0, "ts": "2024-01-02T00:00:00"})
    reg.ingest_events(events_batch(pd.concat([y, c], ignore_index=True), "t"))
    reg.set_attributes(frame[["user_id", *FEATURES]])
    return reg


def test_the_experiment_table_is_the_users_their_metrics_and_attributes(registry, frame):
    table = experiment_table(registry, "offers").set_index("user_id").loc[frame["user_id"]]
    assert table["variant"].tolist() == frame["arm"].tolist()
    np.testing.assert_allclose(table["y"], frame["y"] + SHIFT, rtol=1e-12)
    assert table["converted"].tolist() == frame["converted"].tolist()
    np.testing.assert_allclose(table["x1"], frame["x1"], rtol=1e-12)
    assert table["region"].tolist() == frame["region"].tolist()


def test_an_attribute_with_text_values_is_text_and_a_missing_one_nan(registry, frame, tmp_path):
    """``tier`` is a number for two users and a text for one: a text column, the numbers as
    Python writes them; users without it get NaN, and a number-only attribute stays float."""
    ids = frame["user_id"].tolist()
    for suffix in ("", ".wal"):  # a copy: the module's registry stays as it is
        if Path(f"{registry.path}{suffix}").exists():
            shutil.copy(f"{registry.path}{suffix}", tmp_path / f"copy.duckdb{suffix}")
    registry = Registry(tmp_path / "copy.duckdb")
    registry.set_attributes(pd.DataFrame({"user_id": ids[:2], "tier": [2.0, 0.1], "score": [1.5, 3.0]}))
    registry.set_attributes(pd.DataFrame({"user_id": ids[2:3], "tier": ["gold"]}))
    registry.set_attributes(pd.DataFrame({"user_id": ids[:1], "Tier": ["silver"], "User_ID": [7.0]}))
    table = experiment_table(registry, "offers").set_index("user_id")
    assert table.loc[ids[0], "Tier"] == "silver" and table.loc[ids[0], "User_ID"] == 7.0  # names differ only in case
    assert table.loc[ids[:3], "tier"].tolist() == [str(2.0), str(0.1), "gold"] and table["tier"].dtype == object
    assert table.loc[ids[3:], "tier"].isna().all() and table.loc[ids[2:], "score"].isna().all()
    assert table["score"].dtype == float and table.loc[ids[:2], "score"].tolist() == [1.5, 3.0]
    assert list(table.columns[-len(FEATURES) - 4:]) == sorted([*FEATURES, "tier", "score", "Tier", "User_ID"])


def test_experiment_uplift_is_analyze_uplift_on_that_table_with_the_spec_weights(registry):
    got = experiment_uplift(registry, "offers", outcomes=["y"], features=FEATURES, model="ridge", folds=3)
    table = experiment_table(registry, "offers")
    want = analyze_uplift(table, treatment="variant", control="control", outcomes=["y"], features=FEATURES,
                          economics=EconomicsConfig("y"), model="ridge", folds=3,
                          propensity={a: 1 / 3 for a in KEYS.values()})
    assert to_plain(got.to_dict()) == to_plain(want.to_dict())
    assert got.arms == ("control", "offer-a", "offer-b") and got.propensity == pytest.approx((1 / 3,) * 3)


@pytest.mark.parametrize("change, field", [
    (dict(features=["nope"]), "features"), (dict(outcomes=["nope"]), "outcome"), (dict(users=[]), "table")])
def test_bad_experiment_uplift_input_names_the_field(registry, change, field):
    with pytest.raises(InputError) as info:
        experiment_uplift(registry, "offers", model="ridge", folds=3, **change)
    assert info.value.field == field


@pytest.fixture(scope="module")
def policy(registry):
    return experiment_uplift(registry, "offers", outcomes=["y"], model="ridge", folds=3).policy


def test_the_deployed_spec_serves_the_policys_choices(registry, policy, frame):
    like = registry.get_experiment("offers")
    spec = targeting_experiment(policy, like, key="offers-targeted", holdout=0.0)
    assert parse_experiment(experiment_to_toml(spec)) == spec
    assert spec.kind == "contextual" and spec.contextual.reward == "y" and spec.variant_keys == like.variant_keys
    users = frame["user_id"].tolist()
    contexts = frame[FEATURES].to_dict("records")
    decisions = decide_each(Running(spec, None, spec_model(spec)), users, contexts)
    served = [spec.variant_keys[d.index] for d in decisions]
    assert served == [policy.actions[a] for a in policy.choose(frame)]
    assert {d.propensity for d in decisions} == {1.0}


def test_a_holdout_is_split_by_the_weights_and_logged_with_its_propensity(policy, registry, frame):
    spec = targeting_experiment(policy, registry.get_experiment("offers"), key="h", holdout=0.3, floor=0.05)
    decisions = decide_each(Running(spec, None, spec_model(spec)), frame["user_id"].tolist(),
                            frame[FEATURES].to_dict("records"))
    chosen = policy.choose(frame)
    policy_p = np.full((len(frame), 3), 0.05)
    policy_p[np.arange(len(frame)), chosen] += 1 - 3 * 0.05
    index = np.array([d.index for d in decisions])
    want = 0.3 / 3 + 0.7 * policy_p[np.arange(len(frame)), index]
    np.testing.assert_allclose([d.propensity for d in decisions], want, rtol=1e-12)
    assert np.mean(index != chosen) == pytest.approx(0.3 * 2 / 3 + 0.7 * 0.1, abs=0.04)


def test_a_policy_over_other_actions_is_refused_naming_the_field(policy, registry):
    other = experiment_from_dict({**SPEC, "variants": [{"key": k, "name": k, "weight": 1}
                                                       for k in ("control", "offer-a", "offer-c")]})
    with pytest.raises(InputError) as info:
        targeting_experiment(policy, other, key="x")
    assert info.value.field == "policy.actions[2]"


def test_cli_deploy_policy_writes_prints_or_registers_the_spec(registry, policy, tmp_path, capsys):
    path = tmp_path / "policy.json"
    policy.save(path)
    base = ["deploy-policy", str(path), "--like", "offers", "--db", str(registry.path)]
    assert run([*base, "--key", "b1"]) == 0
    printed = capsys.readouterr().out
    assert parse_experiment(printed).contextual.policy == "targeting"
    out = tmp_path / "b2.toml"
    assert run([*base, "--key", "b2", "--holdout", "0.25", "--out", str(out), "--create"]) == 0
    assert parse_experiment(out.read_text()).contextual.holdout == 0.25
    assert registry.status("b2") == "draft"

    assert run([*base, "--key", "b3", "--holdout", "1.5", "--create", "--out", str(tmp_path / "b3.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "contextual.holdout" in err and "1.5" in err
    assert not (tmp_path / "b3.toml").exists() and "b3" not in {e.key for e in registry.list_experiments()}


def test_cli_uplift_on_the_registry_equals_the_library(registry, capsys):
    assert run(["uplift", "--experiment", "offers", "--db", str(registry.path), "--outcome-col", "y",
                "--model", "ridge", "--folds", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    want = experiment_uplift(registry, "offers", outcomes=["y"], model="ridge", folds=3)
    assert data == to_plain({**want.to_dict(), "policy_file": None})
    assert run(["uplift", "--experiment", "offers", "--db", str(registry.path), "--features", "nope"]) == 2
    assert "--features: got 'nope'" in capsys.readouterr().err


def test_a_contextual_experiment_is_not_analysed_as_randomised(registry, policy):
    spec = targeting_experiment(policy, registry.get_experiment("offers"), key="ctx")
    registry.create_experiment(spec)
    with pytest.raises(InputError, match="contextual"):
        experiment_uplift(registry, "ctx", model="ridge")


def test_allocation_by_segment_counts_the_policy_users(registry, policy, frame):
    spec = targeting_experiment(policy, registry.get_experiment("offers"), key="alloc", holdout=0.2)
    registry.create_experiment(spec)
    registry.set_status("alloc", "running")
    decisions = decide_each(Running(spec, None, spec_model(spec)), frame["user_id"].tolist(),
                            frame[FEATURES].to_dict("records"))
    ts = pd.Timestamp("2024-02-01") + pd.to_timedelta(np.arange(len(frame)) * 97, unit="s")
    batch = pd.DataFrame({"user_id": frame["user_id"], "variant": [spec.variant_keys[d.index] for d in decisions],
                          "ts": ts.strftime("%Y-%m-%dT%H:%M:%S"), "propensity": [d.propensity for d in decisions]})
    registry.record_exposures("alloc", exposures_batch(batch, "t").assign(context_json=[d.context for d in decisions]))
    result = segment_allocation(registry, "alloc", "region")
    from promolab.analysis.contextual import in_holdout
    kept = ~in_holdout(spec, frame["user_id"].tolist())
    want = (pd.DataFrame({"period": ts.strftime("%Y-%m-%d"), "segment": frame["region"], "variant": batch["variant"]})
            [kept].groupby(["period", "segment", "variant"]).size())
    got = pd.Series({(c.period, c.segment, c.variant): c.users for c in result.cells})
    assert got.sort_index().to_dict() == want.sort_index().to_dict()
    assert result.policy_users == int(kept.sum()) and result.segments == ("north", "south", "west")
    shares = pd.Series({(c.period, c.segment, c.variant): c.share for c in result.cells}).groupby(level=[0, 1]).sum()
    np.testing.assert_allclose(shares, 1.0)
    numeric = segment_allocation(registry, "alloc", "x1", "hour")
    assert len(numeric.segments) == 4 and all(len(c.period) == 16 for c in numeric.cells)
    for kwargs, field in ((dict(feature="nope"), "feature"), (dict(feature="x1", period="week"), "period")):
        with pytest.raises(InputError) as info:
            segment_allocation(registry, "alloc", **kwargs)
        assert info.value.field == field
    with pytest.raises(InputError):
        segment_allocation(registry, "offers", "x1")


def _readout(control: tuple[float, ...], policy: tuple[float, ...]) -> PolicyReadout:
    c, t = (MeanStats(len(x), sum(x), sum(v * v for v in x)) for x in (control, policy))
    return PolicyReadout("y", t.n, c.n, welch_test(c, t, 0.05), {}, 0, {})


@pytest.mark.parametrize("policy, direction, decision", [
    ((5, 6, 7, 6, 5, 6), "increase", "ship"), ((5, 6, 7, 6, 5, 6), "decrease", "stop"),
    ((1, 3, 2, 2, 1, 3), "increase", "keep running")])
def test_the_contextual_verdict_is_the_policy_vs_holdout_test(policy, direction, decision):
    readout = _readout((1, 2, 3, 2, 1, 2), policy)
    ok = srm_test({"a": 50, "b": 50}, {"a": 0.5, "b": 0.5}, 0.001)
    verdict = policy_verdict(ok, readout, direction, "Spend")
    assert verdict.decision == decision and verdict.variant is None
    lift = readout.policy_vs_holdout
    assert f"{lift.absolute:+.4g}" in verdict.text and f"{lift.abs_ci_low:+.4g}" in verdict.text
    assert math.isclose(lift.absolute, sum(policy) / 6 - 11 / 6)
    broken = srm_test({"a": 90, "b": 10}, {"a": 0.5, "b": 0.5}, 0.001)
    assert policy_verdict(broken, readout, direction, "Spend").decision == "investigate"


def test_demo_replay_accepts_only_the_logged_arm(tmp_path):
    from promolab.demo_targeting import LEARNED_ON, TARGETED, deploy_and_replay, learn_policy
    from promolab.demo import CAMPAIGN_START, hillstrom_batches
    from promolab.data import hillstrom_frame

    reg = Registry(tmp_path / "demo.duckdb")
    from promolab.demo import demo_spec
    spec = demo_spec()
    reg.create_experiment(spec)
    reg.set_status(spec.key, "running")
    sample = hillstrom_frame().iloc[:6000]
    exposures, events, attributes = hillstrom_batches(sample)
    reg.record_exposures(spec.key, exposures_batch(exposures, "h"))
    reg.ingest_events(events_batch(events, "h"))
    reg.set_attributes(attributes)
    report, other = learn_policy(reg)
    assert report.n + len(other) == 6000 and abs(report.n - 3000) < 200
    accepted = deploy_and_replay(reg, report, other, CAMPAIGN_START)
    assert abs(accepted - len(other) / 3) < 4 * math.sqrt(len(other) * 2 / 9)
    got = reg.query("SELECT user_id, variant_key, propensity, context_json FROM exposures WHERE experiment_key = ?",
                    [TARGETED])
    logged = exposures.set_index("user_id")["variant"]
    assert (got["variant_key"].to_numpy() == logged.loc[got["user_id"]].to_numpy()).all()
    assert got["propensity"].between(0, 1).all() and got["context_json"].notna().all()
    assert set(got["user_id"]).isdisjoint(set(experiment_table(reg, LEARNED_ON)["user_id"]) - set(other["user_id"]))
