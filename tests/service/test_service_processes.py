"""Many processes, one registry file, all real: two service processes under load (assign and
event batches) while the CLI changes experiments, ingests, reports and manages keys, and
the dashboard renders; ``serve --workers 2``; and SIGKILL of one of two services.

Bounds: every CLI command runs with ``$PROMOLAB_LOCK_TIMEOUT=3``, so a command that waited
more than 3 s for the file fails; every acknowledged batch must be stored once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from promolab.store import Registry

from .conftest import bearer, build_registry
from .test_service_kill9 import BATCH_SIZE, batch, free_port, start_server

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
CLI_WAIT = "3"  # seconds a CLI command may wait for the file ($PROMOLAB_LOCK_TIMEOUT)


def cli(db: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PROMOLAB_LOCK_TIMEOUT": CLI_WAIT, "COLUMNS": "200"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from promolab.cli import main; main()", *args, "--db", str(db)],
                          capture_output=True, text=True, env=env, timeout=60)
    return done, time.perf_counter() - t0


def stop(*servers: subprocess.Popen) -> None:
    for s in servers:
        if s.poll() is None:
            s.send_signal(signal.SIGTERM)
    for s in servers:
        s.wait(20)


def eventually(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


class Load:
    """Threads sending assigns (tracked) and event batches to every server, round robin."""

    def __init__(self, ports: list[int], sdk: str, threads: int = 3):
        self.ports, self.sdk = ports, sdk
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked_events: set[str] = set()
        self.assigned: dict[str, str] = {}
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _run(self, worker: int) -> None:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", headers=bearer(self.sdk), timeout=10)
                   for p in self.ports]
        n = 0
        try:
            while not self.stop.is_set():
                http = clients[n % len(clients)]
                user = f"w{worker}-u{n}"
                t0 = time.perf_counter()
                r = http.post("/v1/assign", json={"user_id": user, "experiment": "checkout-coupon",
                                                   "attributes": {"country": "CA"}})
                if r.status_code != 200:
                    self._error(f"assign {r.status_code} {r.text[:200]}")
                else:
                    for a in r.json()["assignments"]:
                        with self.lock:
                            self.assigned[user] = a["variant"]
                ids = [f"w{worker}-n{n}-e{i}" for i in range(20)]
                r = http.post("/v1/events", json={"source": "load", "events": [  # one order, page views
                    {"type": "order", "event_id": e, "user_id": user, "revenue": 10.0} if i == 0 else
                    {"type": "conversion", "name": "page_view", "event_id": e, "user_id": user}
                    for i, e in enumerate(ids)]})
                with self.lock:
                    self.latencies.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    with self.lock:
                        self.acked_events.update(ids)
                else:
                    self._error(f"events {r.status_code} {r.text[:200]}")
                n += 1
        finally:
            for c in clients:
                c.close()

    def _error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def served(port: int, sdk: str) -> dict[str, str]:
    """The experiments a service process serves now (its in-memory catalog) and their status."""
    r = httpx.get(f"http://127.0.0.1:{port}/v1/config", headers=bearer(sdk), timeout=5)
    assert r.status_code == 200, r.text
    return {e["spec"]["key"]: e["status"] for e in r.json()["experiments"]}


def admin_works(port: int, token: str) -> bool:
    r = httpx.get(f"http://127.0.0.1:{port}/v1/experiments/checkout-coupon", headers=bearer(token), timeout=5)
    return r.status_code == 200


def test_two_services_the_cli_and_the_dashboard_share_one_registry(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "shared.duckdb"
    keys = build_registry(db)
    ports = [free_port(), free_port()]
    servers = [start_server(db, p, tmp_path / f"server{i}.log") for i, p in enumerate(ports)]
    timings: dict[str, float] = {}
    try:
        with Load(ports, keys["sdk"]) as load:
            time.sleep(1.0)
            events = tmp_path / "late-orders.csv"
            events.write_text("event_id,user_id,event,value,ts\n"
                              + "".join(f"cli-{i},cli-user-{i},order,5.0,2024-06-01T10:00:00\n" for i in range(300)))
            steps = [
                ("list", ["experiment", "list"]),
                ("show", ["experiment", "show", "checkout-coupon"]),
                ("launch", ["experiment", "launch", "draft-ab"]),
                ("ramp", ["experiment", "ramp", "draft-ab", "40"]),
                ("pause", ["experiment", "pause", "draft-ab"]),
                ("report", ["report", "checkout-coupon", "--json"]),
                ("ingest", ["ingest", str(events), "--kind", "events", "--source", "cli-file"]),
                ("keys create", ["keys", "create", "--kind", "admin", "--name", "from the cli"]),
                ("keys list", ["keys", "list"]),
            ]
            outputs = {}
            for name, args in steps:
                done, seconds = cli(db, *args)
                assert done.returncode == 0, (name, done.stderr[-2000:])
                assert "Traceback" not in done.stderr
                outputs[name], timings[name] = done.stdout, seconds

            # changes made by the CLI reach both service processes (their catalogs and keys)
            for port in ports:
                assert eventually(lambda: served(port, keys["sdk"]).get("draft-ab") == "paused"), port
                assert "checkout-coupon" in served(port, keys["sdk"])
            new_admin = outputs["keys create"].strip()
            assert new_admin.startswith("pl_admin_")
            for port in ports:
                assert eventually(lambda: admin_works(port, new_admin)), port
            report = json.loads(outputs["report"])
            assert report["experiment"] == "checkout-coupon"

            # the dashboard renders every page from the live registry, and shows the CLI's change
            monkeypatch.setenv("PROMOLAB_DB", str(db))
            monkeypatch.setattr(sys, "argv", ["app.py"])
            t0 = time.perf_counter()
            for page in (None, "app_pages/report.py", "app_pages/sequential.py", "app_pages/bandit.py",
                         "app_pages/launch.py"):
                at = AppTest.from_file(str(APP), default_timeout=60).run()
                if page:
                    at.switch_page(page).run()
                assert not at.exception, (page, [e.value for e in at.exception])
            timings["dashboard (5 pages)"] = time.perf_counter() - t0
            done, _ = cli(db, "experiment", "launch", "draft-ab")  # resume: the next rerun shows it running
            assert done.returncode == 0, done.stderr
            for port in ports:
                assert eventually(lambda: served(port, keys["sdk"]).get("draft-ab") == "running"), port
            at = AppTest.from_file(str(APP), default_timeout=60).run()
            assert not at.exception
            lines = [line for m in at.markdown for line in str(m.value).splitlines() if "`draft-ab`" in line]
            assert lines and "· running ·" in lines[0], lines  # the list under the table: name (key) · kind · status
            # the dashboard process does not hold the file: another process can write it at once
            done, seconds = cli(db, "experiment", "ramp", "draft-ab", "60")
            assert done.returncode == 0, done.stderr
            done, timings["stop"] = cli(db, "experiment", "stop", "draft-ab")
            assert done.returncode == 0, done.stderr
            for port in ports:
                assert eventually(lambda: "draft-ab" not in served(port, keys["sdk"])), port
            time.sleep(1.0)
    finally:
        stop(*servers)
    print("\nCLI under load (s):", {k: round(v, 2) for k, v in timings.items()})
    lat = sorted(load.latencies)
    print(f"assign + event batch round trips: {len(lat)}, p50 {lat[len(lat) // 2] * 1e3:.0f} ms, "
          f"max {lat[-1] * 1e3:.0f} ms")
    assert not load.errors, load.errors[:5]
    assert len(load.acked_events) > 100

    reg = Registry.open(db, read_only=True)
    try:
        stored = set(reg.query("SELECT event_id FROM events WHERE source = 'load'").event_id)
        exposed = dict(reg.query("SELECT user_id, variant_key FROM exposures WHERE experiment_key = "
                                 "'checkout-coupon'").itertuples(index=False))
        ingested = int(reg.query("SELECT COUNT(*) AS n FROM events WHERE source = 'cli-file'").n[0])
    finally:
        reg.close()
    missing = load.acked_events - stored
    assert not missing, (len(missing), len(load.acked_events), sorted(missing)[:40])  # every acknowledged event
    assert ingested == 300
    # every tracked assignment was stored as that user's exposure, with the variant served
    assert all(exposed.get(u) == v for u, v in load.assigned.items())


def test_two_services_give_each_user_the_same_variant_and_follow_weight_changes(tmp_path: Path) -> None:
    db = tmp_path / "two.duckdb"
    keys = build_registry(db)
    ports = [free_port(), free_port()]
    servers = [start_server(db, p, tmp_path / f"s{i}.log") for i, p in enumerate(ports)]
    users = [f"same-{i}" for i in range(120)]
    clients = {p: httpx.Client(base_url=f"http://127.0.0.1:{p}", headers=bearer(keys["sdk"]), timeout=10)
               for p in ports}

    def assign(port: int, user: str, experiment: str) -> str | None:
        r = clients[port].post("/v1/assign", json={"user_id": user, "experiment": experiment,
                                                   "attributes": {"country": "CA"}})
        assert r.status_code == 200, r.text
        return {a["experiment"]: a["variant"] for a in r.json()["assignments"]}.get(experiment)

    try:
        for experiment in ("checkout-coupon", "promo-bandit"):
            first = {u: assign(ports[0], u, experiment) for u in users}
            assert {u: assign(ports[1], u, experiment) for u in users} == first
        # server 0 exposed these bandit users; new weights are stored by another process (the
        # library here), and server 1 must still give each of them their first variant
        before = {u: assign(ports[0], u, "promo-bandit") for u in users}
        time.sleep(1.5)  # server 0's writer commits the exposures; server 1 reads them
        reg = Registry.open(db)
        reg.record_weights("promo-bandit", {"none": 0.9, "pct5": 0.05, "pct15": 0.05}, policy="thompson",
                           reason="test: another process")
        reg.close()
        time.sleep(1.5)  # both services pick up the new weights
        assert {u: assign(ports[1], u, "promo-bandit") for u in users} == before
        newcomers = [f"new-{i}" for i in range(120)]
        shares = [assign(ports[1], u, "promo-bandit") for u in newcomers]
        assert shares.count("none") > 90  # the new weights are served (0.9; 0.33 before)
        assert [assign(ports[0], u, "promo-bandit") for u in newcomers] == shares
    finally:
        for c in clients.values():
            c.close()
        stop(*servers)


def test_serve_with_two_worker_processes(tmp_path: Path) -> None:
    db = tmp_path / "workers.duckdb"
    keys = build_registry(db)
    port = free_port()
    log = tmp_path / "workers.log"
    cmd = [sys.executable, "-c", "from promolab.cli import main; main()", "serve", "--db", str(db),
           "--port", str(port), "--workers", "2", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer(keys["sdk"]), timeout=10) as http:
            assert eventually(lambda: _ready(http), 40), log.read_text()[-2000:]
            pids = set()
            for b in range(40):
                r = http.post("/v1/events", json=batch(b))
                assert r.status_code == 200, r.text
            for _ in range(60):
                pids.add(http.get("/readyz").headers.get("x-promolab-pid"))
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as fresh:  # a new connection
                    pids.add(fresh.get("/readyz").headers.get("x-promolab-pid"))
        assert len(pids - {None}) == 2, pids  # both processes answered
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    reg = Registry.open(db, read_only=True)
    try:
        assert int(reg.query("SELECT COUNT(*) AS n FROM events WHERE source = 'kill9'").n[0]) == 40 * BATCH_SIZE
    finally:
        reg.close()


def _ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("victim", [0, 1])
def test_sigkill_of_one_of_two_services_loses_no_acknowledged_event(tmp_path: Path, victim: int) -> None:
    """Four streams over two services; one service is SIGKILLed mid-stream while the other
    keeps committing; after a restart every unacknowledged batch is retried: every
    acknowledged or retried event is stored exactly once."""
    db = tmp_path / "kill9x2.duckdb"
    keys = build_registry(db)
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"s{i}.log" for i in range(2)]
    servers = [start_server(db, p, log) for p, log in zip(ports, logs)]
    acked: set[int] = set()
    attempted: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()
    next_batch = iter(range(160))

    def stream(port: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer(keys["sdk"]), timeout=10) as http:
            while True:
                with lock:
                    b = next(next_batch, None)
                    if b is None:
                        return
                    attempted.add(b)
                try:
                    r = http.post("/v1/events", json=batch(b))
                except httpx.HTTPError:
                    return  # this server died under us
                if r.status_code != 200:
                    return
                with lock:
                    acked.add(b)
                    if len(acked) >= 20 and not killed.is_set():
                        killed.set()
                        os.kill(servers[victim].pid, signal.SIGKILL)

    threads = [threading.Thread(target=stream, args=(ports[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    servers[victim].wait(10)
    assert killed.is_set() and servers[victim].returncode == -signal.SIGKILL
    survivor_batches = len(acked)
    unacked = sorted(attempted - acked)
    assert survivor_batches > 20 and unacked
    servers[victim] = start_server(db, ports[victim], logs[victim])
    try:
        retry = unacked + sorted(acked)[:5]
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[victim]}", headers=bearer(keys["sdk"]),
                          timeout=10) as http:
            for b in retry:
                r = http.post("/v1/events", json=batch(b))
                assert r.status_code == 200, r.text
                if b in acked:
                    assert r.json()["inserted_events"] == 0
    finally:
        stop(*servers)
    reg = Registry.open(db, read_only=True)
    try:
        stored = reg.query("SELECT event_id FROM events WHERE source = 'kill9'").event_id.tolist()
    finally:
        reg.close()
    assert len(stored) == len(set(stored))
    for b in acked | set(retry):
        assert sum(1 for e in stored if e.startswith(f"b{b}-")) == BATCH_SIZE, b
