"""``promolab dashboard`` as a process: the prefetch's low-priority worker (``ui.background``)
starts on its own and ends with the server, however the server is stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child processes from /proc")


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of each live child of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                found.append((int(entry.name), (entry / "cmdline").read_text().replace("\0", " ")))
        except (OSError, IndexError, ValueError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_worker_ends_with_the_server(copy_demo, tmp_path: Path, stop: signal.Signals) -> None:
    db = copy_demo(tmp_path / "demo.duckdb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(sys.executable).with_name("promolab")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from promolab.cli import main; main()"]
    server = subprocess.Popen(command + ["dashboard", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "HOME": str(tmp_path)}, start_new_session=True)
    try:
        deadline, workers = time.monotonic() + 60, []
        while not workers and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)  # the prefetch starts the uplift models once the reports are in and no page is drawn
            workers = [pid for pid, cmd in children(server.pid) if "spawn_main" in cmd]
        assert workers, "no worker process started"
        (worker,) = workers
        deadline = time.monotonic() + 20
        while os.getsid(worker) == os.getsid(server.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker's start-up: a fresh interpreter, then ``lowest_priority``
        assert os.getsid(worker) != os.getsid(server.pid)  # its own session: signals to the server's group miss it
        stopped = time.monotonic()
        os.kill(server.pid, stop)  # the server alone, as a service manager or a `kill` does
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - stopped < 5  # not held up by the worker's job
        deadline = time.monotonic() + 5
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker)
        assert "Traceback" not in server.stderr.read().decode()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
