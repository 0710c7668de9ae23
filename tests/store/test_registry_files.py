"""Damaged, foreign, unreachable and read-only registry files (issue 12).

Every case is one line naming the file and what is wrong, raised by ``Registry.open``
(so the CLI, the service and the dashboard all get it), and a file promolab cannot use
is left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from promolab.cli import run
from promolab.errors import PromolabError, StateError
from promolab.spec import load_experiment
from promolab.store import LATEST_VERSION, Registry, RegistryFileError, events_batch, exposures_batch
from promolab.store import migrations

ROOT = Path(__file__).resolve().parents[2]
BLOCKS_START = 3 * 4096  # DuckDB: a file header and two database headers, then fixed-size blocks


def at(path: Path) -> str:
    """A regex matching a message that starts with ``path``."""
    return "^" + re.escape(str(path))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def coupon():
    return load_experiment(ROOT / "experiments" / "checkout-coupon.toml")


@pytest.fixture
def good(tmp_path: Path, coupon) -> Path:
    """A registry file with an experiment, exposures and events, closed."""
    path = tmp_path / "good.duckdb"
    reg = Registry.open(path)
    reg.create_experiment(coupon)
    reg.set_status(coupon.key, "running")
    users = [f"u{i}" for i in range(300)]
    reg.record_exposures(coupon.key, exposures_batch(pd.DataFrame(
        {"user_id": users, "variant": [coupon.variant_keys[i % 3] for i in range(300)], "ts": "2024-05-01"})))
    reg.ingest_events(events_batch(pd.DataFrame(
        {"event_id": [str(i) for i in range(300)], "user_id": users, "event": "order", "value": 12.5,
         "ts": "2024-05-02"})))
    reg.close()
    return path


def _blocks(path: Path, table: str) -> tuple[int, list[int]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        size = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
        ids = [r[0] for r in con.execute(
            f"SELECT DISTINCT block_id FROM pragma_storage_info('{table}') WHERE block_id >= 0").fetchall()]
    finally:
        con.close()
    return size, sorted(ids)


def _corrupt_block(path: Path, table: str, out: Path) -> Path:
    """A copy of ``path`` with bytes of ``table``'s data overwritten (in the first of its blocks,
    which lies in the middle of the file: bytes a block does not use are not data, and damage
    there is harmless)."""
    size, ids = _blocks(path, table)
    data = bytearray(path.read_bytes())
    start = BLOCKS_START + ids[0] * size + 64
    data[start:start + 512] = bytes(range(256)) * 2
    out.write_bytes(bytes(data))
    return out


def _truncated(path: Path, share: float, out: Path) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * share)])
    return out


def _foreign(out: Path) -> Path:
    con = duckdb.connect(str(out))
    con.execute("CREATE TABLE experiments (id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO experiments VALUES (1, 'someone else''s table')")
    con.close()
    return out


def _csv(out: Path) -> Path:
    out.write_text("user_id,variant,ts\nu1,pct10,2024-05-01\n")
    return out


def _empty(out: Path) -> Path:
    out.write_bytes(b"")
    return out


BAD_FILES = {
    "truncated-50": (lambda good, d: _truncated(good, 0.5, d / "half.duckdb"), "truncated"),
    "truncated-10": (lambda good, d: _truncated(good, 0.1, d / "tenth.duckdb"), "truncated"),
    "corrupted-experiments": (lambda good, d: _corrupt_block(good, "experiments", d / "bad.duckdb"), "damaged"),
    "corrupted-metadata": (lambda good, d: _corrupt_header_block(good, d / "meta.duckdb"), "damaged"),
    "foreign-duckdb": (lambda good, d: _foreign(d / "theirs.duckdb"), "not a promolab registry"),
    "csv": (lambda good, d: _csv(d / "x.duckdb"), "not a DuckDB database file"),
    "empty": (lambda good, d: _empty(d / "zero.duckdb"), "empty"),
}


def _corrupt_header_block(path: Path, out: Path) -> Path:
    """Bytes overwritten in block 0, where DuckDB keeps the catalog (read on open)."""
    data = bytearray(path.read_bytes())
    data[BLOCKS_START + 64:BLOCKS_START + 64 + 512] = b"\xff" * 512
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(params=sorted(BAD_FILES))
def bad_file(request, good: Path, tmp_path: Path) -> tuple[Path, str]:
    make, what = BAD_FILES[request.param]
    folder = tmp_path / "bad"
    folder.mkdir()
    return make(good, folder), what


def test_bad_file_refused_by_open_and_left_unchanged(bad_file) -> None:
    path, what = bad_file
    before = _digest(path)
    for read_only in (None, True):
        with pytest.raises(RegistryFileError) as info:
            Registry.open(path, read_only=read_only)
        message = str(info.value)
        assert "\n" not in message and str(path) in message and what in message, message
    assert isinstance(info.value, StateError) and isinstance(info.value, PromolabError)
    assert _digest(path) == before
    assert not Path(str(path) + ".wal").exists()
    assert str(path) not in {str(p) for p in Registry._open}


def test_bad_file_cli_one_line_exit_2(bad_file, capsys) -> None:
    path, what = bad_file
    before = _digest(path)
    for argv in (["experiment", "list", "--db", str(path)], ["init", "--db", str(path)]):
        assert run(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0] and what in err[0], err
    assert _digest(path) == before


def test_truncated_file_names_sizes(good: Path, tmp_path: Path) -> None:
    path = _truncated(good, 0.5, tmp_path / "half.duckdb")
    expected = rf"truncated: {path.stat().st_size:,} bytes, .*{good.stat().st_size:,}"
    with pytest.raises(RegistryFileError, match=expected):
        Registry.open(path)


def test_foreign_file_names_its_tables(tmp_path: Path) -> None:
    path = _foreign(tmp_path / "theirs.duckdb")
    with pytest.raises(RegistryFileError, match=r"not a promolab registry .*experiments.* no schema_version"):
        Registry.open(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT * FROM experiments").fetchall() == [(1, "someone else's table")]
    assert con.execute("SELECT COUNT(*) FROM information_schema.tables").fetchall()[0][0] == 1
    con.close()


def test_foreign_schema_version_table_is_foreign(tmp_path: Path) -> None:
    path = tmp_path / "alembic.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version_num VARCHAR)")
    con.close()
    before = _digest(path)
    with pytest.raises(RegistryFileError, match="not a promolab registry"):
        Registry.open(path)
    assert _digest(path) == before


def test_damage_in_a_bulk_table_is_named_when_read(good: Path, tmp_path: Path) -> None:
    """Open checks the control tables; the bulk tables are checked when an operation reads them,
    with the same one-line error (``verify`` reads everything now)."""
    path = _corrupt_block(good, "events", tmp_path / "events-damaged.duckdb")
    reg = Registry.open(path)
    try:
        assert reg.experiment_keys() == ["checkout-coupon"]
        with pytest.raises(RegistryFileError, match=at(path) + r": is damaged"):
            reg.query("SELECT * FROM events")
        with pytest.raises(RegistryFileError, match=at(path) + r": is damaged.*events"):
            reg.verify()
    finally:
        reg.close()


def test_verify_passes_on_a_good_file(good: Path) -> None:
    reg = Registry.open(good)
    reg.verify()
    reg.close()


@pytest.mark.parametrize("under", ["file", "file/sub"])
def test_folder_that_cannot_be_created(tmp_path: Path, under: str, capsys) -> None:
    (tmp_path / "file").write_text("a regular file")
    path = tmp_path / under / "r.duckdb"
    blocker = re.escape(str(tmp_path / "file"))
    message = at(path) + rf": cannot create the registry: {blocker} is a file, not a folder$"
    with pytest.raises(RegistryFileError, match=message):
        Registry.open(path)
    assert run(["experiment", "list", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]


def test_a_folder_is_not_a_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match=at(tmp_path) + r": is a folder"):
        Registry.open(tmp_path)


def test_file_in_use_by_another_connection(good: Path) -> None:
    # another process holding the write lock looks the same as a second configuration here
    other = duckdb.connect(str(good), config={"threads": 1})
    try:
        with pytest.raises(RegistryFileError, match=at(good) + r": cannot open the registry"):
            Registry.open(good, read_only=True)
    finally:
        other.close()


# -- read-only ---------------------------------------------------------------------------


def _no_write_access(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """Make the store see ``paths`` as not writable (os.access), also for root."""
    denied = {str(p) for p in paths}
    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and str(path) in denied:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_read_only_open_reads_and_refuses_writes(good: Path, coupon) -> None:
    before = _digest(good)
    reg = Registry.open(good, read_only=True)
    try:
        assert reg.read_only
        assert [e.key for e in reg.list_experiments()] == [coupon.key]
        assert reg.query("SELECT COUNT(*) AS n FROM events").n[0] == 300
        for write in (lambda: reg.set_status(coupon.key, "paused"),
                      lambda: reg.ramp(coupon.key, 10),
                      lambda: reg.ingest_events(events_batch(pd.DataFrame(
                          {"event_id": ["x"], "user_id": ["u"], "event": ["order"], "value": [1.0],
                           "ts": ["2024-05-01"]})))):
            with pytest.raises(StateError, match=at(good) + r": is open read-only") as info:
                write()
            assert "\n" not in str(info.value)
        from promolab.store.keys import create_key

        with pytest.raises(StateError, match="read-only"):
            create_key(reg, "sdk")
    finally:
        reg.close()
    assert _digest(good) == before


@pytest.mark.parametrize("denied", ["file", "folder"])
def test_not_writable_file_or_folder_opens_read_only(good: Path, coupon, monkeypatch, capsys, denied) -> None:
    _no_write_access(monkeypatch, good if denied == "file" else good.parent)
    before = _digest(good)
    reg = Registry.open(good)
    assert reg.read_only
    reg.close()
    assert run(["experiment", "list", "--db", str(good), "--json"]) == 0
    assert coupon.key in capsys.readouterr().out
    assert run(["experiment", "pause", coupon.key, "--db", str(good)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only" in err[0], err
    Registry.close_if_open(good)
    assert _digest(good) == before


def test_explicit_read_write_without_permission_refused(good: Path, monkeypatch) -> None:
    _no_write_access(monkeypatch, good)
    with pytest.raises(RegistryFileError, match=at(good) + r": no write permission"):
        Registry.open(good, read_only=False)


def test_new_registry_in_a_folder_without_write_permission(tmp_path: Path, monkeypatch) -> None:
    _no_write_access(monkeypatch, tmp_path)
    path = tmp_path / "new.duckdb"
    with pytest.raises(RegistryFileError, match=at(path) + r": cannot create the registry: no write permission"):
        Registry.open(path)
    assert not path.exists()


@pytest.mark.parametrize("how", [{"read_only": True}, {"must_exist": True}])
def test_a_missing_file_is_not_created_for_reading(tmp_path: Path, how: dict) -> None:
    path = tmp_path / "missing.duckdb"
    with pytest.raises(RegistryFileError, match=at(path) + r": no registry there \(looked at --db, "
                       r"\$PROMOLAB_DB, ./promolab.duckdb, ./promolab-demo.duckdb\); run `promolab demo`"):
        Registry.open(path, **how)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def _version_3(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL)")
    for m in migrations.MIGRATIONS[:3]:
        con.execute(m.sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [m.version, m.description])
    con.close()
    return path


def test_read_only_older_schema_says_how_to_upgrade(tmp_path: Path, monkeypatch, capsys) -> None:
    path = _version_3(tmp_path / "old.duckdb")
    before = _digest(path)
    expected = (at(path) + rf": schema version 3 is older than this promolab's \({LATEST_VERSION}\); "
                r"open it once with write access to upgrade$")
    with pytest.raises(StateError, match=expected):
        Registry.open(path, read_only=True)
    _no_write_access(monkeypatch, path)
    assert run(["experiment", "list", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "schema version 3 is older" in err[0]
    assert _digest(path) == before
    monkeypatch.undo()
    reg = Registry.open(path)  # with write access: migrated
    assert not reg.read_only and reg.query("SELECT MAX(version) AS v FROM schema_version").v[0] == LATEST_VERSION
    reg.close()


def test_a_current_registry_opens_with_one_read_only_connection(good: Path, tmp_path: Path, monkeypatch) -> None:
    """Opening checks the file on a read-only connection and needs no second, writable one when
    its schema is current (an older one is migrated on a writable connection, as above)."""
    from promolab.store import files

    opened: list[bool] = []
    connect = files.connect
    monkeypatch.setattr(files, "connect", lambda path, read_only: opened.append(read_only) or connect(path, read_only))
    before = _digest(good)
    reg = Registry.open(good)
    assert opened == [True] and not reg.read_only and _digest(good) == before
    reg.close()
    opened.clear()
    reg = Registry.open(_version_3(tmp_path / "old.duckdb"))
    assert opened == [True, False]
    assert reg.query("SELECT MAX(version) AS v FROM schema_version").v[0] == LATEST_VERSION
    reg.close()


def test_read_only_empty_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(StateError, match=at(path) + r": has no promolab schema yet; open it once with write access"):
        Registry.open(path, read_only=True)


def test_read_only_cached_connection_not_reused_for_writing(good: Path) -> None:
    reg = Registry.open(good, read_only=True)
    try:
        assert Registry.open(good) is reg  # reads may share it
        with pytest.raises(StateError, match=at(good) + r": is open read-only in this process"):
            Registry.open(good, read_only=False)
    finally:
        reg.close()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_chmod_444_registry_is_readable(good: Path, coupon) -> None:
    good.chmod(0o444)
    try:
        reg = Registry.open(good)
        assert reg.read_only and reg.experiment_keys() == [coupon.key]
        reg.close()
    finally:
        good.chmod(0o644)


def test_query_errors_are_not_taken_for_damage(good: Path) -> None:
    reg = Registry.open(good)
    try:
        with pytest.raises(duckdb.BinderException):
            reg.query("SELECT checksum FROM experiments")  # a bad query, not a damaged file
        with pytest.raises(duckdb.Error) as info:
            reg.query("COPY (SELECT 1) TO '/nonexistent-folder/x/y.parquet' (FORMAT parquet)")
        assert not isinstance(info.value, PromolabError) and not isinstance(info.value, RegistryFileError)
    finally:
        reg.close()


def test_open_while_this_process_has_another_connection(good: Path, coupon) -> None:
    """A plain DuckDB connection in this process (the read-only check cannot join it): the
    checks run on a connection that can, as before."""
    other = duckdb.connect(str(good))
    try:
        reg = Registry.open(good)
        assert not reg.read_only and reg.experiment_keys() == [coupon.key]
        reg.close()
    finally:
        other.close()
