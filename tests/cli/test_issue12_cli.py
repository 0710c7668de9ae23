"""Issue 12 at the command line: bad specs and files are one ``error:`` line and exit 2,
names with rich markup print as written, a file argument is that one file (never a glob)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from promolab.cli import run
from promolab.cli.app import console
from promolab.store import Registry

SPEC = """
key = "exp"
name = "Exp"
owner = "me"
control = "a"
[[variants]]
key = "a"
[[variants]]
key = "b"
weight = 3
[[metrics]]
key = "conv"
kind = "mean"
event = "order"
"""

# names a marketer (or an HTTP client) may type: closing tags, style tags, an escaped bracket
MARKUP = ["[/bold]", "[red]x[/red]", "\\[", "[link=http://x]y[/link]"]


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), err
    assert "Traceback" not in out + err
    return err.strip()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "reg.duckdb"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names are checked in the printed tables: wide enough that no cell wraps inside a name."""
    monkeypatch.setattr(console, "width", 400)


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- 1, 2: numbers in specs -------------------------------------------------------------

def test_create_refuses_infinite_numbers_so_sql_never_prints_inf(tmp_path: Path, db: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, SPEC.replace("weight = 3", "weight = inf").replace(
        'event = "order"', 'event = "order"\ncap = inf') + "[filtering]\noutlier_z = nan\n")
    err = one_error(capsys, "experiment", "create", spec, "--db", db)
    assert "variants[1].weight: got inf" in err and "metrics[0].cap: got inf" in err
    assert "filtering.outlier_z: got nan" in err
    assert Registry.open(db).experiment_keys() == []
    ok = write(tmp_path, SPEC.replace('event = "order"', 'event = "order"\ncap = 1e6'), "ok.toml")
    assert cli(capsys, "experiment", "create", ok, "--db", db)[0] == 0
    code, out, _ = cli(capsys, "sql", "exp", "--db", db)
    assert code == 0 and "inf" not in out.lower().replace("info", "")


def test_weights_whose_sum_overflows(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, SPEC.replace("weight = 3", "weight = 1e308").replace('key = "a"',
                                                                               'key = "a"\nweight = 1e308'))
    err = one_error(capsys, "experiment", "create", spec, "--db", db)
    assert "variants: got 'weights 1e+308, 1e+308', expected weights whose sum is finite" in err


# -- 3: datetimes and encodings ---------------------------------------------------------

def test_datetime_payload_and_targeting_are_field_errors(tmp_path: Path, db: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, SPEC.replace("weight = 3", "weight = 3\npayload = { starts = 2024-05-01T00:00:00Z }")
                 + '[[targeting]]\nattribute = "signup"\nop = "gte"\nvalue = 2024-01-01\n')
    err = one_error(capsys, "experiment", "create", spec, "--db", db)
    assert f"{spec}: variants[1].payload.starts: got datetime.datetime(2024, 5, 1" in err
    assert f"{spec}: targeting[0].value: got datetime.date(2024, 1, 1)" in err
    assert Registry.open(db).experiment_keys() == []


def test_spec_that_is_not_utf8_names_the_file(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "latin1.toml"
    spec.write_bytes(SPEC.replace('"Exp"', '"Expérience"').encode("latin-1"))
    err = one_error(capsys, "experiment", "create", spec, "--db", db)
    assert err.startswith(f"error: file: got '{spec}', expected a UTF-8 encoded TOML file (not UTF-8")


# -- 4: optional fields -----------------------------------------------------------------

def test_show_an_experiment_without_hypothesis(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "experiment", "create", write(tmp_path, SPEC), "--db", db)[0] == 0
    code, out, _ = cli(capsys, "experiment", "show", "exp", "--db", db)
    assert code == 0 and "exp — Exp (draft" in out and "hypothesis" not in out


# -- 5: rich markup in user strings -----------------------------------------------------

MARKUP_SPEC = """
key = "mk"
name = {name}
owner = {owner}
hypothesis = {hypothesis}
control = "a"
[analysis]
segments = ["seg"]
[[variants]]
key = "a"
name = {v0}
payload = {{ label = {v1} }}
[[variants]]
key = "b"
name = {v1}
cost = {{ coupon_value = 5 }}
[[metrics]]
key = "conv"
name = {m0}
kind = "binomial"
event = "order"
[[metrics]]
key = "rev"
name = {m1}
kind = "mean"
event = "order"
cap = 100
[[guardrails]]
key = "ref"
name = {m2}
kind = "binomial"
event = "refund"
direction = "decrease"
margin = 0.01
[economics]
revenue = "rev"
buyers = "conv"
[filtering]
shared_attributes = ["dev"]
outlier_z = 5.0
"""


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a TOML basic string for these characters


@pytest.fixture
def markup_registry(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    names = dict(name="Bad [/bold] name [red]x[/red] \\[", owner="me [/x]", hypothesis="h [/bold] [red]",
                 v0=MARKUP[0], v1=MARKUP[1] + " " + MARKUP[2], m0=MARKUP[0] + " conv", m1=MARKUP[3], m2="[/bold] ref")
    spec = write(tmp_path, MARKUP_SPEC.format(**{k: toml_str(v) for k, v in names.items()}))
    assert cli(capsys, "experiment", "create", spec, "--db", db)[0] == 0
    assert cli(capsys, "experiment", "launch", "mk", "--db", db)[0] == 0
    n = 600
    users = [f"u{i}" for i in range(n)]
    variants = ["a", "b"] * (n // 2)
    pd.DataFrame({"user_id": users, "variant": variants, "ts": "2024-03-01T00:00:00"}).to_csv(
        tmp_path / "exp.csv", index=False)
    buyers = [i for i in range(n) if i % 4 == 0 or (variants[i] == "b" and i % 3 == 0)]
    pd.DataFrame({"event_id": [f"o{i}" for i in buyers], "user_id": [users[i] for i in buyers], "event": "order",
                  "value": [20.0 + i % 7 for i in buyers], "ts": "2024-03-02T00:00:00"}).to_csv(
        tmp_path / "ev.csv", index=False)
    mixed = MARKUP[1] + " " + MARKUP[2]
    pd.DataFrame({"user_id": users, "seg": [MARKUP[0], MARKUP[0], mixed, mixed] * (n // 4),
                  "dev": [f"[/d{i}]" for i in range(n)]}).to_csv(tmp_path / "attr.csv", index=False)
    for file, kind in (("exp.csv", "exposures"), ("ev.csv", "events"), ("attr.csv", "attributes")):
        extra = ["--experiment", "mk"] if kind == "exposures" else []
        assert cli(capsys, "ingest", tmp_path / file, "--kind", kind, "--db", db, *extra)[0] == 0
    return db


def test_markup_in_names_prints_as_written(markup_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = markup_registry
    code, out, _ = cli(capsys, "experiment", "list", "--db", db)
    assert code == 0 and "Bad [/bold] name [red]x[/red] \\[" in out
    code, out, _ = cli(capsys, "experiment", "show", "mk", "--db", db)
    assert code == 0
    for text in ("Bad [/bold] name [red]x[/red] \\[", "hypothesis: h [/bold] [red]", "owner: me [/x]",
                 "variant a (control): [/bold]", "[red]x[/red] \\[", '"label": "[red]x[/red] \\\\["',
                 "[/bold] conv", "[link=http://x]y[/link]"):
        assert text in out, (text, out)
    code, out, _ = cli(capsys, "assign", "mk", "u1", "[/bold]", "[red]u[/red]", "--db", db)
    assert code == 0 and "[/bold]" in out and "[red]u[/red]" in out


def test_markup_in_report_sections(markup_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "report", "mk", "--db", markup_registry, "--no-filter")
    assert code == 0, err
    flat = " ".join(out.split())
    for text in ("[/bold] conv", "[link=http://x]y[/link]", "[/bold] ref", "Segments by seg",
                 "[red]x[/red] \\[ (small) conv b", "[/bold] (small) rev b", "Guardrails", "b: pass [/bold] ref",
                 "Promotion economics", "Filtered vs unfiltered"):
        assert text in flat, (text, out)


def test_markup_in_analyze_table_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 400
    frame = pd.DataFrame({"group": ["[/bold]", "[red]t[/red] \\["] * (n // 2),
                          "bought": [(i % 3 == 0) * 1 for i in range(n)],
                          "spend": [float(i % 7) for i in range(n)],
                          "refund": [(i % 11 == 0) * 1 for i in range(n)],
                          "[/seg]": ["[/x]", "[b]y"] * (n // 2)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, out, err = cli(capsys, "analyze-table", tmp_path / "t.csv", "--variant", "group", "--control", "[/bold]",
                         "--metric", "bought:binomial", "--metric", "spend:mean", "--segment", "[/seg]",
                         "--guardrail", "refund:binomial:decrease:0.01", "--revenue", "spend",
                         "--cost", "[red]t[/red] \\[:coupon_value=1", "--no-filter")
    assert code == 0, err
    flat = " ".join(out.split())
    for text in ("[/bold] (ctl)", "[red]t[/red] \\[", "Segments by [/seg]", "[/x]", "[b]y"):
        assert text in flat, (text, out)


def test_markup_in_key_names(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "keys", "create", "--kind", "sdk", "--name", "[/bold] [red]x[/red]", "--db", db)[0] == 0
    code, out, _ = cli(capsys, "keys", "list", "--db", db)
    assert code == 0 and "[/bold] [red]x[/red]" in " ".join(out.split())


# -- 6: a path is a path ----------------------------------------------------------------

def test_ingest_reads_exactly_the_named_file_not_a_glob(tmp_path: Path, db: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "experiment", "create", write(tmp_path, SPEC), "--db", db)[0] == 0
    assert cli(capsys, "experiment", "launch", "exp", "--db", db)[0] == 0
    row = "u{},a,2024-03-01T00:00:00\n"
    (tmp_path / "ev*.csv").write_text("user_id,variant,ts\n" + row.format(1))
    (tmp_path / "evx.csv").write_text("user_id,variant,ts\n" + row.format(2) + row.format(3))
    (tmp_path / "ev[x].csv").write_text("user_id,variant,ts\n" + row.format(4))
    code, out, _ = cli(capsys, "ingest", tmp_path / "ev*.csv", "--kind", "exposures", "--experiment", "exp",
                       "--db", db, "--json")
    assert code == 0 and json.loads(out)["received"] == 1
    code, out, _ = cli(capsys, "ingest", tmp_path / "ev[x].csv", "--kind", "exposures", "--experiment", "exp",
                       "--db", db, "--json")
    assert code == 0 and json.loads(out)["received"] == 1
    (tmp_path / "[").mkdir()  # a folder named "[" holding "bold] ev.csv": the path reads "[/bold] ev.csv"
    (tmp_path / "[/bold] ev.csv").write_text("user_id,variant,ts\n" + row.format(5))
    code, out, _ = cli(capsys, "ingest", tmp_path / "[/bold] ev.csv", "--kind", "exposures", "--experiment", "exp",
                       "--db", db)
    assert code == 0 and "exposures: 1 rows, 1 new" in out
    assert sorted(Registry.open(db).query("SELECT user_id FROM exposures").user_id) == ["u1", "u4", "u5"]
    # a pattern that names no file is not a file, even when it matches others
    err = one_error(capsys, "ingest", tmp_path / "e?x.csv", "--kind", "exposures", "--experiment", "exp",
                    "--db", db)
    assert "e?x.csv" in err


def test_analyze_table_reads_exactly_the_named_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = pd.DataFrame({"v": ["a", "b"] * 50, "y": [i % 2 for i in range(100)]})
    small.to_csv(tmp_path / "star*.csv", index=False)
    pd.concat([small] * 5).to_csv(tmp_path / "starx.csv", index=False)
    code, out, err = cli(capsys, "analyze-table", tmp_path / "star*.csv", "--variant", "v", "--control", "a",
                         "--metric", "y:binomial", "--json")
    assert code == 0, err
    users = {v["variant"]: v["n"] for v in json.loads(out)["metrics"][0]["variants"]}
    assert users == {"a": 50, "b": 50}


# -- 7: required values at the door -----------------------------------------------------

@pytest.mark.parametrize(("rows", "field"), [
    ("user_id,country\n,US\nu2,CA\n", "user_id (row 1)"),
    ("user_id,country\nu1,US\n   ,CA\n", "user_id (row 2)"),
    ("user_id\nu1\n", "columns"),
    ("country\nUS\n", "columns"),
])
def test_attributes_need_a_user_id_on_every_row(rows: str, field: str, tmp_path: Path, db: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "attr.csv"
    path.write_text(rows)
    err = one_error(capsys, "ingest", path, "--kind", "attributes", "--db", db)
    assert err.startswith(f"error: {path}: {field}: got "), err
    assert len(Registry.open(db).query("SELECT * FROM user_attributes")) == 0


def test_events_and_exposures_with_blank_user_id(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ev.csv").write_text("event_id,user_id,event,value,ts\ne1,,order,1,2024-01-01\n")
    err = one_error(capsys, "ingest", tmp_path / "ev.csv", "--kind", "events", "--db", db)
    assert "user_id (row 1): got" in err


# -- 8: empty files ---------------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "user_id,variant,ts\n"], ids=["empty", "header-only"])
def test_ingest_of_a_file_without_rows(content: str, tmp_path: Path, db: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    for kind in ("exposures", "events", "attributes"):
        err = one_error(capsys, "ingest", path, "--kind", kind, "--experiment", "exp", "--db", db)
        assert err.startswith(f"error: FILE: got '{path}', expected a CSV or Parquet file with a header row and "
                              "at least one row (the file "), err
    assert "(the file is empty)" in err if not content else "(the file has no rows)" in err


@pytest.mark.parametrize("content", ["", "v,y\n"], ids=["empty", "header-only"])
def test_analyze_table_of_a_file_without_rows(content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    err = one_error(capsys, "analyze-table", path, "--variant", "v", "--control", "a", "--metric", "y:binomial")
    assert f"got '{path}', expected a CSV or Parquet file with a header row and at least one row" in err
    assert ("(the file is empty)" if not content else "(the file has no rows)") in err


def test_parquet_without_rows(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame({"user_id": pd.Series([], dtype=str), "country": pd.Series([], dtype=str)}).to_parquet(path)
    err = one_error(capsys, "ingest", path, "--kind", "attributes", "--db", db)
    assert "(the file has no rows)" in err


# -- the last admin key and a bad registry under serve ---------------------------------

def test_cli_cannot_revoke_the_last_admin_key(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rule lives in the store (promolab.store.keys.revoke_key): the CLI and HTTP share it."""
    assert cli(capsys, "keys", "create", "--kind", "admin", "--name", "ops", "--db", db)[0] == 0
    key_id = next(k.key_id for k in Registry.open(db).query("SELECT key_id FROM api_keys").itertuples())
    err = one_error(capsys, "keys", "revoke", key_id, "--db", db)
    assert "is the last active admin key" in err
    assert cli(capsys, "keys", "create", "--kind", "admin", "--name", "ops-2", "--db", db)[0] == 0
    assert cli(capsys, "keys", "revoke", key_id, "--db", db)[0] == 0


def test_serve_on_a_damaged_registry_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_text("user_id,variant\nu1,a\n")  # not a DuckDB file
    err = one_error(capsys, "serve", "--db", bad, "--port", "0")
    assert str(bad) in err and "Traceback" not in err
