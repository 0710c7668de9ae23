"""Replay of contextual policies and the off-policy value of a saved targeting policy, on a
uniformly logged table whose best offer depends on the customer (true values known)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from promolab.bandits import make_contextual_policy
from promolab.cli import run
from promolab.errors import InputError
from promolab.sim.contextual_replay import evaluate_contextual_policy, evaluate_targeting_policy, targeting_target
from promolab.sim.logged import read_log
from promolab.sim.ope_intervals import Resampling
from promolab.spec.features import Feature, FeatureSet
from promolab.uplift.policy_file import TargetingPolicy

ARMS = ("none", "pct10", "ship")
# conversion rate by (channel, offer): web shoppers want 10 % off, phone shoppers free shipping
RATES = {"web": (0.05, 0.20, 0.08), "phone": (0.05, 0.08, 0.20)}


def _log(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["web", "phone"], n)
    action = rng.integers(0, 3, n)
    rate = np.array([RATES[c][a] for c, a in zip(channel, action)])
    return pd.DataFrame({"action": np.array(ARMS)[action], "reward": (rng.random(n) < rate).astype(int),
                         "propensity": 1 / 3, "channel": channel, "age": rng.normal(40, 10, n).round(1)})


@pytest.fixture(scope="module")
def log_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ctxlog") / "log.csv"
    _log(12_000, 3).to_csv(path, index=False)
    return str(path)


def test_a_learning_linucb_finds_each_segments_offer(log_path):
    log = read_log(log_path)
    result = evaluate_contextual_policy(log, make_contextual_policy("linucb", {"alpha": 0.5}), ["channel", "age"],
                                        batch_size=50)
    np.testing.assert_allclose(result.replay.targets.sum(axis=1), 1.0)
    assert abs(result.replay.accepted - log.n / 3) < 4 * np.sqrt(log.n * 2 / 9)
    # the oracle earns 0.20, any single offer at most 0.14: a learner that found the segments beats 0.16
    for e in (result.replay.estimate, result.dr, result.snips):
        assert e.value > 0.16 and e.lower < 0.20, e
    late = result.replay.targets[-2000:]
    web = log.context["channel"].to_numpy()[-2000:] == "web"
    assert late[web, 1].mean() > 0.8 and late[~web, 2].mean() > 0.8


def _policy() -> TargetingPolicy:
    """10 % off on the web, free shipping on the phone: scores over φ = (1, phone, web)."""
    features = FeatureSet((Feature("channel", "categorical", ("phone", "web")),))
    weights = np.array([[0.0, -1.0, 1.0], [0.0, 1.0, -1.0]])  # pct10, ship
    source = {"fingerprint": "by hand", "rows": 0, "treatment": "action", "learner": "x", "model": "ridge",
              "folds": 2, "seed": 0}
    return TargetingPolicy(features, ("none", "pct10", "ship"), weights, threshold=0.5, source=source)


def test_a_saved_policys_value_is_ips_on_its_one_hot_target(log_path):
    log = read_log(log_path)
    policy = _policy()
    target = targeting_target(log, policy)
    web = log.context["channel"].to_numpy() == "web"
    np.testing.assert_array_equal(target.argmax(axis=1), np.where(web, 1, 2))
    evaluation = evaluate_targeting_policy(log, policy)
    hits = log.action == target.argmax(axis=1)
    assert evaluation.estimate("ips").value == pytest.approx(np.mean(hits * log.reward / log.propensity), rel=1e-12)
    ips, dr = evaluation.estimate("ips"), evaluation.estimate("dr")
    for e in (ips, dr):  # the true value is 0.20; the interval is about ± 2 se wide
        assert abs(e.value - 0.20) < 3 * e.se and e.upper - e.lower == pytest.approx(4 * e.se, rel=0.25)
    assert evaluation.diagnostics.zero_target_share == pytest.approx(1 - hits.mean())


def test_bad_input_names_the_field(log_path, tmp_path, capsys):
    log = read_log(log_path)
    other = TargetingPolicy(_policy().features, ("none", "pct20", "ship"), np.zeros((2, 3)))
    with pytest.raises(InputError) as info:
        targeting_target(log, other)
    assert info.value.field == "policy.actions"
    bare = read_log(_write(tmp_path, _log(300, 1)[["action", "reward", "propensity"]]))
    with pytest.raises(InputError) as info:
        evaluate_targeting_policy(bare, _policy())
    assert info.value.field == "context"
    for extra, flag in ((["--policy", "lin-ts"], "--features"), (["--policy", "lin-ts", "--features", "nope"],
                                                                  "--features"),
                        (["--policy", "linucb", "--features", "channel", "--batch-size", "0"], "--batch-size")):
        assert run(["replay", log_path, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith(f"error: {flag}") or flag in err, err


def _write(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "bare.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_cli_replays_a_contextual_policy_and_values_a_policy_file(log_path, tmp_path, capsys):
    assert run(["replay", log_path, "--policy", "lin-ts", "--features", "channel,age", "--json",
                "--n-bootstrap", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["policy"]["name"] == "lin-ts" and [f["name"] for f in data["policy"]["features"]] == ["channel", "age"]
    assert set(data["estimates"]) >= {"replay", "ips", "snips", "dr"}
    path = tmp_path / "policy.json"
    _policy().save(path)
    assert run(["replay", log_path, "--policy-file", str(path), "--json", "--n-bootstrap", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    want = evaluate_targeting_policy(read_log(log_path), _policy(), resampling=Resampling(n_bootstrap=200))
    assert data["estimates"]["ips"]["value"] == pytest.approx(want.estimate("ips").value, rel=1e-12)
    assert data["target"] == {"file": str(path), "prefix": None}
