"""Every dashboard page under Streamlit's AppTest: renders without exceptions, widgets change
what is computed, the launch form names bad fields, the SRM banner blocks the verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from warehouse_data import assert_close

from promolab.cli.dashboard import dashboard_db, streamlit_args
from promolab.store import Registry

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
BANDIT = "coupon-bandit"
BROKEN = "broken-split"
TIMEOUT = 60


@pytest.fixture
def app(dashboard_db: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh AppTest of the dashboard on the test registry; ``app("app_pages/x.py")`` opens a page."""
    monkeypatch.setenv("PROMOLAB_DB", str(dashboard_db))
    monkeypatch.setattr(sys, "argv", ["app.py"])

    def open_page(page: str | None = None, query: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        if page:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


# -- experiments ------------------------------------------------------------------------------

def test_experiments_page_lists_every_experiment_with_verdict_and_srm(app):
    at = app()  # the default page
    listing = texts(at.markdown)
    for key in ("hillstrom-email", BANDIT, BROKEN):
        assert key in listing
    assert "Ship Mens E-Mail" in listing  # the spec's name, not the key
    assert any(BROKEN in e.value and "mismatch" in e.value.lower() for e in at.error)


def test_experiments_filters_change_the_list_and_stay_while_closed(app):
    at = app()
    assert not at.multiselect and not at.text_input  # drawn once their section is opened
    at.session_state["filters"] = True  # the "Filter by …" expander opened
    at.run()
    assert not at.exception and not any("Session State" in w.value for w in at.warning)  # the kept values
    at.multiselect(key="filter-kind").select("bandit").run()
    listing = texts(at.markdown)
    assert BANDIT in listing and "hillstrom-email" not in listing
    at.session_state["filters"] = False  # closed: the filter still applies, and the caption says so
    at.run()
    assert not at.multiselect
    assert BANDIT in texts(at.markdown) and "hillstrom-email" not in texts(at.markdown)
    assert "filtered" in texts(at.caption)
    at.session_state["filters"] = True
    at.run()
    assert at.multiselect(key="filter-kind").value == ["bandit"]
    at.multiselect(key="filter-kind").unselect("bandit").run()
    at.text_input(key="filter-search").input("hillstrom").run()
    listing = texts(at.markdown)
    assert "hillstrom-email" in listing and BANDIT not in listing


def test_experiments_more_columns_drawn_once_opened(app):
    at = app()
    assert len(at.dataframe) == 1
    at.session_state["more-columns"] = True
    at.run()
    assert not at.exception
    extra = at.dataframe[1].value
    assert {"key", "owner", "traffic", "launched", "exposure dates"} <= set(extra.columns)
    assert "hillstrom-email" in set(extra.key)


# -- report -----------------------------------------------------------------------------------

def test_report_shows_verdict_forest_and_tables(app):
    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    assert "SHIP" in texts(at.success) and "Ship Mens E-Mail" in texts(at.success)
    assert "mens-email" not in texts(at.success)
    assert charts(at) >= 1
    assert not any("Sample ratio mismatch" in e.value for e in at.error)
    assert len(at.dataframe) >= 3  # one table per metric
    assert {b.label for b in at.get("download_button")} >= {"Download CSV", "Download JSON"}


def test_report_cuped_toggle_changes_the_spend_analysis(app):
    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    spend_on = [d.value for d in at.dataframe if "method" in d.value.columns][2]  # the metrics' detail tables
    assert at.toggle(key="report-cuped").value is True
    assert spend_on["method"].str.contains("CUPED").any()
    at.toggle(key="report-cuped").set_value(False).run()
    assert not at.exception
    spend_off = [d.value for d in at.dataframe if "method" in d.value.columns][2]
    assert not spend_off["method"].str.contains("CUPED").any()
    assert list(spend_on["absolute lift [CI]"]) != list(spend_off["absolute lift [CI]"])


def test_report_scale_switch_redraws_the_forest_plot(app):
    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    before = at.get("plotly_chart")[0].proto.spec
    at.radio(key="report-scale").set_value("absolute").run()
    assert not at.exception
    assert at.get("plotly_chart")[0].proto.spec != before


def test_srm_banner_blocks_the_verdict_on_an_unbalanced_split(app):
    at = app("app_pages/report.py", {"experiment": BROKEN})
    banner = texts(at.error)
    assert "Sample ratio mismatch" in banner and "verdict blocked" in banner
    assert not at.success  # no ship / keep running line while SRM fails
    at.selectbox(key="pick-report").select("hillstrom-email").run()
    assert "Sample ratio mismatch" not in texts(at.error)
    assert "SHIP" in texts(at.success)


# -- sequential -------------------------------------------------------------------------------

def test_sequential_page_splits_a_single_day_by_hash_and_reacts_to_looks(app):
    at = app("app_pages/sequential.py", {"experiment": "hillstrom-email"})
    assert "hash of the user id" in texts(at.info)
    assert charts(at) == 3
    assert metric(at, "Looks") == "5"
    at.number_input(key="seq-looks").set_value(8).run()
    assert not at.exception
    assert metric(at, "Looks") == "8"


def test_sequential_page_uses_time_looks_when_exposures_span_days(app):
    at = app("app_pages/sequential.py", {"experiment": BANDIT})
    assert "equally spaced times" in texts(at.info)
    before = metric(at, "z at the last look")
    at.selectbox(key="seq-metric").select("revenue").run()
    assert not at.exception
    assert metric(at, "z at the last look") != before


# -- bandit -----------------------------------------------------------------------------------

def test_bandit_page_shows_allocation_reward_regret_and_weights(app, dashboard_db):
    at = app("app_pages/bandit.py", {"experiment": BANDIT})
    assert charts(at) == 4  # allocation, current weights, cumulative reward, regret
    registry = Registry.open(dashboard_db)
    users = registry.query("SELECT COUNT(*) AS n FROM exposures WHERE experiment_key = ?", [BANDIT]).n[0]
    assert int(metric(at, "Users").replace(",", "")) == users
    assert metric(at, "Best arm so far") in {v.name for v in registry.get_experiment(BANDIT).variants}
    assert len(at.dataframe[0].value) == len(registry.get_experiment(BANDIT).variants)


# -- simulation lab ---------------------------------------------------------------------------

def test_simulation_lab_runs_the_chosen_policies(app):
    at = app("app_pages/simulation.py")
    assert at.selectbox(key="sim-scenario").value == "coupons"
    at.number_input(key="sim-runs-coupons").set_value(10).run()
    at.button(key="sim-run").click().run()
    assert not at.exception
    assert "Lowest regret" in texts(at.success)
    assert len(at.dataframe[0].value) == 3
    assert charts(at) >= 5
    at.multiselect(key="sim-policies-coupons").set_value(["thompson"]).run()
    at.button(key="sim-run").click().run()
    assert not at.exception
    assert list(at.dataframe[0].value.policy) == ["Thompson sampling"]  # the policy in words


def test_simulation_lab_reports_an_invalid_edit(app):
    at = app("app_pages/simulation.py")
    text = at.text_area(key="sim-toml-coupons").value.replace("horizon = 50000", "horizon = -5")
    at.text_area(key="sim-toml-coupons").input(text).run()
    assert not at.exception
    assert "horizon" in texts(at.error)


# -- launch -----------------------------------------------------------------------------------

def test_launch_form_names_the_bad_fields(app):
    at = app("app_pages/launch.py")
    at.text_input(key="launch-key").input("Bad Key!").run()
    at.text_input(key="launch-v1-payload").input("{discount: oops").run()
    at.text_input(key="launch-m0-event").input("").run()
    at.button(key="launch-validate").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("key: got 'Bad Key!'") for e in errors), errors
    assert any(e.startswith("variants[1].payload") for e in errors), errors
    assert any(e.startswith("metrics[0].event") for e in errors), errors
    assert any("3 problem(s)" in e for e in errors)
    assert at.get("download_button")[0].proto.disabled


def test_launch_form_creates_the_experiment(app, dashboard_db):
    at = app("app_pages/launch.py")
    at.text_input(key="launch-key").input("apptest-promo").run()
    at.button(key="launch-create").click().run()
    assert not at.exception
    assert "Created **apptest-promo**" in texts(at.success)
    assert "apptest-promo" in Registry.open(dashboard_db).experiment_keys()
    at.button(key="launch-create").click().run()  # the same key again is refused next to the key
    assert any(e.value.startswith("key: got 'apptest-promo'") for e in at.error)


def test_launch_form_creates_a_bandit_and_checks_its_settings(app, dashboard_db):
    at = app("app_pages/launch.py")
    at.text_input(key="launch-key").input("apptest-bandit").run()
    at.radio(key="launch-kind").set_value("bandit").run()
    at.number_input(key="launch-floor").set_value(40.0).run()  # 3 arms cannot each keep 40 %
    at.button(key="launch-validate").click().run()
    assert not at.exception
    assert any(e.value.startswith("bandit.floor") for e in at.error), [e.value for e in at.error]
    at.number_input(key="launch-floor").set_value(5.0).run()
    at.button(key="launch-create").click().run()
    assert not at.exception
    assert "Created **apptest-bandit**" in texts(at.success)
    config = Registry.open(dashboard_db).get_experiment("apptest-bandit").bandit
    assert (config.policy, config.reward, config.floor) == ("thompson", "conversion", 0.05)


def test_launch_power_calculator_follows_traffic_and_effect(app):
    at = app("app_pages/launch.py")
    days = metric(at, "Days at current traffic")
    at.number_input(key="launch-daily").set_value(1000).run()
    fewer_users = metric(at, "Days at current traffic")
    assert fewer_users != days
    per_variant = metric(at, "Users per variant")
    at.number_input(key="launch-mde").set_value(20.0).run()
    assert int(metric(at, "Users per variant").replace(",", "")) < int(per_variant.replace(",", ""))


# -- analyze a file ---------------------------------------------------------------------------

def test_analyze_page_reports_the_sample_table(app):
    at = app("app_pages/analyze.py")
    assert "Upload a CSV" in texts(at.info)
    at.toggle(key="analyze-sample").set_value(True).run()
    assert not at.exception
    assert "SHIP" in texts(at.success)
    assert charts(at) >= 1
    at.multiselect(key="analyze-metrics").set_value(["conversion"]).run()
    assert not at.exception
    assert len(at.dataframe) == 3  # preview + one metric table and its details


# -- command ----------------------------------------------------------------------------------

def test_dashboard_command_passes_the_registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROMOLAB_DB", raising=False)
    assert dashboard_db(None) == tmp_path / "promolab.duckdb"
    (tmp_path / "promolab-demo.duckdb").touch()
    assert dashboard_db(None) == tmp_path / "promolab-demo.duckdb"
    monkeypatch.setenv("PROMOLAB_DB", str(tmp_path / "env.duckdb"))
    assert dashboard_db(None) == tmp_path / "env.duckdb"
    assert dashboard_db(Path("x.duckdb")) == tmp_path / "x.duckdb"
    command = streamlit_args(tmp_path / "x.duckdb", 8600, "127.0.0.1", APP)
    assert command[:2] == ["run", str(APP)]
    assert command[-3:] == ["--", "--db", str(tmp_path / "x.duckdb")]
    assert command[command.index("--server.port") + 1] == "8600"


# -- the numbers on screen are the CLI's ----------------------------------------------------------

def _ui():
    dashboards = str(APP.parent)
    if dashboards not in sys.path:
        sys.path.insert(0, dashboards)


def test_report_download_is_the_cli_json(dashboard_db, capsys):
    _ui()
    from promolab.analysis import analyze_experiment
    from promolab.cli import run
    from ui.report_view import report_json, report_rows

    capsys.readouterr()
    assert run(["report", "hillstrom-email", "--db", str(dashboard_db), "--json"]) == 0
    cli = capsys.readouterr().out.strip()
    report = analyze_experiment(Registry.open(dashboard_db), "hillstrom-email")
    assert_close(__import__("json").loads(cli), __import__("json").loads(report_json(report)))
    rows = report_rows(__import__("json").loads(cli))
    assert len(rows) == 9 and {"p_value_adjusted", "chance_to_win", "ci_low", "abs_ci_high"} <= set(rows.columns)


def test_power_days_match_the_cli(capsys):
    _ui()
    import json

    from promolab.cli import run
    from promolab.stats import sample_size_proportion
    from ui.launch import days_needed, parse_payload

    capsys.readouterr()
    assert run(["power", "--baseline", "0.03", "--mde", "0.1", "--variants", "3", "--daily-users", "1500",
                "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    power = sample_size_proportion(0.03, 0.1, 0.05, 0.8, 3)
    assert power.n_per_variant == cli["n_per_variant"]
    assert days_needed(power.n_per_variant, [1, 1, 1], 3000, 50) == cli["days"]
    assert days_needed(power.n_per_variant, [2, 1, 1], 3000, 50) > cli["days"]  # the small arms set the pace
    assert parse_payload('{"discount_pct": 10}') == parse_payload("{discount_pct = 10}") == {"discount_pct": 10}
    assert parse_payload("") == {}
    with pytest.raises(ValueError):
        parse_payload("[1, 2]")


def _frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.mark.parametrize(("key", "metric_key"), [("hillstrom-email", None), (BANDIT, "revenue")])
def test_sequential_page_shows_the_cli_json(app, dashboard_db, capsys, key, metric_key):
    """Every number on the Sequential page is ``promolab sequential KEY --looks K --json``'s."""
    import json

    _ui()
    from ui import format as fmt

    at = app("app_pages/sequential.py", {"experiment": key})
    if metric_key is not None:
        at.selectbox(key="seq-metric").select(metric_key).run()
    metric_key = at.selectbox(key="seq-metric").value
    treatment = at.selectbox(key="seq-treatment").value  # shown by its name, the value is the key
    looks, spending = int(at.number_input(key="seq-looks").value), at.selectbox(key="seq-spending").value
    capsys.readouterr()
    assert run_cli(["sequential", key, "--looks", str(looks), "--spending", spending, "--metric", metric_key,
                    "--db", str(dashboard_db), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    comparison = next(c for c in cli["comparisons"] if c["variant"] == treatment)
    last = comparison["points"][-1]
    assert metric(at, "Looks") == str(len(cli["looks"]))
    assert metric(at, "z at the last look") == f"{last['z']:.2f}"
    assert metric(at, "Always-valid p") == fmt.pvalue(last["always_valid_p"])
    crossing = comparison["first_crossing"]
    assert metric(at, "Boundary first crossed") == ("not crossed" if crossing is None else f"look {crossing}")
    shown = _frame_with(at, "always valid p").rename(columns=lambda c: c.replace(" ", "_"))
    expected = {**{k: [lk[k] for lk in cli["looks"]] for k in ("look", "users", "information_fraction", "boundary",
                                                               "nominal_p")},
                **{k: [p[k] for p in comparison["points"]] for k in ("z", "p_value", "always_valid_p", "crossed",
                                                                     "cs_abs_ci_low", "cs_abs_ci_high",
                                                                     "control_mean", "treatment_mean")}}
    for column, values in expected.items():
        assert_close([None if isinstance(x, float) and x != x else x for x in shown[column].tolist()], values,
                     path=column)


def test_bandit_page_shows_the_cli_json(app, dashboard_db, capsys):
    """Reward, regret, best arm and per-day allocation are ``promolab bandit regret KEY --json``'s."""
    import json

    _ui()
    from ui import format as fmt

    at = app("app_pages/bandit.py", {"experiment": BANDIT})
    capsys.readouterr()
    assert run_cli(["bandit", "regret", BANDIT, "--db", str(dashboard_db), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert metric(at, "Users") == f"{cli['users']:,}"
    assert metric(at, "Total reward (Ordered)") == fmt.num(cli["total_reward"], 6)
    assert metric(at, "Regret") == fmt.num(cli["total_regret"], 4)
    names = {v.key: v.name for v in Registry.open(dashboard_db).get_experiment(BANDIT).variants}
    assert metric(at, "Best arm so far") == names[cli["best_variant"]]
    per_period = _frame_with(at, "cumulative regret").rename(columns=lambda c: c.replace(" ", "_"))
    for column in ("users", "reward", "regret", "cumulative_users", "cumulative_reward", "cumulative_regret"):
        assert_close(per_period[column].tolist(), [p[column] for p in cli["periods"]], path=column)
    for v in cli["variants"]:
        assert per_period[f"users:_{names[v].replace(' ', '_')}"].tolist() == [p["allocation"][v] for p in cli["periods"]]
    arms = _frame_with(at, "estimated regret")
    assert arms["variant"].tolist() == [names[a["variant"]] for a in cli["arms"]]
    assert arms["users"].tolist() == [f"{a['users']:,}" for a in cli["arms"]]
    assert arms["estimated regret"].tolist() == [fmt.num(a["regret"]) for a in cli["arms"]]


def run_cli(argv: list[str]) -> int:
    from promolab.cli import run

    return run(argv)


# -- issue 8 sections: guardrail margins, abuse filtering, segments, promotion economics ----------

CHECKOUT = "checkout-coupon"


def variant_names(dashboard_db, key: str) -> dict[str, str]:
    """Variant key → the spec's name: what every page shows instead of the key."""
    return {v.key: v.name for v in Registry.open(dashboard_db).get_experiment(key).variants}


def metrics_labelled(at: AppTest, label: str) -> list[str]:
    return [m.value for m in at.metric if m.label == label]


def cli_json(dashboard_db, capsys, *args: str) -> dict:
    import json

    capsys.readouterr()
    assert run_cli(["report", *args, "--db", str(dashboard_db), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def chart_specs(at: AppTest) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titled(at: AppTest, text: str) -> dict:
    return next(s for s in chart_specs(at)
                if any(text in (a.get("text") or "") for a in s["layout"].get("annotations", [])))


def test_report_sections_render_on_the_demo(app):
    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    assert "SHIP" in texts(at.success)
    headers = texts(at.subheader)
    for title in ("Guardrails", "Abuse and bot filtering", "Promotion economics", "Segment drill-down"):
        assert title in headers, headers
    assert "No filtering rules declared" in texts(at.caption)
    assert not [t for t in at.toggle if t.key == "report-unfiltered"]  # nothing to compare without rules
    assert at.selectbox(key="report-segment").value == "channel"  # the plan's first segment column
    assert at.selectbox(key="report-segment").options[:3] == ["channel (plan)", "newbie (plan)", "history_segment"]
    chart_titled(at, "Incremental revenue")
    chart_titled(at, "Volume lift vs break-even lift")
    chart_titled(at, "by channel")
    assert not at.warning  # every Hillstrom channel is large


def test_segment_selector_changes_the_drilldown(app, dashboard_db, capsys):
    _ui()
    from ui import format as fmt

    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    seg = _frame_with(at, "SRM p")
    assert set(seg["segment"]) == {"Multichannel", "Phone", "Web"}
    at.selectbox(key="report-segment").select("newbie").run()
    assert not at.exception
    assert set(_frame_with(at, "SRM p")["segment"]) == {"newbie: no", "newbie: yes"}  # 0/1 in words
    chart_titled(at, "by newbie")
    # a free attribute (not in the plan): a new library call, the CLI's --segment
    at.selectbox(key="report-segment").select("history_segment").run()
    assert not at.exception
    shown = _frame_with(at, "SRM p")
    cli = cli_json(dashboard_db, capsys, "hillstrom-email", "--segment", "history_segment")["segments"][0]
    assert set(shown["segment"]) == {s["value"] for s in cli["segments"]}
    metric_key = at.selectbox(key="report-seg-metric").value
    names = variant_names(dashboard_db, "hillstrom-email")
    for s in cli["segments"]:
        m = next(x for x in s["metrics"] if x["name"] == metric_key)
        for v in m["variants"]:
            if v["lift"]:
                row = shown[(shown.segment == s["value"]) & (shown.variant == names[v["variant"]])].iloc[0]
                assert row["adjusted p"] == fmt.pvalue(v["lift"]["p_value_adjusted"])
                assert row["users"] == f"{v['n']:,}"
    assert any(s["small"] for s in cli["segments"]) == any(shown["small"] == "small")
    assert "family_size" in cli and f"across {cli['family_size']} tests" in texts(at.caption)
    at.selectbox(key="report-seg-metric").select("spend").run()
    assert not at.exception
    assert "Spend per customer" in str(chart_titled(at, "by history_segment")["layout"]["annotations"])


def test_small_segments_are_flagged(app):
    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    at.selectbox(key="report-segment").select("history_segment").run()  # "$1,000 +" has ~420 users per arm
    assert not at.exception
    shown = _frame_with(at, "SRM p")
    small = set(shown.loc[shown["small"] == "small", "segment"])
    assert small == {"7) $1,000 +"}
    assert "history_segment = 7) $1,000 +: small segment" in texts(at.warning)
    fig = chart_titled(at, "by history_segment")
    labels = [t["text"][0] for t in fig["data"] if t.get("mode") == "text"]
    assert sum("(small)" in t for t in labels) == 2  # both e-mails in the small segment
    assert any(not t["marker"]["color"] == "white" for t in fig["data"] if t.get("mode") == "markers")


def test_incremental_spend_of_the_mens_email_is_the_cli_json(app, dashboard_db, capsys):
    _ui()
    from ui import format as fmt

    at = app("app_pages/report.py", {"experiment": "hillstrom-email"})
    cli = cli_json(dashboard_db, capsys, "hillstrom-email")["economics"]
    treated = [v["variant"] for v in cli["variants"] if v["incremental_revenue"]]
    mens = next(v for v in cli["variants"] if v["variant"] == "mens-email")
    spend = mens["incremental_revenue"]
    assert spend["ci_low"] > 0
    assert metrics_labelled(at, "Incremental revenue")[treated.index("mens-email")] == fmt.money(spend["value"])
    assert (metrics_labelled(at, "Incremental margin")[treated.index("mens-email")]
            == fmt.money(mens["incremental_margin"]["value"]))
    table = _frame_with(at, "incremental revenue [CI]")
    row = table[table.variant == "Mens E-Mail"].iloc[0]
    assert row["incremental revenue [CI]"] == (f"{fmt.money(spend['value'])} [{fmt.money(spend['ci_low'])}, "
                                               f"{fmt.money(spend['ci_high'])}]")
    assert row["break-even lift"] == fmt.pct(mens["break_even_lift"], signed=True)
    # the chart plots the JSON's numbers themselves, in $ per 1,000 users
    fig = chart_titled(at, "Incremental revenue")
    point = next(t for t in fig["data"] if t.get("y") == ["Mens E-Mail"] and t.get("mode") == "markers")
    assert point["x"][0] == pytest.approx(spend["value"], rel=1e-9)
    assert point["error_x"]["array"][0] == pytest.approx(spend["ci_high"] - spend["value"], rel=1e-9)
    assert fig["layout"]["xaxis"]["tickprefix"] == "$"
    assert "$ per 1,000 users" in str(fig["layout"]["annotations"])


def test_checkout_coupon_failed_guardrail_says_do_not_ship(app, dashboard_db, capsys):
    _ui()
    from ui import format as fmt

    at = app("app_pages/report.py", {"experiment": CHECKOUT})
    cli = cli_json(dashboard_db, capsys, CHECKOUT)
    assert cli["verdict"]["decision"] == "do not ship"
    errors = [e.value for e in at.error]
    verdict = errors[0]  # the verdict comes first, in red
    assert "DO NOT SHIP" in verdict and cli["verdict"]["text"] in verdict
    pct10 = cli["guardrails"]["pct10"][0]
    assert not pct10["passed"] and cli["guardrails"]["free-shipping"][0]["passed"]
    bound = fmt.absolute(pct10["bound"], "binomial")
    assert f"**10 % off** · FAILS **Refunded**: upper bound {bound}" in verdict
    assert f"the margin {fmt.absolute(pct10['threshold'], 'binomial')}" in verdict
    assert "**Free shipping** · passes **Refunded**" in texts(at.success)
    assert not any("SHIP" in s.value for s in at.success)
    checks = _frame_with(at, "harmful-side bound")
    keys = {name: key for key, name in variant_names(dashboard_db, CHECKOUT).items()}
    assert list(checks.result) == ["pass" if cli["guardrails"][keys[v]][0]["passed"] else "FAIL"
                                   for v in checks.variant]
    chart_titled(at, "higher is worse")  # the margin chart


def test_checkout_coupon_abuse_filtering_and_unfiltered_toggle(app, dashboard_db, capsys):
    at = app("app_pages/report.py", {"experiment": CHECKOUT})
    cli = cli_json(dashboard_db, capsys, CHECKOUT)["filtering"]
    assert cli["imbalance"]["alert"] and cli["excluded"]["pct10"] >= 25
    errors = texts(at.error)
    assert "Abuse filter imbalance" in errors and "Imbalanced exclusions" in errors
    assert cli["alert"] in errors
    names = variant_names(dashboard_db, CHECKOUT)
    table = _frame_with(at, "imbalance p")
    for r in cli["rules"]:
        row = table[table.rule == r["rule"]].iloc[0]
        for v, n in r["excluded"].items():
            assert row[names[v]].startswith(f"{n:,} (")
    kept = table[table.rule == "analysed"].iloc[0]
    assert kept[names["pct10"]] == f"{cli['kept']['pct10']:,} of {cli['exposed']['pct10']:,}"
    assert "Filtered vs unfiltered" not in texts(at.markdown)

    toggle = at.toggle(key="report-unfiltered")
    assert toggle.value is False
    toggle.set_value(True).run()
    assert not at.exception
    assert "Filtered vs unfiltered" in texts(at.markdown)
    full = cli_json(dashboard_db, capsys, CHECKOUT, "--no-filter")
    both = _frame_with(at, "unfiltered lift [CI]")
    row = both[(both.metric == "Ordered") & (both.variant == names["pct10"])].iloc[0]
    unfiltered_n = next(v["n"] for v in full["unfiltered"]["metrics"][0]["variants"] if v["variant"] == "pct10")
    filtered_n = next(v["n"] for v in full["metrics"][0]["variants"] if v["variant"] == "pct10")
    assert row["users (unfiltered)"] == f"{unfiltered_n:,}" and row["users (filtered)"] == f"{filtered_n:,}"
    assert unfiltered_n > filtered_n
    assert full["unfiltered"]["verdict"]["text"] in texts(at.caption)
    chart_titled(at, "filtered vs unfiltered")
    at.toggle(key="report-unfiltered").set_value(False).run()
    assert "Filtered vs unfiltered" not in texts(at.markdown)


def test_checkout_coupon_economics_and_free_attribute_drilldown(app, dashboard_db, capsys):
    _ui()
    from ui import format as fmt

    at = app("app_pages/report.py", {"experiment": CHECKOUT})
    cli = cli_json(dashboard_db, capsys, CHECKOUT)["economics"]
    margins = [fmt.money(v["incremental_margin"]["value"]) for v in cli["variants"] if v["incremental_margin"]]
    assert metrics_labelled(at, "Incremental margin") == margins
    # checkout-coupon's plan has no segment columns: the selector offers the stored attributes with few
    # values, not per-user ids like device_id
    options = at.selectbox(key="report-segment").options
    assert set(options) == {"country", "device"}
    before = set(_frame_with(at, "SRM p")["segment"])
    at.selectbox(key="report-segment").select("device" if at.selectbox(key="report-segment").value == "country"
                                              else "country").run()
    assert not at.exception
    assert set(_frame_with(at, "SRM p")["segment"]) != before


def test_sequential_page_is_blocked_like_the_report_when_srm_fails(app, dashboard_db, capsys):
    """No green "could have stopped" on an experiment whose report is blocked by SRM."""
    import json

    at = app("app_pages/sequential.py", {"experiment": BROKEN})
    assert metric(at, "Boundary first crossed") == "blocked (SRM)"
    assert any("Sample ratio mismatch" in e.value for e in at.error)
    assert not at.success
    capsys.readouterr()
    assert run_cli(["report", BROKEN, "--db", str(dashboard_db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"]["decision"] == "investigate"


@pytest.mark.parametrize(("page", "query"), [("app_pages/report.py", {"experiment": "hillstrom-email"}),
                                             ("app_pages/sequential.py", {"experiment": "hillstrom-email"}),
                                             ("app_pages/bandit.py", {"experiment": BANDIT}),
                                             ("app_pages/simulation.py", None)])
def test_no_chart_shows_plotly_s_toolbar(app, page, query):
    """Plotly's toolbar covered chart titles and legends on hover: every chart turns it off."""
    import json

    at = app(page, query)
    if page.endswith("simulation.py"):
        at.number_input(key="sim-runs-coupons").set_value(10).run()
        at.button(key="sim-run").click().run()
    shown = at.get("plotly_chart")
    assert shown, page
    for chart in shown:
        config = json.loads(chart.proto.config)
        assert config["displayModeBar"] is False, (page, chart.proto.id)


def test_bandit_pages_agree_on_launch_and_days_running(app, dashboard_db):
    """The demo's replayed history is dated when it happened: no launch after its exposures, and
    the days running on the Experiments and Bandit pages are the exposures' span."""
    registry = Registry.open(dashboard_db)
    summary = next(s for s in registry.list_experiments() if s.key == BANDIT)
    first, last = registry.query("SELECT MIN(first_exposed_at) AS lo, MAX(first_exposed_at) AS hi FROM exposures "
                                 "WHERE experiment_key = ?", [BANDIT]).iloc[0]
    assert summary.launched_at <= first
    days = round((last - summary.launched_at).total_seconds() / 86400, 1)
    assert days >= 13.0
    listing = app().dataframe[0].value
    assert listing[listing.name == summary.name]["days running"].iloc[0] == days
    at = app("app_pages/bandit.py", {"experiment": BANDIT})
    assert f"launched {summary.launched_at:%Y-%m-%d}, {days:.1f} days running" in texts(at.caption)


@pytest.mark.parametrize("page", ["app_pages/experiments.py", "app_pages/launch.py", "app_pages/report.py"])
def test_every_page_preloads_element_code_first_and_the_other_pages_code_last(app, page):
    """The browser loads the page elements' code before the page computes anything, and plotly's
    once the page is drawn: the first element of the page and the last of the sidebar are the two
    scripts, and they name the modules Streamlit itself imports (the same URLs: one instance)."""
    sys.path.insert(0, str(APP.parent))
    from ui import frontend

    entry = next(frontend.JS.glob("index.*.js")).read_text()
    names = {element: frontend.module(element) for element in frontend.PAGE_ELEMENTS + frontend.LATER_ELEMENTS}
    for element, name in names.items():
        assert name is not None and (frontend.JS / name).is_file(), element
        assert f"./{name}" in entry, element  # Streamlit's own import() of it, relative to its entry script
    at = app(page, {"experiment": "hillstrom-email"})
    first = next(iter(at.main.children.values()))
    assert first.proto.id.endswith("promolab-preload-now")
    (now,) = first.get("html")
    assert "if (!false)" in now.proto.body  # at once
    assert all(f'"{names[e]}"' in now.proto.body for e in frontend.PAGE_ELEMENTS)
    later = at.sidebar.get("html")[-1].proto.body
    assert "if (!true)" in later  # once the page is drawn and idle
    assert all(f'"{names[e]}"' in later for e in frontend.LATER_ELEMENTS)
    assert sum("__promolabModules" in h.proto.body for h in at.get("html")) == 2
