"""HTTP service under load: single assigns, batched events, local evaluation — one run.

    .venv/bin/python benchmarks/bench_service.py [--seconds 5] [--concurrency 32] [--batches 30]

Starts the real server (``promolab serve``, one uvicorn process, uvloop + httptools) on
127.0.0.1 on a temp registry with one running experiment (checkout-coupon: targeting,
layer, 50 % coverage), then measures, bounded in count and time:

1. single assigns: ``POST /v1/assign`` from an asyncio httpx client with a fixed number
   of concurrent connections for ``--seconds`` (after a 1 s warm-up): requests/s, p50, p99;
2. batched events: ``--batches`` batches of 10,000 orders sent 3 at a time (bodies
   pre-encoded), each acknowledged after its commit: events ingested and committed per s;
3. the local-evaluation client (``promolab.client``): assigns/s in-process, and the
   ratio over HTTP assigns/s measured in step 1.

The load generator shares the machine's cores with the server; its own CPU use is part
of what limits step 1 on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(db: Path) -> str:
    from promolab.spec import load_experiment
    from promolab.store import Registry
    from promolab.store.keys import create_key

    reg = Registry.open(db)
    key = create_key(reg, "sdk", "bench")[0]
    exp = load_experiment(ROOT / "experiments" / "checkout-coupon.toml")
    reg.create_experiment(exp)
    reg.set_status(exp.key, "running")
    reg.close()
    return key


def start(db: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from promolab.cli import main; main()", "serve", "--db", str(db),
           "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


async def single_assigns(url: str, key: str, seconds: float, concurrency: int) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as http:
        async def worker(w: int, until: float, record: bool) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < until:
                body = json.dumps({"user_id": f"w{w}-u{i}", "attributes": {"country": "US"}}).encode()
                t = time.perf_counter()
                r = await http.post("/v1/assign", content=body)
                dt = time.perf_counter() - t
                if r.status_code != 200:
                    errors += 1
                elif record:
                    latencies.append(dt)
                i += 1

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(w, warm, False) for w in range(concurrency)))
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w + 1000, t0 + seconds, True) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "rps": len(lat) / elapsed, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": errors, "concurrency": concurrency}


async def batched_events(url: str, key: str, batches: int, size: int = 10_000, parallel: int = 3) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [json.dumps({"source": "bench", "events": [
        {"type": "order", "event_id": f"b{b}-{i}", "user_id": f"u{i}", "revenue": 12.5, "discount_cost": 0,
         "ts": "2025-06-01T12:00:00Z"} for i in range(size)]}).encode() for b in range(batches)]
    stored = 0
    queue = list(range(batches))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        r = await http.post("/v1/events", content=json.dumps({"source": "warm", "events": [
            {"type": "order", "event_id": "w", "user_id": "u", "revenue": 1}]}).encode())
        assert r.status_code == 200, r.text

        async def worker() -> None:
            nonlocal stored
            while queue:
                b = queue.pop()
                r = await http.post("/v1/events", content=bodies[b])
                assert r.status_code == 200, r.text
                stored += r.json()["inserted_events"]

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(parallel)))
        elapsed = time.perf_counter() - t0
    return {"events": stored, "events_per_s": stored / elapsed, "batch_size": size, "seconds": elapsed}


def local_client(url: str, key: str, n: int = 20_000) -> dict:
    from promolab.client import PromolabClient

    with PromolabClient(url, key, track_exposures=False) as client:
        t0 = time.perf_counter()
        for i in range(n):
            client.assign(f"l{i}", {"country": "US"})
        single = n / (time.perf_counter() - t0)
        ids = [f"v{i}" for i in range(200_000)]
        attrs = [{"country": "US"}] * len(ids)
        t0 = time.perf_counter()
        client.assign_many("checkout-coupon", ids, attrs)
        vector = len(ids) / (time.perf_counter() - t0)
    return {"single_per_s": single, "vectorised_per_s": vector}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        key = prepare(db)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start(db, port)
        try:
            c0 = cpu_seconds(proc.pid)
            assigns = asyncio.run(single_assigns(url, key, args.seconds, args.concurrency))
            # server CPU per request (warm-up included in both numerator and count estimate)
            assigns["server_cpu_ms"] = (cpu_seconds(proc.pid) - c0) / (assigns["requests"] * (1 + 1 / args.seconds)) * 1e3
            events = asyncio.run(batched_events(url, key, args.batches))
            local = local_client(url, key)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(f"machine: {os.cpu_count()} cores; server: 1 uvicorn process (uvloop, httptools); "
          f"load generator: asyncio httpx, {assigns['concurrency']} connections, same machine")
    print(f"single assigns : {assigns['rps']:,.0f} req/s  p50 {assigns['p50_ms']:.2f} ms  "
          f"p99 {assigns['p99_ms']:.2f} ms  ({assigns['requests']:,} requests, {assigns['errors']} errors)")
    print(f"                 server CPU {assigns['server_cpu_ms']:.2f} ms per assign "
          f"= at most {1e3 / assigns['server_cpu_ms']:,.0f} req/s per fully available core")
    print(f"batched events : {events['events_per_s']:,.0f} events/s ingested and committed "
          f"({events['events']:,} events in {events['seconds']:.2f} s, batches of {events['batch_size']:,})")
    print(f"local client   : {local['single_per_s']:,.0f} assigns/s one at a time "
          f"= {local['single_per_s'] / assigns['rps']:.1f}x HTTP; vectorised {local['vectorised_per_s']:,.0f}/s "
          f"= {local['vectorised_per_s'] / assigns['rps']:,.0f}x HTTP")


if __name__ == "__main__":
    main()
