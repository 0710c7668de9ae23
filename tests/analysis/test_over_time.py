"""Effects over time (``promolab.analysis.over_time``), the CLI's ``report --over-time`` and the
service's ``?over_time=``.

A registry holds ten days of an A/B test whose effect on conversion fades by a known 0.8
points a day (a novelty effect), with CUPED, count, ratio, conversion-window and guardrail
metrics, events before exposure that must not count, and a group-sequential plan; a second experiment has an
mSPRT plan; a third spans 100 days (too many hours). The series is checked against an
independent computation from the generated rows (pandas per day, statsmodels and scipy
tests), its last point against the report, and the trend against the planted slope.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from scipy import stats as st
from statsmodels.regression.linear_model import WLS
from statsmodels.stats import proportion as smp  # (its test_* names would be collected by pytest)

from promolab.analysis import analyze_experiment
from promolab.analysis.over_time import MAX_PERIODS, over_time
from promolab.cli import run
from promolab.cli.app import console
from promolab.errors import InputError
from promolab.jsonable import to_plain
from promolab.service import create_app
from promolab.spec import experiment_from_dict
from promolab.stats.sequential import gst_look
from promolab.store import Registry, events_batch, exposures_batch
from promolab.store.keys import create_key
from warehouse_data import assert_close

T0 = pd.Timestamp("2024-03-04")
DAYS, PER_DAY = 10, 2000
SLOPE = -0.008  # the treatment's lift on conversion falls by 0.8 points a day
METRICS = [
    {"key": "conv", "name": "Ordered", "kind": "binomial", "event": "order"},
    {"key": "revenue", "kind": "mean", "event": "order", "covariate": "prior_spend"},
    {"key": "orders", "kind": "mean", "event": "order", "aggregate": "count"},
    {"key": "aov", "kind": "ratio", "numerator": "revenue", "denominator": "orders"},
    {"key": "conv72", "kind": "binomial", "event": "order", "window_hours": 72},  # users still in it: left out
]
GUARDRAILS = [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease"}]


def _spec(key: str, analysis: dict) -> dict:
    return {"key": key, "name": key, "owner": "tests", "control": "a",
            "variants": [{"key": v, "name": v, "weight": 1} for v in ("a", "b")],
            "metrics": METRICS, "guardrails": GUARDRAILS, "analysis": analysis}


def _generate(key: str, days: int, per_day: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users (user_id, variant, ts, day, prior_spend) and their events (some before exposure)."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    day = np.repeat(np.arange(days), per_day)
    variant = np.where(np.arange(n) % 2 == 0, "a", "b")
    ts = T0 + pd.to_timedelta(day * 86400 + rng.integers(0, 86400, n), unit="s")
    prior = rng.gamma(2.0, 25.0, n).round(2)
    rate = 0.10 + np.where(variant == "b", 0.08 + SLOPE * day, 0.0)
    users = pd.DataFrame({"user_id": [f"{key}-{i}" for i in range(n)], "variant": variant, "ts": ts, "day": day,
                          "prior_spend": prior})
    rows = []
    for i in np.flatnonzero(rng.random(n) < rate):
        for j in range(1 + rng.poisson(0.3)):
            rows.append((users.user_id[i], "order", float(rng.gamma(2.0, 30.0) + 0.3 * prior[i]),
                         ts[i] + pd.Timedelta(hours=j + 1)))
    for i in np.flatnonzero(rng.random(n) < 0.02):
        rows.append((users.user_id[i], "refund", 1.0, ts[i] + pd.Timedelta(hours=30)))
    for i in np.flatnonzero(rng.random(n) < 0.05):  # before exposure: never counted
        rows.append((users.user_id[i], "order", 500.0, ts[i] - pd.Timedelta(days=1)))
    events = pd.DataFrame(rows, columns=["user_id", "event", "value", "ts"])
    events.insert(0, "event_id", [f"{key}-e{i}" for i in range(len(events))])
    return users, events


def _store(reg: Registry, raw: dict, users: pd.DataFrame, events: pd.DataFrame) -> None:
    reg.create_experiment(experiment_from_dict(raw))
    reg.set_status(raw["key"], "running")
    reg.record_exposures(raw["key"], exposures_batch(users[["user_id", "variant"]].assign(
        ts=users.ts.map(pd.Timestamp.isoformat))))
    reg.ingest_events(events_batch(events.assign(ts=events.ts.map(pd.Timestamp.isoformat)), source=raw["key"]),
                      source=raw["key"])
    reg.set_attributes(users[["user_id", "prior_spend"]])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("over_time") / "over_time.duckdb"
    reg = Registry.open(path)
    admin = create_key(reg, "admin", "tests")[0]
    users, events = _generate("ot-gst", DAYS, PER_DAY, 15)
    _store(reg, _spec("ot-gst", {"sequential": "gst", "looks": 4, "target_users": 30000}), users, events)
    small = _generate("ot-msprt", 5, 600, 16)
    _store(reg, _spec("ot-msprt", {"sequential": "msprt"}), *small)
    long = pd.DataFrame({"user_id": [f"long-{i}" for i in range(8)], "variant": ["a", "b"] * 4,
                         "ts": [T0] * 4 + [T0 + pd.Timedelta(days=100)] * 4, "day": 0, "prior_spend": 1.0})
    _store(reg, _spec("ot-long", {}), long, pd.DataFrame(columns=["event_id", "user_id", "event", "value", "ts"]))
    return reg, path, admin, users, events


# -- an independent computation from the generated rows ---------------------------------------------

def _per_user(users: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    after = events.merge(users[["user_id", "ts"]], on="user_id", suffixes=("", "_x"))
    after = after[after.ts >= after.ts_x]
    orders = after[after.event == "order"].groupby("user_id").value.agg(["sum", "count"])
    refunds = after[after.event == "refund"].groupby("user_id").size()
    out = users.set_index("user_id")
    out["revenue"] = orders["sum"].reindex(out.index).fillna(0.0)
    out["orders"] = orders["count"].reindex(out.index).fillna(0).astype(float)
    out["conv"] = (out.orders > 0).astype(float)
    out["refund"] = (refunds.reindex(out.index).fillna(0) > 0).astype(float)
    as_of = max(users.ts.max(), events.ts.max())  # the latest exposure or event: windows close against it
    within = after[(after.event == "order") & (after.ts < after.ts_x + pd.Timedelta(hours=72))]
    out["conv72"] = out.index.isin(within.user_id).astype(float)
    out.loc[out.ts + pd.Timedelta(hours=72) > as_of, "conv72"] = np.nan  # window still open
    return out


def _expected(rows: pd.DataFrame, metric: str) -> dict[str, float]:
    """The report's test of b vs a on these users, computed with statsmodels / scipy / numpy."""
    rows = rows.dropna(subset=[metric]) if metric in rows else rows
    a, b = rows[rows.variant == "a"], rows[rows.variant == "b"]
    if metric in ("conv", "refund", "conv72"):
        sa, sb = a[metric].sum(), b[metric].sum()
        z, p = smp.test_proportions_2indep(sb, len(b), sa, len(a), method="wald", compare="diff", correction=False)
        lo, hi = smp.confint_proportions_2indep(sb, len(b), sa, len(a), method="wald", compare="diff")
        pa, pb = sa / len(a), sb / len(b)
        se = math.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
        return {"absolute": pb - pa, "abs_ci_low": lo, "abs_ci_high": hi, "p_value": p, "z": z, "se_absolute": se}
    if metric == "aov":
        def moments(g):
            r = g.revenue.sum() / g.orders.sum()
            var = np.var(g.revenue - r * g.orders, ddof=1) / (len(g) * g.orders.mean() ** 2)
            return r, var
        (ra, va), (rb, vb) = moments(a), moments(b)
        se = math.sqrt(va + vb)
        crit = st.norm.ppf(0.975)
        z = (rb - ra) / se
        return {"absolute": rb - ra, "abs_ci_low": rb - ra - crit * se, "abs_ci_high": rb - ra + crit * se,
                "p_value": 2 * st.norm.sf(abs(z)), "z": z, "se_absolute": se}
    ya, yb = a[metric].to_numpy(), b[metric].to_numpy()
    if metric == "revenue":  # CUPED on prior_spend: Welch on y − θ(x − x̄), θ from both arms
        both = pd.concat([a, b])
        theta = np.cov(both.revenue, both.prior_spend, ddof=1)[0, 1] / np.var(both.prior_spend, ddof=1)
        ya = ya - theta * (a.prior_spend.to_numpy() - both.prior_spend.mean())
        yb = yb - theta * (b.prior_spend.to_numpy() - both.prior_spend.mean())
    t = st.ttest_ind(yb, ya, equal_var=False)
    lo, hi = t.confidence_interval(0.95)
    return {"absolute": yb.mean() - ya.mean(), "abs_ci_low": lo, "abs_ci_high": hi, "p_value": t.pvalue,
            "z": t.statistic, "se_absolute": math.sqrt(np.var(ya, ddof=1) / len(ya) + np.var(yb, ddof=1) / len(yb))}


def test_series_matches_an_independent_daily_computation(data) -> None:
    reg, _, _, users, events = data
    series = over_time(reg, "ot-gst")
    rows = _per_user(users, events)
    days = [T0 + pd.Timedelta(days=d) for d in range(DAYS)]
    assert [pd.Timestamp(s) for s in series.starts] == days
    per_day = rows.groupby(["day", "variant"]).size().unstack()
    assert series.users == {v: tuple(per_day[v]) for v in ("a", "b")}
    assert series.cumulative_users == {v: tuple(per_day[v].cumsum()) for v in ("a", "b")}
    open_ = rows.conv72.isna()
    assert 0 < open_.sum() < len(rows) and not open_[rows.day < DAYS - 4].any()
    for name in ("conv", "revenue", "orders", "aov", "conv72", "refund"):
        m = series.metric(name)
        for v in ("a", "b"):
            g = rows[rows.variant == v].groupby("day")
            if name == "aov":
                mean = g.revenue.sum() / g.orders.sum()
                cum = g.revenue.sum().cumsum() / g.orders.sum().cumsum()
            else:
                mean = g[name].mean()
                cum = g[name].sum().cumsum() / g[name].count().cumsum()
            assert_close(list(m.means[v]), mean.tolist(), path=f"{name}/{v}")
            assert_close(list(m.cumulative_means[v]), cum.tolist(), path=f"{name}/{v} cumulative")
        for k, point in enumerate(m.lift("b").points):
            want = _expected(rows[rows.day <= k], name)
            got = {f: getattr(point, f) for f in want}
            assert_close(got, {f: float(x) for f, x in want.items()}, path=f"{name} day {k}")
            if name == "conv72" and rows.loc[rows.day == k, name].count() == 0:  # every window still open
                assert math.isnan(point.period_absolute)
                continue
            today = _expected(rows[rows.day == k], name)  # this day's users alone
            assert_close([point.period_absolute, point.period_se],
                         [float(today["absolute"]), float(today["se_absolute"])], path=f"{name} on day {k}")


def test_last_point_is_the_report(data) -> None:
    reg = data[0]
    for key in ("ot-gst", "ot-msprt"):
        report = analyze_experiment(reg, key)
        series = over_time(reg, key)
        for result in report.metrics:
            for row in result.variants:
                if row.lift is None:
                    assert series.metric(result.name).lifts[0].points[-1].control_n == row.n
                    assert_close(series.metric(result.name).cumulative_means[row.variant][-1], row.mean)
                    continue
                lift, last = row.lift, series.metric(result.name).lift(row.variant).points[-1]
                assert last.treatment_n == row.n
                assert_close([last.absolute, last.abs_ci_low, last.abs_ci_high, last.relative, last.ci_low,
                              last.ci_high, last.p_value, last.se_absolute],
                             [lift.absolute, lift.abs_ci_low, lift.abs_ci_high, lift.relative, lift.ci_low,
                              lift.ci_high, lift.p_value, lift.se_absolute], path=f"{key} {result.name}")
                seq = lift.sequential
                assert_close(last.always_valid_p, seq.always_valid_p_value)
                if seq.method == "gst":
                    assert_close([last.boundary, last.boundary_lift], [seq.boundary, seq.boundary * lift.se_absolute])
                    assert last.beyond_boundary is (abs(seq.z) >= seq.boundary)
                else:
                    assert_close(last.boundary_lift, seq.always_valid_ci_high - lift.absolute)


def test_every_point_has_the_boundary_at_its_information_fraction(data) -> None:
    reg = data[0]
    series = over_time(reg, "ot-gst")
    assert series.sequential == "gst"
    totals = np.add(series.cumulative_users["a"], series.cumulative_users["b"])
    for k, point in enumerate(series.metric("conv").lift("b").points):
        t = totals[k] / 30000
        looks = 4
        current = max(1, math.ceil(t * looks - 1e-12))
        want = gst_look(0.0, t, [j / looks for j in range(1, current) if j / looks < t], looks, 0.05, "obf")
        assert_close(point.boundary, want.boundary)
        assert point.beyond_boundary is (abs(point.z) >= want.boundary)
    assert series.metric("conv").lift("b").points[0].boundary > series.metric("conv").lift("b").points[-1].boundary


def test_trend_finds_the_planted_decay(data) -> None:
    reg, _, _, users, events = data
    lift = over_time(reg, "ot-gst").metric("conv").lift("b")
    rows = _per_user(users, events)
    g = rows.groupby(["day", "variant"]).conv.agg(["mean", "size"]).unstack()
    d = g["mean"]["b"] - g["mean"]["a"]
    se = np.sqrt(g["mean"]["a"] * (1 - g["mean"]["a"]) / g["size"]["a"]
                 + g["mean"]["b"] * (1 - g["mean"]["b"]) / g["size"]["b"])
    fit = WLS(d.to_numpy(), np.column_stack([np.ones(DAYS), np.arange(DAYS)]), weights=1 / se.to_numpy() ** 2).fit()
    lo, hi = fit.conf_int(0.05)[1]
    assert_close([lift.trend.slope, lift.trend.ci_low, lift.trend.ci_high, lift.trend.p_value],
                 [fit.params[1], lo, hi, fit.pvalues[1]])
    assert lift.trend.ci_low < SLOPE < lift.trend.ci_high and lift.trend.p_value < 0.05
    assert "toward zero" in lift.trend_note and "novelty" in lift.trend_note
    assert lift.trend_note in over_time(reg, "ot-gst").notes  # a significant trend is a note of the series


def test_hourly_series_ends_where_the_daily_one_does(data) -> None:
    reg = data[0]
    daily, hourly = over_time(reg, "ot-msprt"), over_time(reg, "ot-msprt", "hour")
    assert len(hourly.starts) == 5 * 24 and hourly.period == "hour"
    assert all(s.minute == 0 and s.second == 0 for s in hourly.starts)
    for name in ("conv", "revenue", "aov"):
        a, b = daily.metric(name).lift("b").points[-1], hourly.metric(name).lift("b").points[-1]
        assert_close([b.absolute, b.p_value, b.always_valid_p], [a.absolute, a.p_value, a.always_valid_p])


def test_bad_period_and_too_many_periods_name_the_field(data) -> None:
    reg = data[0]
    with pytest.raises(InputError) as exc:
        over_time(reg, "ot-gst", "week")
    assert exc.value.field == "period"
    assert len(over_time(reg, "ot-long").starts) == 2  # two days with users: the gap is not a period
    with pytest.raises(InputError) as exc:
        over_time(reg, "ot-long", "hour")  # 2,401 hours from the first exposure to the last
    assert exc.value.field == "period" and f"at most {MAX_PERIODS:,}" in str(exc.value)


# -- the command line ----------------------------------------------------------------------------------

def test_cli_json_is_the_library_and_text_is_a_table_per_metric(data, capsys, monkeypatch) -> None:
    reg, path, _, _, _ = data
    capsys.readouterr()
    assert run(["report", "ot-gst", "--db", str(path), "--over-time", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert_close(cli, to_plain(over_time(reg, "ot-gst").to_dict()))
    assert cli["periods"][0] == "2024-03-04T00:00:00" and len(cli["metrics"]) == 6
    monkeypatch.setattr(console, "width", 200)
    assert run(["report", "ot-msprt", "--db", str(path), "--over-time", "--period", "day", "--no-cuped"]) == 0
    out = capsys.readouterr().out
    for title in ("Ordered [conv] (binomial): cumulative per day, vs a", "aov (ratio)", "refund (binomial, guardrail)"):
        assert title in out
    assert "2024-03-08" in out and "b AV p" in out and "trend: Ordered: b vs a" in out


@pytest.mark.parametrize(("args", "flag"), [
    (["--over-time", "--period", "week"], "--period"),
    (["--period", "hour"], "--period"),
    (["--over-time", "--segment", "country"], "--over-time"),
])
def test_cli_bad_flags_are_one_line_and_exit_2(data, capsys, args, flag) -> None:
    path = data[1]
    capsys.readouterr()
    assert run(["report", "ot-gst", "--db", str(path), *args]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith(f"error: {flag}: got "), err
    assert "Traceback" not in out + err


def test_cli_too_many_periods_names_the_flag(data, capsys) -> None:
    capsys.readouterr()
    assert run(["report", "ot-long", "--db", str(data[1]), "--over-time", "--period", "hour"]) == 2
    assert capsys.readouterr().err.startswith("error: --period: got 'hour (2,401 periods)'")


# -- the service ---------------------------------------------------------------------------------------

def test_service_report_route_takes_over_time(data, capsys) -> None:
    reg, path, admin, _, _ = data
    capsys.readouterr()
    assert run(["report", "ot-gst", "--db", str(path), "--over-time", "--period", "hour", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    headers = {"Authorization": f"Bearer {admin}"}
    with TestClient(create_app(path)) as client:
        r = client.get("/v1/experiments/ot-gst/report", params={"over_time": "hour"}, headers=headers)
        assert r.status_code == 200, r.text
        assert_close(r.json(), cli)
        r = client.get("/v1/experiments/ot-gst/report", params={"over_time": "week"}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "over_time"
        r = client.get("/v1/experiments/ot-long/report", params={"over_time": "hour"}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "over_time"
        assert "2,401 periods" in r.json()["error"]["message"]
        r = client.get("/v1/experiments/ot-gst/report", headers=headers)  # without it: the report
        assert r.status_code == 200 and "verdict" in r.json()

