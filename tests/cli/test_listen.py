"""``check_listen``: where ``promolab serve`` and ``promolab dashboard`` listen is checked when the
flags enter: one line naming the flag (exit 2), nothing written, the server never started."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.cli import run
from promolab.cli.listen import check_listen
from promolab.errors import InputError


def test_a_free_local_port_passes() -> None:
    check_listen("127.0.0.1", 0)
    check_listen("localhost", 0)


@pytest.mark.parametrize(("host", "port", "field"), [
    ("999.1.1.1", 8000, "--host"),  # does not resolve
    ("8.8.8.8", 8000, "--host"),  # resolves, not this machine's
    ("a" * 300, 8000, "--host"),  # an idna label too long
    ("x\x00y", 8000, "--host"),
    ("☃", 8000, "--host"),
    ("127.0.0.1", 65536, "--port"),
    ("127.0.0.1", -1, "--port"),
])
def test_a_bad_address_names_the_flag(host: str, port: int, field: str) -> None:
    with pytest.raises(InputError) as exc:
        check_listen(host, port)
    assert exc.value.field == field


def test_a_port_in_use_names_the_port() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(InputError) as exc:
            check_listen("127.0.0.1", port)
    assert exc.value.field == "--port" and "free port" in exc.value.expected


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_any_host_text_passes_or_is_refused_in_one_line(host: str) -> None:
    try:
        check_listen(host, 0)
    except InputError as exc:
        assert exc.field == "--host"


@pytest.mark.parametrize("command", ["dashboard", "serve"])
def test_the_commands_refuse_before_writing_anything(command: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.duckdb"
    assert run([command, "--db", str(db), "--host", "999.1.1.1", "--port", "8765"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --host: got '999.1.1.1'") and "\n" not in err
    assert not db.exists()
