"""Durability: SIGKILL the real server mid-stream; every acknowledged event survives, once.

The server runs as a subprocess (``promolab serve``) on a temp registry. Four client
threads stream event batches; after some acknowledgements the server is killed with
SIGKILL, restarted on the same file, and every batch that was not acknowledged is sent
again (plus some acknowledged ones, as a client that missed the ack would). Then every
acknowledged or retried event must be stored exactly once, and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from promolab.store import Registry
from promolab.store.keys import create_key

BATCHES = 400
BATCH_SIZE = 500
KILL_AFTER_ACKS = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int, log: Path, *options: str) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from promolab.cli import main; main()", "serve", "--db", str(db),
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *options]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready")


def batch(b: int) -> dict:
    return {"source": "kill9", "events": [
        {"type": "order", "event_id": f"b{b}-e{i}", "user_id": f"u{(b * BATCH_SIZE + i) % 5000}",
         "revenue": float(i % 50)} for i in range(BATCH_SIZE)]}


def test_sigkill_loses_no_acknowledged_event(tmp_path: Path):
    db, log = tmp_path / "kill9.duckdb", tmp_path / "server.log"
    reg = Registry.open(db)
    key = create_key(reg, "sdk")[0]
    reg.close()
    port = free_port()
    server = start_server(db, port, log)
    headers = {"Authorization": f"Bearer {key}"}
    acked: set[int] = set()
    attempted: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()
    next_batch = iter(range(BATCHES))

    def stream():
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            while not killed.is_set():
                with lock:
                    b = next(next_batch, None)
                if b is None:
                    return
                with lock:
                    attempted.add(b)
                try:
                    r = http.post("/v1/events", json=batch(b))
                except httpx.HTTPError:
                    return  # the server died under us: this batch is unacknowledged
                if r.status_code == 200:
                    with lock:
                        acked.add(b)
                        if len(acked) >= KILL_AFTER_ACKS and not killed.is_set():
                            killed.set()
                            os.kill(server.pid, signal.SIGKILL)

    threads = [threading.Thread(target=stream) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    server.wait(10)
    assert killed.is_set() and server.returncode == -signal.SIGKILL
    unacked = sorted(attempted - acked)
    assert acked and unacked, "the kill should land mid-stream, with batches in flight"

    server = start_server(db, port, log)
    try:
        retry = unacked + sorted(acked)[:5]  # every unacknowledged batch, and a few acknowledged ones
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            for b in retry:
                r = http.post("/v1/events", json=batch(b))
                assert r.status_code == 200, r.text
                if b in acked:
                    assert r.json()["inserted_events"] == 0  # a retry is never counted twice
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)

    reg = Registry.open(db)
    try:
        rows = reg.query("SELECT event_id FROM events WHERE source = 'kill9'")
    finally:
        reg.close()
    stored = rows.event_id.tolist()
    assert len(stored) == len(set(stored))  # exactly once
    stored_batches = {int(e.split("-")[0][1:]) for e in stored}
    must_have = acked | set(retry)
    for b in must_have:  # every event of every acknowledged or retried batch
        assert sum(1 for e in stored if e.startswith(f"b{b}-")) == BATCH_SIZE, b
    # whatever else is stored (a batch committed just before the kill, its ack lost) is whole
    for b in stored_batches - must_have:
        assert sum(1 for e in stored if e.startswith(f"b{b}-")) == BATCH_SIZE, b
