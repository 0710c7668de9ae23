"""A live bandit's reward and plug-in estimated regret (``promolab bandit regret KEY``),
checked against the same computation done by hand in pandas on the raw exposures and events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promolab.adaptive.regret import bandit_regret, compute_regret
from promolab.cli import run
from promolab.errors import InputError
from promolab.spec import parse_experiment
from promolab.store import Registry, events_batch, exposures_batch

SPEC_PATH = Path(__file__).resolve().parents[2] / "experiments" / "coupon-bandit.toml"
RATES = {"no-coupon": 0.03, "pct10": 0.05, "pct20": 0.08, "free-shipping": 0.04}
T0 = pd.Timestamp("2024-06-03")
CAP = 120.0


def _spec(key: str, reward: str) -> str:
    text = SPEC_PATH.read_text().replace('key = "coupon-bandit"', f'key = "{key}"')
    text = text.replace('reward = "conversion"', f'reward = "{reward}"')
    if reward != "conversion":  # Thompson here models 0/1 rewards
        text = text.replace('policy = "thompson"', 'policy = "epsilon-greedy"').replace("params = { draws = 20000 }", "")
    return text.replace('aggregate = "sum"', f'aggregate = "sum"\ncap = {CAP}')


def _fill(reg: Registry, key: str, reward: str, days: int = 6, per_day: int = 500, seed: int = 4):
    reg.create_experiment(parse_experiment(_spec(key, reward)), by="tests")
    reg.set_status(key, "running", by="tests")
    rng = np.random.default_rng(seed)
    arms = list(RATES)
    weights = np.full(len(arms), 0.25)
    exposures, events = [], []
    for day in range(days):
        at = T0 + pd.Timedelta(days=day)
        reg.record_weights(key, dict(zip(arms, map(float, weights))), policy="thompson", reason="test",
                           at=at.to_pydatetime())
        pick = rng.choice(len(arms), size=per_day, p=weights)
        for i, a in enumerate(pick):
            user = f"{key}-{day}-{i}"
            ts = at + pd.Timedelta(seconds=int(rng.uniform(0, 86399)))
            exposures.append((user, arms[a], ts))
            for j in range(rng.poisson(RATES[arms[a]] * 1.3)):  # some users order twice
                events.append((f"{user}-{j}", user, "order", float(rng.gamma(2.0, 40.0)),
                               ts + pd.Timedelta(hours=int(rng.integers(1, 30)))))
            if rng.random() < 0.02:  # an order before exposure does not count
                events.append((f"{user}-early", user, "order", 99.0, ts - pd.Timedelta(hours=2)))
        weights = np.array([0.1, 0.2, 0.5, 0.2]) if day == 1 else weights  # traffic moves to pct20
    x = pd.DataFrame(exposures, columns=["user_id", "variant", "ts"])
    e = pd.DataFrame(events, columns=["event_id", "user_id", "event", "value", "ts"])
    reg.record_exposures(key, exposures_batch(x.assign(ts=x.ts.map(pd.Timestamp.isoformat))))
    reg.ingest_events(events_batch(e.assign(ts=e.ts.map(pd.Timestamp.isoformat)), source=key), source=key)
    return x, e


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("regret") / "regret.duckdb"
    reg = Registry.open(path)
    frames = {"conv-bandit": _fill(reg, "conv-bandit", "conversion"),
              "rev-bandit": _fill(reg, "rev-bandit", "revenue", seed=5)}
    reg.create_experiment(parse_experiment(_spec("empty-bandit", "conversion")), by="tests")
    yield path, reg, frames
    reg.close()


def _pandas(x: pd.DataFrame, e: pd.DataFrame, reward: str, period: str = "D"):
    """Per-user reward by hand, then per period: users, reward, plug-in regret; per arm: allocation."""
    joined = e.merge(x, on="user_id", suffixes=("", "_x"))
    joined = joined[joined.ts >= joined.ts_x]
    if reward == "conversion":
        per_user = x.user_id.isin(set(joined.user_id)).astype(float)
    else:
        per_user = x.user_id.map(joined.groupby("user_id").value.sum()).fillna(0.0).clip(upper=CAP)
    users = x.assign(reward=per_user.to_numpy(), start=x.ts.dt.floor(period))
    # the arms' means are the report's: period-stratified over the weight periods (a weight change at
    # the start of each day, so a user's period is the number of day starts up to their exposure),
    # every arm weighted by the period's share of all users, over the periods where it has 2+ users
    users["period"] = (users.ts - T0).dt.days + 1
    cells = users.groupby(["period", "variant"]).reward.agg(["mean", "size"])
    totals = users.groupby("period").size()
    means = {}
    for arm, rows in cells.groupby(level="variant"):
        rows = rows.droplevel("variant")
        kept = rows[rows["size"] >= 2]
        w = totals.loc[kept.index] / totals.loc[kept.index].sum()
        means[arm] = float((w * kept["mean"]).sum())
    means = pd.Series(means)
    gap = means.max() - means
    users["regret"] = users.variant.map(gap)
    per = users.groupby("start").agg(users=("user_id", "size"), reward=("reward", "sum"), regret=("regret", "sum"))
    alloc = users.groupby(["start", "variant"]).size().unstack(fill_value=0)
    return per, alloc, means, gap


@pytest.mark.parametrize(("key", "reward"), [("conv-bandit", "conversion"), ("rev-bandit", "revenue")])
def test_regret_matches_pandas(registry, key: str, reward: str) -> None:
    _, reg, frames = registry
    x, e = frames[key]
    per, alloc, means, gap = _pandas(x, e, reward)
    result = bandit_regret(reg, key)
    assert result.reward_metric == reward and result.period == "day"
    assert [pd.Timestamp(p.start) for p in result.periods] == list(per.index)
    assert [p.users for p in result.periods] == per.users.tolist()
    assert [p.reward for p in result.periods] == pytest.approx(per.reward.tolist(), rel=1e-9)
    assert [p.regret for p in result.periods] == pytest.approx(per.regret.tolist(), rel=1e-9, abs=1e-12)
    assert [p.cumulative_reward for p in result.periods] == pytest.approx(per.reward.cumsum().tolist(), rel=1e-9)
    assert [p.cumulative_regret for p in result.periods] == pytest.approx(per.regret.cumsum().tolist(), rel=1e-9)
    assert [p.cumulative_users for p in result.periods] == per.users.cumsum().tolist()
    for p in result.periods:
        assert p.allocation == {v: int(alloc.loc[pd.Timestamp(p.start)].get(v, 0)) for v in result.variants}
        assert sum(p.share.values()) == pytest.approx(1.0)
    assert result.best_variant == means.idxmax() and result.best_mean == pytest.approx(means.max(), rel=1e-12)
    arms = {a.variant: a for a in result.arms}
    for v in result.variants:
        assert arms[v].mean_reward == pytest.approx(means[v], rel=1e-12)
        assert arms[v].gap == pytest.approx(gap[v], rel=1e-12, abs=1e-12)
        assert arms[v].users == (x.variant == v).sum()
    assert result.total_regret == pytest.approx(sum(a.regret for a in result.arms), rel=1e-9)
    assert arms[result.best_variant].regret == 0.0
    assert sum(a.current_weight for a in result.arms) == pytest.approx(1.0)
    weekly = bandit_regret(reg, key, period="week")
    assert weekly.total_regret == pytest.approx(result.total_regret, rel=1e-9)
    assert weekly.users == result.users == len(x)


def test_cli_json_is_the_library_result(registry, capsys) -> None:
    path, reg, _ = registry
    capsys.readouterr()
    assert run(["bandit", "regret", "conv-bandit", "--db", str(path), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    lib = bandit_regret(reg, "conv-bandit").to_dict()
    assert cli.keys() == lib.keys() and cli["periods"][0]["start"] == lib["periods"][0]["start"]
    assert cli["total_regret"] == pytest.approx(lib["total_regret"], rel=1e-12)
    assert [p["allocation"] for p in cli["periods"]] == [p["allocation"] for p in lib["periods"]]
    assert run(["bandit", "regret", "conv-bandit", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "best arm so far" in out and "estimated regret" in out


def test_edge_cases(registry, capsys) -> None:
    path, reg, _ = registry
    empty = bandit_regret(reg, "empty-bandit")
    assert empty.periods == () and empty.total_regret == 0.0 and empty.best_variant is None
    assert "no exposures yet" in empty.notes[0]
    with pytest.raises(InputError) as info:
        bandit_regret(reg, "conv-bandit", period="month")
    assert info.value.field == "--period"
    # an arm without users: no mean, no regret
    rows = pd.DataFrame({"start": [T0, T0], "variant": ["a", "b"], "users": [10, 30], "reward": [1.0, 6.0]})
    periods, arms, best, best_mean = compute_regret(rows, ["a", "b", "c"])
    assert best == "b" and best_mean == pytest.approx(0.2)
    assert periods[0].regret == pytest.approx(10 * (0.2 - 0.1)) and periods[0].allocation["c"] == 0
    assert arms[2].mean_reward is None and arms[2].regret == 0.0
