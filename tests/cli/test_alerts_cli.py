"""``promolab alerts``: check now, list (text and --json), acknowledge; bad input is one line
and exit 2; listing reads the registry without pandas or the analysis stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from health_data import KEY, watch_registry, watch_spec  # noqa: E402

from promolab.cli import run  # noqa: E402
from promolab.store import Registry  # noqa: E402


def _json(capsys, argv: list[str]):
    capsys.readouterr()
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_check_list_and_acknowledge(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "r.duckdb")
    watch_registry(Path(db), refund_b=0.15).close()
    Registry.close_if_open(db)
    assert run(["alerts", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == "no unacknowledged alerts"
    outcomes = _json(capsys, ["alerts", "check", "--db", db, "--json"])
    assert [(o["experiment"], [a["kind"] for a in o["alerts"]]) for o in outcomes] == [(KEY, ["guardrail_harm"])]
    assert run(["alerts", "check", KEY, "--db", db]) == 0  # still failing: no new alert
    assert capsys.readouterr().out.startswith(f"{KEY}: 1 condition(s) failing, 0 new alert(s)")
    (alert,) = _json(capsys, ["alerts", "--db", db, "--json", "--experiment", KEY])
    assert alert["id"] == 1 and alert["subject"] == "b/refund" and alert["acknowledged"] is False
    assert alert == outcomes[0]["alerts"][0]
    assert run(["alerts", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "guardrail_harm" in text and "b/refund" in text and "open" in text
    acked = _json(capsys, ["alerts", "ack", "1", "--by", "alice", "--db", db, "--json"])
    assert acked["acknowledged_by"] == "alice"
    assert _json(capsys, ["alerts", "--db", db, "--json"]) == []
    assert [a["id"] for a in _json(capsys, ["alerts", "--all", "--db", db, "--json"])] == [1]


def test_check_pauses_an_opted_in_experiment_and_says_so(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "r.duckdb")
    watch_registry(Path(db), refund_b=0.15, spec=watch_spec(safety={"auto_pause": True})).close()
    Registry.close_if_open(db)
    capsys.readouterr()
    assert run(["alerts", "check", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "paused by promolab ([safety] auto_pause): everyone now gets the control" in text
    shown = _json(capsys, ["experiment", "show", KEY, "--db", db, "--json"])
    assert shown["status"] == "paused" and shown["spec"]["safety"] == {"auto_pause": True, "guardrails": []}
    last = shown["history"][-1]
    assert last["changed_by"] == "promolab" and last["reason"].startswith("auto-pause: guardrail refund harmed in b")
    (alert,) = _json(capsys, ["alerts", "--db", db, "--json"])
    assert alert["action"] == "paused"
    # nothing left running: the next check has nothing to do
    assert _json(capsys, ["alerts", "check", "--db", db, "--json"]) == []


def test_a_safety_rule_on_an_unknown_guardrail_is_refused(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(Path(__file__).resolve().parents[2].joinpath("experiments", "checkout-coupon.toml").read_text()
                    + '\n[safety]\nauto_pause = true\nguardrails = ["refunds-typo"]\n')
    db = str(tmp_path / "r.duckdb")
    capsys.readouterr()
    assert run(["experiment", "create", str(spec), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert "safety.guardrails" in err and "refunds-typo" in err and "guardrail keys of this experiment" in err
    assert not Path(db).exists() or Registry.open(db).experiment_keys() == []


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "r.duckdb")
    watch_registry(Path(db)).close()
    Registry.close_if_open(db)
    for argv, start in ((["alerts", "ack", "5"], "error: id: got 5, expected the id of a stored alert"),
                        (["alerts", "--experiment", "nope"], "error: --experiment: got 'nope'"),
                        (["alerts", "check", "nope"], "error: experiment: got 'nope'"),
                        (["serve", "--webhook", "ftp://x"], "error: --webhook: got 'ftp://x', expected an http"),
                        (["serve", "--health-period", "-1"], "error: --health-period: got -1.0")):
        capsys.readouterr()
        assert run(argv + ["--db", db]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(start) and "\n" not in err, (argv, err)
    assert Registry.open(db).alerts(include_acknowledged=True) == []


def test_listing_alerts_needs_no_pandas(tmp_path: Path) -> None:
    db = str(tmp_path / "r.duckdb")
    watch_registry(Path(db)).close()
    Registry.close_if_open(db)
    probe = ("import sys, contextlib, io\nfrom promolab.cli import run\n"
             f"with contextlib.redirect_stdout(io.StringIO()):\n    assert run(['alerts', '--db', {db!r}, '--json']) == 0\n"
             "print([m for m in ('pandas', 'scipy', 'promolab.analysis') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"
