"""Conversion windows (issue 15, part 2): a metric counts only events in [first exposure +
delay, + delay + window), and users whose window is still open at the data's latest time
are left out of that metric and counted in ``window_open``.

Every number is checked against pandas on the raw exposures and events: the registry
report, ``promolab sql`` in each dialect run back on DuckDB (and through ``analyze-stats``),
``analyze-table`` on event-level rows (``--exposure-ts --event-ts --window-hours``) and on
the per-user rows ``export-users`` writes (``COL:kind:windowed``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlglot
from scipy import stats as sps

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.dialect import DIALECTS, experiment_sql
from promolab.analysis.sql import experiment_stats_sql
from promolab.cli import run
from promolab.errors import InputError
from promolab.spec import experiment_from_dict
from promolab.store import Registry, events_batch, exposures_batch

KEY = "win-coupon"
START = pd.Timestamp("2025-03-01")
END = START + pd.Timedelta(days=10)  # data arrives until here: late exposures have open windows
SPEC = {
    "key": KEY, "name": "Windowed coupon", "owner": "tests", "control": "none",
    "variants": [{"key": k, "name": k, "weight": 1} for k in ("none", "pct10", "ship")],
    "metrics": [
        {"key": "conversion", "kind": "binomial", "event": "order", "window_hours": 72, "covariate": "prior_spend"},
        {"key": "revenue", "kind": "mean", "event": "order", "window_hours": 48, "delay_hours": 2, "cap": 150},
        {"key": "orders", "kind": "mean", "event": "order", "aggregate": "count"},
        {"key": "aov", "kind": "ratio", "numerator": "revenue", "denominator": "orders"},
    ],
    "guardrails": [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease",
                    "window_hours": 120, "margin": 0.03}],
}
LIFT = {"none": 1.0, "pct10": 1.3, "ship": 1.15}


def _data(users: int = 3000, seed: int = 15) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exposures over ten days; orders, refunds and page views from two days before to six
    days after exposure, cut at END; events exactly on window bounds for some users."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:05d}" for i in range(users)])
    variants = np.array(list(LIFT))[rng.integers(0, 3, users)]
    exposed = START + pd.to_timedelta(rng.integers(0, 10 * 86400 - 3600, users), unit="s")
    rows = []
    for i in range(users):
        for _ in range(rng.poisson(0.5 * LIFT[variants[i]])):
            ts = exposed[i] + pd.Timedelta(seconds=int(rng.integers(-2 * 86400, 6 * 86400)))
            rows.append((ids[i], "order", round(float(rng.gamma(2.0, 40.0)), 2), ts))
            if rng.random() < 0.15:
                rows.append((ids[i], "refund", 0.0, ts + pd.Timedelta(hours=int(rng.integers(1, 150)))))
        if rng.random() < 0.5:
            rows.append((ids[i], "view", 0.0, exposed[i] + pd.Timedelta(minutes=5)))
    for i in range(0, users, 150):  # bounds: in at start, out 1 s before a delay, out at the end
        at = [exposed[i] + pd.Timedelta(hours=h) for h in (0, 2, 50, 72, 120)]
        rows += [(ids[i], "order", 11.0, at[0]), (ids[i], "order", 12.0, at[1] - pd.Timedelta(seconds=1)),
                 (ids[i], "order", 13.0, at[1]), (ids[i], "order", 14.0, at[2]), (ids[i], "order", 15.0, at[3]),
                 (ids[i], "refund", 0.0, at[4])]
    events = pd.DataFrame(rows, columns=["user_id", "event", "value", "ts"])
    events = events[events.ts < END].reset_index(drop=True)
    events.insert(0, "event_id", [f"e{i}" for i in range(len(events))])
    x = pd.DataFrame({"user_id": ids, "variant": variants, "ts": exposed})
    attributes = pd.DataFrame({"user_id": ids, "prior_spend": rng.gamma(2.0, 40.0, users).round(2)})
    return x, events, attributes


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    reg = Registry.open(tmp_path_factory.mktemp("windows") / "w.duckdb")
    reg.create_experiment(experiment_from_dict(SPEC), by="test")
    reg.set_status(KEY, "running", by="test")
    x, events, attributes = _data()
    reg.record_exposures(KEY, exposures_batch(x.assign(ts=x.ts.astype(str)), "test"), source="test")
    reg.ingest_events(events_batch(events.assign(ts=events.ts.astype(str)), "test"), source="test")
    reg.set_attributes(attributes)
    return reg


# -- the reference: pandas on the raw rows ---------------------------------------------------------


def reference_users(x: pd.DataFrame, events: pd.DataFrame, metrics: list[dict], as_of: pd.Timestamp) -> pd.DataFrame:
    """Per user (index) the variant and each base metric inside its window, NaN while open.

    ``x``: user_id, variant, exposed_at; ``events``: user_id, event, value, ts; ``metrics``:
    spec-like dicts (key, kind, event, aggregate, window_hours, delay_hours)."""
    users = x.set_index("user_id")
    joined = events.merge(x[["user_id", "exposed_at"]], on="user_id")
    out = users[["variant"]].copy()
    for m in metrics:
        delay = pd.Timedelta(hours=m.get("delay_hours", 0))
        window = m.get("window_hours")
        start = joined.exposed_at + delay
        inside = (joined.event == m["event"]) & (joined.ts >= start)
        if window is not None:
            inside &= joined.ts < start + pd.Timedelta(hours=window)
        hits = joined[inside]
        if m["kind"] == "binomial":
            value = hits.groupby("user_id").size().gt(0).astype(float)
        elif m.get("aggregate") == "count":
            value = hits.groupby("user_id").size().astype(float)
        else:
            value = hits.groupby("user_id")["value"].sum()
        value = value.reindex(users.index, fill_value=0.0)
        if window is not None:
            closed = users.exposed_at + delay + pd.Timedelta(hours=window) <= as_of
            value = value.where(closed)
        out[m["key"]] = value
    return out


def reference_stats(per_user: pd.DataFrame, metric: str, kind: str, columns: tuple[str, ...],
                    cap: float | None = None) -> dict[str, dict[str, float]]:
    """Per variant: n counted, window_open, mean (Σnum/Σden for a ratio) and the values."""
    out = {}
    for v, rows in per_user.groupby("variant"):
        counted = rows.dropna(subset=list(columns))
        y = counted[columns[0]].clip(upper=cap) if cap is not None else counted[columns[0]]
        mean = y.sum() / counted[columns[1]].sum() if kind == "ratio" else y.mean()
        out[str(v)] = {"n": len(counted), "window_open": len(rows) - len(counted), "mean": float(mean), "y": y}
    return out


def registry_reference(registry: Registry) -> tuple[pd.DataFrame, pd.Timestamp]:
    x = registry.query("SELECT user_id, variant_key AS variant, first_exposed_at AS exposed_at FROM exposures "
                       "WHERE experiment_key = ?", [KEY])
    events = registry.query("SELECT user_id, event, value, ts FROM events")
    events = events[events.user_id.isin(x.user_id)]
    as_of = max(x.exposed_at.max(), events.ts.max())
    return reference_users(x, events, SPEC["metrics"][:3] + SPEC["guardrails"], as_of), as_of


def expected_metrics(per_user: pd.DataFrame) -> dict[str, dict[str, dict]]:
    out = {}
    for m in SPEC["metrics"] + SPEC["guardrails"]:
        columns = (m["numerator"], m["denominator"]) if m["kind"] == "ratio" else (m["key"],)
        cap = 150 if m["key"] in ("revenue", "aov") else None
        out[m["key"]] = reference_stats(per_user, m["key"], m["kind"], columns, cap)
    return out


def assert_matches(metrics: list[dict], expected: dict[str, dict[str, dict]], control: str = "none",
                   lifts: bool = True) -> None:
    """Report metric dicts equal the pandas reference: n and window_open exactly, means and
    point lifts to 1e-9."""
    assert {m["name"] for m in metrics} == set(expected)
    for m in metrics:
        ref = expected[m["name"]]
        for row in m["variants"]:
            want = ref[row["variant"]]
            assert (row["n"], row["window_open"]) == (want["n"], want["window_open"]), (m["name"], row["variant"])
            assert row["mean"] == pytest.approx(want["mean"], rel=1e-9), (m["name"], row["variant"])
            if row["lift"] is not None and lifts:
                c = ref[control]["mean"]
                assert row["lift"]["absolute"] == pytest.approx(want["mean"] - c, rel=1e-9, abs=1e-12)
                assert row["lift"]["relative"] == pytest.approx(want["mean"] / c - 1, rel=1e-9, abs=1e-12)


# -- the registry report ---------------------------------------------------------------------------


def test_registry_report_equals_pandas_on_the_raw_events(registry: Registry) -> None:
    per_user, as_of = registry_reference(registry)
    expected = expected_metrics(per_user)
    report = analyze_experiment(registry, KEY, cuped=False)
    assert_matches(report.to_dict()["metrics"], expected)
    # some windows are open, and n differs between metrics of one variant
    assert all(expected[m]["none"]["window_open"] > 0 for m in ("conversion", "revenue", "aov", "refund"))
    assert expected["orders"]["none"]["window_open"] == 0
    assert len({expected[m]["pct10"]["n"] for m in expected}) == 4
    # the Welch test runs on exactly the counted users
    revenue = report.metric("revenue")
    ref = expected["revenue"]
    for v in ("pct10", "ship"):
        p = sps.ttest_ind(ref[v]["y"], ref["none"]["y"], equal_var=False).pvalue
        assert revenue.variant(v).lift.p_value == pytest.approx(p, rel=1e-9)
    # the note says the window, how many are left out per variant and the analysis time
    note = next(n for n in report.notes if n.startswith("Revenue") or n.startswith("revenue"))
    left = sum(r["window_open"] for r in ref.values())
    assert "48 h conversion window" in note and "2 h delay" in note and f"{left:,} users" in note
    assert str(as_of) in note and f"pct10 {ref['pct10']['window_open']:,}" in note


def test_cuped_on_a_windowed_metric_uses_only_the_counted_users(registry: Registry) -> None:
    per_user, _ = registry_reference(registry)
    prior = registry.query("SELECT user_id, value_num AS prior FROM user_attributes WHERE attribute = 'prior_spend'")
    per_user = per_user.join(prior.set_index("user_id"))
    frame = registry.query(experiment_stats_sql(registry.get_experiment(KEY))).set_index("variant")
    for v, rows in per_user.groupby("variant"):
        counted = rows.dropna(subset=["conversion"])
        assert frame.loc[v, "conversion__n"] == len(counted)
        assert frame.loc[v, "conversion__sum_x"] == pytest.approx(counted.prior.sum(), rel=1e-12)
        assert frame.loc[v, "conversion__sum_xy"] == pytest.approx((counted.prior * counted.conversion).sum(),
                                                                   rel=1e-12)
    cuped = analyze_experiment(registry, KEY).metric("conversion")
    plain = analyze_experiment(registry, KEY, cuped=False).metric("conversion")
    assert [v.n for v in cuped.variants] == [v.n for v in plain.variants]
    assert cuped.variant("pct10").lift.cuped is not None


def test_report_json_and_text_say_how_many_windows_are_open(registry: Registry, capsys) -> None:
    db = str(registry.path)
    assert run(["report", KEY, "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = expected_metrics(registry_reference(registry)[0])
    assert_matches(doc["metrics"], expected, lifts=False)
    assert run(["report", KEY, "--db", db]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "users whose window was still open" in text and "72 h conversion window" in text


# -- warehouse SQL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_windowed_sql_in_every_dialect_parses_back(registry: Registry, dialect: str) -> None:
    sql = experiment_sql(registry.get_experiment(KEY), dialect)
    sqlglot.parse_one(sql, read=dialect)
    upper = sql.upper()
    assert "HOUR" in upper and "AS_OF" in upper and "CONVERSION__N" in upper
    for pitfall in ("GROUP BY ALL", "DATE_DIFF", "DATEDIFF", "NOW()", "CURRENT_TIMESTAMP"):
        assert pitfall not in upper


def test_sql_cli_output_run_on_duckdb_gives_the_report(registry: Registry, tmp_path: Path, capsys) -> None:
    db = str(registry.path)
    assert run(["sql", KEY, "--db", db, "--dialect", "duckdb", "--no-cuped"]) == 0
    frame = registry.query(capsys.readouterr().out.strip().rstrip(";"))
    postgres = registry.query(experiment_sql(registry.get_experiment(KEY), "postgres", cuped=False))
    pd.testing.assert_frame_equal(postgres, frame, check_dtype=False, rtol=1e-12)
    expected = expected_metrics(registry_reference(registry)[0])
    for row in frame.to_dict("records"):
        v = row["variant"]
        for name in ("conversion", "revenue", "refund"):
            assert row[f"{name}__n"] == expected[name][v]["n"]
            assert row["n"] - row[f"{name}__n"] == expected[name][v]["window_open"]
            assert row[f"{name}__sum"] / row[f"{name}__n"] == pytest.approx(expected[name][v]["mean"], rel=1e-9)
        assert row["aov__sum"] / row["aov__sum_x"] == pytest.approx(expected["aov"][v]["mean"], rel=1e-9)
    # the rows, saved as a warehouse would, give the report's numbers through analyze-stats
    stats = tmp_path / "stats.csv"
    frame.to_csv(stats, index=False)
    assert run(["analyze-stats", str(stats), "--experiment", KEY, "--db", db, "--json"]) == 0
    from_stats = json.loads(capsys.readouterr().out)["metrics"]
    assert run(["report", KEY, "--db", db, "--json", "--no-cuped"]) == 0
    report = json.loads(capsys.readouterr().out)["metrics"]
    assert_matches(from_stats, expected)
    assert [[(v["n"], v["window_open"]) for v in m["variants"]] for m in from_stats] == \
        [[(v["n"], v["window_open"]) for v in m["variants"]] for m in report]


def test_parquet_copy_closes_the_same_windows(registry: Registry, tmp_path: Path) -> None:
    from promolab.analysis.engines.duckdb_engine import DuckDBEngine

    assert run(["export-parquet", str(tmp_path / "lake"), "--experiment", KEY, "--db", str(registry.path)]) == 0
    sql = experiment_stats_sql(registry.get_experiment(KEY))
    with DuckDBEngine().open_experiment(registry, tmp_path / "lake") as session:
        got = session.query(sql)
    pd.testing.assert_frame_equal(got, registry.query(sql), check_dtype=False, rtol=1e-12)


# -- analyze-table -----------------------------------------------------------------------------------


def _event_rows(registry: Registry) -> pd.DataFrame:
    """One exposure row per user (no event time) and one row per order or refund event."""
    x = registry.query("SELECT user_id, variant_key AS variant, first_exposed_at AS exposed_at FROM exposures "
                       "WHERE experiment_key = ?", [KEY])
    e = registry.query("SELECT user_id, event, value, ts FROM events WHERE event IN ('order', 'refund')")
    e = e.merge(x, on="user_id")
    rows = pd.DataFrame({"user": e.user_id, "arm": e.variant, "exposed": e.exposed_at, "at": e.ts,
                         "converted": (e.event == "order").astype(int), "orders": (e.event == "order").astype(int),
                         "revenue": e.value.where(e.event == "order", 0.0),
                         "refund": (e.event == "refund").astype(int)})
    exposures = pd.DataFrame({"user": x.user_id, "arm": x.variant, "exposed": x.exposed_at, "at": pd.NaT,
                              "converted": 0, "orders": 0, "revenue": 0.0, "refund": 0})
    return pd.concat([exposures, rows], ignore_index=True)


@pytest.mark.parametrize("window,delay", [(72, 0), (48, 2), (None, 0)])
def test_event_level_table_equals_pandas(registry: Registry, tmp_path: Path, window: int | None, delay: int) -> None:
    rows = _event_rows(registry)
    path = tmp_path / "events.parquet"
    rows.to_parquet(path)
    report = analyze_table(path, "arm", "none", ["converted:binomial", "revenue:mean", "revenue/orders:ratio"],
                           guardrails=["refund:binomial:decrease"], user="user", exposure_ts="exposed",
                           event_ts="at", window_hours=window, delay_hours=delay)
    as_of = max(rows.exposed.max(), rows["at"].max())
    x = rows.drop_duplicates("user")[["user", "arm", "exposed"]].rename(
        columns={"user": "user_id", "arm": "variant", "exposed": "exposed_at"})
    events = rows.dropna(subset=["at"])
    events = pd.DataFrame({"user_id": events.user, "ts": events["at"], "value": events.revenue,
                           "event": np.where(events.refund == 1, "refund", "order")})
    w = {"window_hours": window, "delay_hours": delay} if window else {}
    per_user = reference_users(x, events, [
        {"key": "converted", "kind": "binomial", "event": "order", **w},
        {"key": "revenue", "kind": "mean", "event": "order", **w},
        {"key": "orders", "kind": "mean", "event": "order", "aggregate": "count", **w},
        {"key": "refund", "kind": "binomial", "event": "refund", **w}], as_of)
    expected = {"converted": reference_stats(per_user, "converted", "binomial", ("converted",)),
                "revenue": reference_stats(per_user, "revenue", "mean", ("revenue",)),
                "revenue/orders": reference_stats(per_user, "revenue/orders", "ratio", ("revenue", "orders")),
                "refund": reference_stats(per_user, "refund", "binomial", ("refund",))}
    assert_matches(report.to_dict()["metrics"], expected)
    if window:
        assert sum(v["window_open"] for v in expected["converted"].values()) > 0
        assert any(f"{window} h conversion window" in n and str(as_of) in n for n in report.notes)


def test_export_users_then_windowed_table_gives_the_report(registry: Registry, tmp_path: Path, capsys) -> None:
    db, users = str(registry.path), tmp_path / "users.csv"
    assert run(["export-users", KEY, str(users), "--db", db]) == 0
    capsys.readouterr()
    assert run(["analyze-table", str(users), "--variant", "variant", "--control", "none", "--user", "user_id",
                "--metric", "conversion:binomial:windowed", "--metric", "revenue:mean:cap=150:windowed",
                "--metric", "orders:mean", "--metric", "revenue/orders:ratio:cap=150:windowed",
                "--guardrail", "refund:binomial:decrease:windowed", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["metrics"]
    for m in table:
        m["name"] = {"revenue/orders": "aov"}.get(m["name"], m["name"])
    assert_matches(table, expected_metrics(registry_reference(registry)[0]))


def test_windows_left_out_until_two_users_per_variant_have_closed(tmp_path: Path) -> None:
    """A secondary metric with too few closed windows is left out with a note; the primary
    metric is refused by name (no verdict without it)."""
    raw = dict(SPEC, metrics=[SPEC["metrics"][2], {**SPEC["metrics"][0], "window_hours": 24 * 300}],
               guardrails=[])
    reg = Registry.open(tmp_path / "young.duckdb")
    reg.create_experiment(experiment_from_dict(raw), by="test")
    reg.set_status(KEY, "running", by="test")
    x, events, _ = _data(300)
    reg.record_exposures(KEY, exposures_batch(x.assign(ts=x.ts.astype(str)), "test"), source="test")
    reg.ingest_events(events_batch(events.assign(ts=events.ts.astype(str)), "test"), source="test")
    report = analyze_experiment(reg, KEY)
    assert [m.name for m in report.metrics] == ["orders"]
    assert any(n.startswith("conversion: not analysed yet: fewer than 2 users") for n in report.notes)
    reg.create_experiment(experiment_from_dict(dict(raw, key="young", metrics=raw["metrics"][::-1])), by="test")
    reg.set_status("young", "running", by="test")
    reg.record_exposures("young", exposures_batch(x.assign(ts=x.ts.astype(str)), "test"), source="test")
    with pytest.raises(InputError, match=r"^metric conversion in variant '\w+': got 'n=[01]', expected at least "
                       r"2 users whose conversion window has closed \([\d,]+ still open\)$"):
        analyze_experiment(reg, "young")


def test_economics_and_sequential_path_count_closed_windows(tmp_path: Path) -> None:
    """Economics per 1,000 users is over the users whose money metrics' windows have all
    closed; each look of the sequential path closes windows at its own data's latest time."""
    from promolab.analysis.sequential_path import sequential_path

    raw = json.loads(json.dumps(SPEC))
    raw["variants"][1]["cost"] = {"discount_pct": 10}
    raw["economics"] = {"revenue": "revenue", "orders": "orders", "buyers": "conversion", "margin_rate": 0.4}
    raw["analysis"] = {"sequential": "gst", "looks": 3, "target_users": 3000}
    reg = Registry.open(tmp_path / "econ.duckdb")
    reg.create_experiment(experiment_from_dict(raw), by="test")
    reg.set_status(KEY, "running", by="test")
    x, events, attributes = _data()
    reg.record_exposures(KEY, exposures_batch(x.assign(ts=x.ts.astype(str)), "test"), source="test")
    reg.ingest_events(events_batch(events.assign(ts=events.ts.astype(str)), "test"), source="test")
    reg.set_attributes(attributes)
    per_user, _ = registry_reference(reg)
    both = per_user.dropna(subset=["revenue", "conversion"])
    report = analyze_experiment(reg, KEY)
    econ = {row.variant: row for row in report.economics.variants}
    for v, rows in both.groupby("variant"):
        assert econ[v].n == len(rows)
        assert econ[v].revenue.value == pytest.approx(rows.revenue.clip(upper=150).mean() * 1000, rel=1e-9)
    path = sequential_path(reg, KEY, metric="revenue")
    final = path.comparisons[0].points[-1]
    assert (final.control_n, final.treatment_n) == (report.metric("revenue").variant("none").n,
                                                    report.metric("revenue").variant(path.comparisons[0].variant).n)
    assert path.comparisons[0].points[0].control_n < final.control_n


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,flag", [
    (["--exposure-ts", "exposed", "--event-ts", "at", "--window-hours", "0"], "--window-hours"),
    (["--exposure-ts", "exposed", "--event-ts", "at", "--window-hours", "-3"], "--window-hours"),
    (["--exposure-ts", "exposed", "--event-ts", "at", "--window-hours", "9000"], "--window-hours"),
    (["--exposure-ts", "exposed", "--event-ts", "at", "--window-hours", "5", "--delay-hours", "-1"], "--delay-hours"),
    (["--exposure-ts", "exposed", "--event-ts", "at", "--delay-hours", "2"], "--delay-hours"),
    (["--window-hours", "72"], "--window-hours"),
    (["--exposure-ts", "exposed"], "--event-ts"),
    (["--exposure-ts", "revenue", "--event-ts", "at"], "column revenue"),
    (["--exposure-ts", "exposed", "--event-ts", "nope"], "--event-ts"),
])
def test_bad_window_flags_exit_2_with_one_line(registry: Registry, tmp_path: Path, capsys, args: list[str],
                                               flag: str) -> None:
    path = tmp_path / "events.parquet"
    _event_rows(registry).to_parquet(path)
    code = run(["analyze-table", str(path), "--variant", "arm", "--control", "none", "--user", "user",
                "--metric", "converted:binomial", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: {flag}") and "\n" not in err, err


@pytest.mark.parametrize("field,value,expected", [
    ("window_hours", -1, "a whole number of hours in [1, 8760]"),
    ("window_hours", 0, "a whole number of hours in [1, 8760]"),
    ("window_hours", 24 * 366, "a whole number of hours in [1, 8760]"),
    ("window_hours", "inf", "a whole number of hours in [1, 8760]"),
    ("delay_hours", -2, "a whole number of hours in [0, 8760]"),
])
def test_cli_create_refuses_a_bad_window_and_stores_nothing(tmp_path: Path, capsys, field: str, value: object,
                                                            expected: str) -> None:
    import tomli_w

    raw = json.loads(json.dumps(SPEC))
    raw["metrics"][1][field] = float(value) if value == "inf" else value
    spec, db = tmp_path / "spec.toml", tmp_path / "r.duckdb"
    spec.write_text(tomli_w.dumps(raw), encoding="utf-8")
    assert run(["experiment", "create", str(spec), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"metrics[1].{field}: got" in err and expected in err and "\n" not in err, err
    assert Registry.open(db).list_experiments() == []


def test_service_refuses_a_bad_window_with_422(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from promolab.service import create_app
    from promolab.store.keys import create_key

    reg = Registry.open(tmp_path / "s.duckdb")
    admin = create_key(reg, "admin", "test")[0]
    reg.close()
    raw = json.loads(json.dumps(SPEC))
    raw["guardrails"][0]["window_hours"] = 0
    with TestClient(create_app(tmp_path / "s.duckdb"), raise_server_exceptions=False) as client:
        r = client.post("/v1/experiments", json=raw, headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["field"] == "guardrails[0].window_hours" and error["value"] == 0
        assert client.get("/v1/experiments", headers={"Authorization": f"Bearer {admin}"}).json() == []
