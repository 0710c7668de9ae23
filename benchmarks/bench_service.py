"""HTTP service under load: single assigns, batched events, local evaluation — one run.

    .venv/bin/python benchmarks/bench_service.py [--seconds 10] [--concurrency 16] [--repeat 3]
        [--generator wrk|httpx] [--no-pin] [--batches 30]

Starts the real server (``promolab serve``, one uvicorn process, uvloop + httptools) on
127.0.0.1 on a temp registry with one running experiment (checkout-coupon: targeting,
layer, 50 % coverage), then measures, bounded in count and time:

1. single assigns, ``POST /v1/assign``, every request a new user (the worst case: each
   assigned user enters the first-exposure map and has an exposure buffered):
   a. closed loop: ``--concurrency`` connections for ``--seconds``, ``--repeat`` times:
      requests/s, p50, p99, the server's CPU per request (from /proc) and the load average;
   b. paced: 8 connections each waiting ``--pace-ms`` between requests (about 2,000
      requests/s offered), ``--repeat`` times: p50 and p99 at the issue-5 target rate.
   The load generator is ``wrk`` (C; Debian package ``wrk``, driven by a generated Lua
   script) when installed, else an asyncio httpx client. With ``--pin`` (default on 2+
   cores) the server runs on core 0 and wrk on core 1 (``taskset``), so the generator
   does not take the server's CPU; other tenants of a shared machine still can, which
   is why the load average is printed next to every run;
2. batched events: ``--batches`` batches of 10,000 orders sent 3 at a time (bodies
   pre-encoded), each acknowledged after its commit: events ingested and committed per s;
3. the local-evaluation client (``promolab.client``): assigns/s in-process, and the
   ratio over HTTP assigns/s measured in step 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
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


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def start(db: Path, port: int, pin: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from promolab.cli import main; main()", "serve", "--db", str(db),
           "--port", str(port), "--log-level", "warning"]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


WRK_SCRIPT = r"""
local n = 0
local pace = tonumber(os.getenv("PL_PACE_MS") or "0")
local prefix = os.getenv("PL_PREFIX")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PL_KEY")
if pace > 0 then
  function delay() return pace end
end
request = function()
  n = n + 1
  local body = '{"user_id":"' .. prefix .. '-' .. n .. '","attributes":{"country":"US"}}'
  return wrk.format(nil, "/v1/assign", nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.6f %.3f %.3f %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end
"""


def wrk_assigns(url: str, key: str, seconds: float, connections: int, pin: bool, pace_ms: float, tag: str,
                script: Path) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url]
    if pin:
        cmd = ["taskset", "-c", "1", *cmd]
    env = {**os.environ, "PL_KEY": key, "PL_PACE_MS": str(pace_ms), "PL_PREFIX": tag}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", out)
    if m is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    n, duration, p50, p99, errors, timeouts = m.groups()
    return {"requests": int(n), "rps": int(n) / float(duration), "p50_ms": float(p50), "p99_ms": float(p99),
            "errors": int(errors) + int(timeouts), "concurrency": connections}


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


def measured(proc: subprocess.Popen, run) -> dict:
    """Run one load test; add the server's CPU per request and the load average around it."""
    load0, c0 = load_average(), cpu_seconds(proc.pid)
    res = run()
    res["server_cpu_ms"] = (cpu_seconds(proc.pid) - c0) / max(res["requests"], 1) * 1e3
    res["load"] = (load0, load_average())
    return res


def line(label: str, r: dict) -> str:
    return (f"{label}: {r['rps']:8,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
            f"server CPU {r['server_cpu_ms'] * 1e3:5.0f} µs/req  {r['requests']:,} req, {r['errors']} errors  "
            f"load {r['load'][0]:.2f}->{r['load'][1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="per load-test run")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the closed-loop runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each load test")
    parser.add_argument("--pace-ms", type=float, default=2.5, help="pause per connection in the paced runs")
    parser.add_argument("--generator", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx")
    parser.add_argument("--pin", action="store_true", help="pin the server to core 0 and wrk to core 1 (taskset)")
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    pin = args.pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        script = Path(tmp) / "assign.lua"
        script.write_text(WRK_SCRIPT)
        key = prepare(db)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start(db, port, pin)
        closed, paced = [], []
        try:
            for i in range(args.repeat):
                if args.generator == "wrk":
                    if i == 0:  # warm-up
                        wrk_assigns(url, key, 1, args.concurrency, pin, 0, "warm", script)
                    closed.append(measured(proc, lambda: wrk_assigns(url, key, args.seconds, args.concurrency,
                                                                     pin, 0, f"c{i}", script)))
                    paced.append(measured(proc, lambda: wrk_assigns(url, key, args.seconds, 8, pin,
                                                                    args.pace_ms, f"p{i}", script)))
                else:
                    closed.append(measured(proc, lambda: asyncio.run(
                        single_assigns(url, key, args.seconds, args.concurrency))))
            events = asyncio.run(batched_events(url, key, args.batches))
            local = local_client(url, key)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    generator = (f"wrk (C), 1 thread, {'pinned to core 1, server to core 0' if pin else 'not pinned'}"
                 if args.generator == "wrk" else "asyncio httpx (Python), same cores as the server")
    print(f"machine: {os.cpu_count()} cores; server: 1 uvicorn process (uvloop, httptools); "
          f"load generator: {generator}; every request a new user")
    for i, r in enumerate(closed):
        print(line(f"single assigns, {r['concurrency']} conns, run {i + 1}", r))
    for i, r in enumerate(paced):
        print(line(f"paced ({args.pace_ms:g} ms/conn), 8 conns, run {i + 1}", r))
    assigns = max(closed, key=lambda r: r["rps"])
    print(f"best closed-loop run: server CPU {assigns['server_cpu_ms']:.3f} ms per assign "
          f"= at most {1e3 / assigns['server_cpu_ms']:,.0f} req/s per fully available core")
    print(f"batched events : {events['events_per_s']:,.0f} events/s ingested and committed "
          f"({events['events']:,} events in {events['seconds']:.2f} s, batches of {events['batch_size']:,})")
    print(f"local client   : {local['single_per_s']:,.0f} assigns/s one at a time "
          f"= {local['single_per_s'] / assigns['rps']:.1f}x HTTP; vectorised {local['vectorised_per_s']:,.0f}/s "
          f"= {local['vectorised_per_s'] / assigns['rps']:,.0f}x HTTP")


if __name__ == "__main__":
    main()
