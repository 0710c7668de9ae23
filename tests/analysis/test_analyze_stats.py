"""analyze-stats: per-variant sufficient statistics computed elsewhere → the same report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promolab.analysis import analyze_experiment, analyze_table
from promolab.analysis.sql import experiment_stats_sql
from promolab.analysis.dialect import experiment_sql
from promolab.analysis.stats_file import analyze_stats_file as stats_file_report
from promolab.cli import run
from promolab.errors import InputError
from warehouse_data import KEY, assert_close, coupon_registry, coupon_spec


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    return coupon_registry(tmp_path_factory.mktemp("stats") / "r.duckdb")


def _metrics(report) -> list:
    return report.to_dict()["metrics"]


def test_warehouse_rows_as_csv_give_the_registry_report(registry, tmp_path: Path) -> None:
    """promolab sql → (the warehouse) → CSV → analyze-stats --experiment == report."""
    rows = registry.query(experiment_sql(coupon_spec(), "postgres"))
    path = tmp_path / "stats.csv"
    rows.rename(columns={"variant": "VARIANT", "n": "N"}).to_csv(path, index=False)  # Snowflake-style case
    got = stats_file_report(path, experiment=coupon_spec())
    want = analyze_experiment(registry, KEY)
    core = ("absolute", "relative", "ci_low", "ci_high", "p_value", "p_value_adjusted", "chance_to_win", "method")
    assert [m.name for m in got.metrics] == [m.name for m in want.metrics]
    for g, w in zip(got.metrics, want.metrics):
        for gv, wv in zip(g.variants, w.variants):
            assert_close([gv.variant, gv.n, gv.mean], [wv.variant, wv.n, wv.mean], rel=1e-12)
            if wv.lift is not None:
                assert_close({k: getattr(gv.lift, k) for k in core}, {k: getattr(wv.lift, k) for k in core}, 1e-12)
    assert_close(got.to_dict()["srm"], want.to_dict()["srm"], rel=1e-12)
    # guardrail margins need only the per-variant totals, so they apply here too
    assert got.to_dict()["guardrails"] and "refund" in str(got.to_dict()["guardrails"])
    assert_close(got.to_dict()["guardrails"], want.to_dict()["guardrails"], rel=1e-9)
    # the same decision; the registry's words name the variants by the spec's names, a file by its keys
    assert (got.verdict.decision, got.verdict.variant) == (want.verdict.decision, want.verdict.variant)
    said = want.verdict.text
    for v in coupon_spec().variants:
        said = said.replace(v.name, v.key)
    assert got.verdict.text == said


def test_json_with_metrics_header_equals_analyze_table(hillstrom_csv: Path, tmp_path: Path) -> None:
    want = analyze_table(hillstrom_csv, "segment", "No E-Mail", ["visit:binomial", "spend:mean"],
                         covariate="history")
    import duckdb

    from promolab.analysis.sql import sufficient_stats_sql
    from promolab.analysis.metrics import parse_metric

    metrics = [parse_metric("visit:binomial", covariate="history"), parse_metric("spend:mean", covariate="history")]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_csv_auto('{hillstrom_csv}')")
    rows = con.execute(sufficient_stats_sql("t", "segment", metrics)).df()
    doc = {"control": "No E-Mail", "metrics": {"visit": "binomial", "spend": "mean"},
           "variants": rows.to_dict("records")}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(doc))
    got = stats_file_report(path)
    expected = _metrics(want)
    for metric in expected:  # the file does not name the covariate column
        for v in metric["variants"]:
            if v["lift"] and v["lift"]["cuped"]:
                v["lift"]["cuped"]["covariate"] = "covariate"
    assert_close(_metrics(got), expected, rel=1e-12)


def test_cli_json_and_flags(registry, tmp_path: Path, capsys) -> None:
    rows = registry.query(experiment_stats_sql(coupon_spec(), cuped=False))
    path = tmp_path / "s.csv"
    rows.to_csv(path, index=False)
    code = run(["analyze-stats", str(path), "--control", "no-coupon", "--json",
                "--metric", "conversion:binomial", "--metric", "revenue:mean", "--metric", "aov:ratio",
                "--metric", "refund:binomial:decrease"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in out["metrics"]] == ["conversion", "revenue", "aov", "refund"]
    want = analyze_experiment(registry, KEY, cuped=False).to_dict()["metrics"]
    keep = ("absolute", "relative", "ci_low", "ci_high", "p_value", "chance_to_win")  # no plan, no guardrail here
    by_name = {m["name"]: m for m in want}
    for got_m in out["metrics"]:
        want_m = by_name[got_m["name"]]
        for g, w in zip(got_m["variants"], want_m["variants"]):
            assert_close([g["variant"], g["n"], g["mean"]], [w["variant"], w["n"], w["mean"]], rel=1e-12)
            if w["lift"]:
                assert_close({k: g["lift"][k] for k in keep}, {k: w["lift"][k] for k in keep}, rel=1e-12)
    # human-readable output too
    assert run(["analyze-stats", str(path), "--experiment", KEY, "--db", str(registry.path)]) == 0
    assert "conversion" in capsys.readouterr().out.lower()


@pytest.mark.parametrize(
    ("content", "suffix", "args", "message"),
    [
        ("variant,n,m__sum,m__sum_sq\na,10,1,1\nb,10,2,2\n", ".csv", [], "--metric: got None, expected the kind"),
        ("variant,m__sum,m__sum_sq\na,1,1\nb,2,2\n", ".csv", ["--metric", "m:mean"], "column: got 'n'"),
        ("variant,n,m__sum,m__sum_sq\na,10,x,1\nb,10,2,2\n", ".csv", ["--metric", "m:mean"],
         "column m__sum: got 'x', expected a finite number"),
        ("variant,n,m__sum\na,10,1\nb,10,2\n", ".csv", ["--metric", "m:mean"], "column: got 'm__sum_sq'"),
        ("variant,n,m__sum,m__sum_sq\na,10,1,1\nb,10,2,2\n", ".csv", ["--metric", "m:median"], "--metric: got 'm:median'"),
        ("variant,n,m__sum,m__sum_sq\na,10,1,1\nb,10,2,2\n", ".csv", ["--metric", "m:ratio"], "m__sum_x"),
        ("variant,n,m__sum,m__sum_sq\na,1.5,1,1\nb,10,2,2\n", ".csv", ["--metric", "m:mean"], "a whole number"),
        ("variant,n,m__sum,m__sum_sq\na,10,1,1\na,10,2,2\n", ".csv", ["--metric", "m:mean"], "one row per variant"),
        ("variant,n,m__sum,m__sum_sq\na,10,1,1\nb,10,2,2\n", ".csv", ["--metric", "m:mean"], "--control: got None"),
        ("variant,n,m__sum,m__sum_sq\na,10,1,1\nb,10,2,2\n", ".csv", ["--metric", "m:mean", "--control", "z"],
         "control: got 'z'"),
        ("{not json", ".json", [], "expected valid CSV or JSON"),
        ('{"variants": []}', ".json", [], "variants: got '0 rows'"),
        ('{"metrics": {"m": "median"}, "variants": [{"variant": "a", "n": 3, "m__sum": 1, "m__sum_sq": 1}]}',
         ".json", [], "metric m: got 'median'"),
        ("x", ".xlsx", [], "a file ending in .csv, .tsv or .json"),
    ],
)
def test_bad_files_one_line_exit_2(tmp_path: Path, capsys, content: str, suffix: str, args: list,
                                   message: str) -> None:
    path = tmp_path / f"s{suffix}"
    path.write_text(content)
    assert run(["analyze-stats", str(path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="an existing .csv or .json"):
        stats_file_report(tmp_path / "none.csv", control="a", metric_flags=["m:mean"])
