"""HTTP service under load: single assigns, batched events, local evaluation — one run.

    .venv/bin/python benchmarks/bench_service.py [--seconds 10] [--concurrency 16] [--repeat 3]
        [--generator wrk|httpx] [--pin] [--batches 30] [--workers 1,2]

For each N of ``--workers`` (default 1,2) starts the real server (``promolab serve
--workers N``: N uvicorn processes on one port, uvloop + httptools, each with its own
writer thread; their commits take turns on the registry file's lock) on 127.0.0.1 on a
fresh temp registry with one running experiment (checkout-coupon: targeting, layer,
50 % coverage). Before measuring it checks that N distinct processes answer
(``X-Promolab-Pid`` of ``/readyz`` over fresh connections), then measures, bounded in
count and time:

1. single assigns, ``POST /v1/assign``, every request a new user (the worst case: each
   assigned user enters the first-exposure map and has an exposure buffered):
   a. closed loop: ``--concurrency`` connections for ``--seconds``, ``--repeat`` times:
      requests/s, p50, p99, the server's CPU per request (from /proc) and the load average;
   b. paced: 8 connections each waiting ``--pace-ms`` between requests (about 2,000
      requests/s offered), ``--repeat`` times: p50 and p99 at the issue-5 target rate.
   The load generator is ``wrk`` (C; Debian package ``wrk``, driven by a generated Lua
   script) when installed, else an asyncio httpx client. With ``--pin`` (2+ cores, N = 1
   only) the server runs on core 0 and wrk on core 1 (``taskset``), so the generator
   does not take the server's CPU; with N > 1 nothing is pinned, since the server's
   processes then need every core (and share them with the generator). Other tenants of
   a shared machine can take CPU too, which is why the load average is printed next to
   every run. Server CPU is summed over the server's whole process tree, and split by
   worker process, so an unbalanced spread of connections shows;
2. batched events: ``--batches`` batches of 10,000 orders sent 3 at a time (bodies
   pre-encoded), each acknowledged after its commit: events ingested and committed per s.
   After the server stops (SIGTERM to its process group) the rows are counted in the
   registry file (read-only), against the batches sent;
3. the local-evaluation client (``promolab.client``), against the first server only:
   assigns/s in-process, and the ratio over that server's HTTP assigns/s from step 1.

Last, a table: N -> assigns/s (median of the closed-loop runs) and events/s, each with
its ratio to the first N of the list (N = 1 by default), measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
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
    """User + system CPU time of a process (Linux /proc); 0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (Linux /proc): the server, its workers, their report workers."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


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


def start(db: Path, port: int, pin: bool, workers: int) -> subprocess.Popen:
    """``promolab serve --workers N`` in a process group of its own (stopped by :func:`stop`)."""
    cmd = [sys.executable, "-c", "from promolab.cli import main; main()", "serve", "--db", str(db),
           "--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """SIGTERM to the server's process group; wait until every process of the group is gone
    (the workers flush their writers on the way out), so the registry can be read after."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    proc.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("server processes still running 60 s after SIGTERM (killed)")


async def _pids_burst(url: str, n: int) -> list[str]:
    async def one() -> str:
        async with httpx.AsyncClient(timeout=5) as fresh:  # a client of its own: a new connection
            r = await fresh.get(f"{url}/readyz")
            return r.headers.get("X-Promolab-Pid", "?") if r.status_code == 200 else "?"

    return list(await asyncio.gather(*(one() for _ in range(n))))


def serving_pids(url: str, workers: int, timeout: float = 60.0) -> tuple[set[int], int]:
    """Distinct ``X-Promolab-Pid`` seen over fresh connections, one at a time and in bursts of
    concurrent ones, until ``workers`` of them answered (each ready) or ``timeout``; and the
    number of connections it took."""
    seen: set[str] = set()
    probes = 0
    deadline = time.monotonic() + timeout
    while len(seen - {"?"}) < workers and time.monotonic() < deadline:
        for _ in range(8):
            r = httpx.get(f"{url}/readyz", timeout=5)  # no client kept: each call a fresh connection
            seen.add(r.headers.get("X-Promolab-Pid", "?") if r.status_code == 200 else "?")
        seen.update(asyncio.run(_pids_burst(url, 16)))
        probes += 24
        if len(seen - {"?"}) < workers:
            time.sleep(0.2)
    return {int(p) for p in seen - {"?"}}, probes


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


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk_assigns(url: str, key: str, seconds: float, connections: int, pin: bool, pace_ms: float, tag: str,
                script: Path) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url]
    if pin:
        cmd = ["taskset", "-c", "1", *cmd]
    env = {**os.environ, "PL_KEY": key, "PL_PACE_MS": str(pace_ms), "PL_PREFIX": tag}
    c0 = children_cpu()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60).stdout
    client_cpu = children_cpu() - c0
    m = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", out)
    if m is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    n, duration, p50, p99, errors, timeouts = m.groups()
    return {"requests": int(n), "rps": int(n) / float(duration), "p50_ms": float(p50), "p99_ms": float(p99),
            "errors": int(errors) + int(timeouts), "concurrency": connections, "client_cpu_s": client_cpu}


async def single_assigns(url: str, key: str, seconds: float, concurrency: int, tag: str = "") -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as http:
        async def worker(w: int, until: float, record: bool) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < until:
                body = json.dumps({"user_id": f"{tag}w{w}-u{i}", "attributes": {"country": "US"}}).encode()
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
        c0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w + 1000, t0 + seconds, True) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
        client_cpu = time.process_time() - c0
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "rps": len(lat) / elapsed, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": errors, "concurrency": concurrency,
            "client_cpu_s": client_cpu}


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
    return {"events": stored, "events_per_s": stored / elapsed, "batch_size": size, "seconds": elapsed,
            "sent": batches * size, "requests": batches}


def stored_events(db: Path) -> int:
    """Rows of the bench's events in the registry file, read after the server stopped."""
    from promolab.store import Registry

    reg = Registry(db, read_only=True)
    try:
        return int(reg.query("SELECT count(*) AS n FROM events WHERE source = 'bench'")["n"].iloc[0])
    finally:
        reg.close()


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


def measured(proc: subprocess.Popen, workers: set[int], run) -> dict:
    """Run one load test; add the server's CPU per request (its whole process tree), the share
    of each worker process in it, and the load average around it."""
    tree = process_tree(proc.pid)
    load0 = load_average()
    c0 = {pid: cpu_seconds(pid) for pid in tree}
    res = run()
    used = {pid: cpu_seconds(pid) - c for pid, c in c0.items()}
    total = sum(used.values())
    res["server_cpu_ms"] = total / max(res["requests"], 1) * 1e3
    res["split"] = sorted((used.get(pid, 0.0) / total if total else 0.0 for pid in workers), reverse=True)
    res["load"] = (load0, load_average())
    return res


def split(r: dict) -> str:
    return "" if len(r["split"]) < 2 else "  split " + "/".join(f"{s:.0%}" for s in r["split"])


def line(label: str, r: dict) -> str:
    return (f"{label}: {r['rps']:8,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
            f"server CPU {r['server_cpu_ms'] * 1e3:5.0f} µs/req{split(r)}  "
            f"client CPU {r['client_cpu_s'] / max(r['requests'], 1) * 1e6:4.0f} µs/req  "
            f"{r['requests']:,} req, {r['errors']} errors  load {r['load'][0]:.2f}->{r['load'][1]:.2f}")


def bench_server(args, n: int, tmp: Path, script: Path, pin: bool, local: bool) -> dict:
    """Everything measured against one ``serve --workers n`` on a fresh registry."""
    db = tmp / f"bench-{n}.duckdb"
    key = prepare(db)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    load_start = load_average()
    proc = start(db, port, pin, n)
    out: dict = {"workers": n, "pin": pin, "closed": [], "paced": [], "local": None, "load_start": load_start}
    try:
        pids, probes = serving_pids(url, n)
        tree = set(process_tree(proc.pid))
        out["pids"], out["probes"], out["foreign"] = pids, probes, pids - tree
        if len(pids) != n or pids - tree:
            raise RuntimeError(f"serve --workers {n}: {len(pids)} distinct processes answered over {probes} "
                               f"fresh connections ({sorted(pids)}; not in the server's tree: "
                               f"{sorted(pids - tree)})")
        for i in range(args.repeat):
            tag = f"n{n}-"
            if args.generator == "wrk":
                if i == 0:  # warm-up
                    wrk_assigns(url, key, 1, args.concurrency, pin, 0, f"{tag}warm", script)
                out["closed"].append(measured(proc, pids, lambda: wrk_assigns(
                    url, key, args.seconds, args.concurrency, pin, 0, f"{tag}c{i}", script)))
                out["paced"].append(measured(proc, pids, lambda: wrk_assigns(
                    url, key, args.seconds, 8, pin, args.pace_ms, f"{tag}p{i}", script)))
            else:
                out["closed"].append(measured(proc, pids, lambda: asyncio.run(
                    single_assigns(url, key, args.seconds, args.concurrency, f"{tag}c{i}"))))
        events = measured(proc, pids, lambda: asyncio.run(batched_events(url, key, args.batches)))
        out["events"] = events
        if local:
            out["local"] = local_client(url, key)
    finally:
        stop(proc)
    out["events"]["rows"] = stored_events(db)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="per load-test run")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the closed-loop runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each load test")
    parser.add_argument("--pace-ms", type=float, default=2.5, help="pause per connection in the paced runs")
    parser.add_argument("--generator", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx")
    parser.add_argument("--pin", action="store_true",
                        help="with --workers 1: pin the server to core 0 and the generator to core 1 (taskset)")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated server process counts, each measured (the first is the baseline)")
    args = parser.parse_args()
    try:
        counts = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        parser.error(f"--workers: {args.workers!r} is not a comma-separated list of process counts")
    if not counts or any(not 1 <= w <= 64 for w in counts):
        parser.error("--workers: process counts from 1 to 64")
    can_pin = args.pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "assign.lua"
        script.write_text(WRK_SCRIPT)
        for k, n in enumerate(counts):
            runs.append(bench_server(args, n, Path(tmp), script, can_pin and n == 1, local=k == 0))

    if args.generator == "wrk":
        generator = "wrk (C), 1 thread"
    else:
        generator = "asyncio httpx (Python, 1 process), on the same cores as the server"
    print(f"machine: {os.cpu_count()} cores, load average (1/5/15 min) at the end "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}; load generator: {generator}; "
          f"every request a new user; servers: uvicorn (uvloop, httptools), a fresh registry each")
    for r in runs:
        n = r["workers"]
        pinning = ("server pinned to core 0, generator to core 1" if r["pin"] else
                   "not pinned (the server's processes need every core)" if n > 1 else "not pinned")
        print(f"\n== serve --workers {n}: {len(r['pids'])} distinct processes answered /readyz over "
              f"{r['probes']} fresh connections (pids {', '.join(map(str, sorted(r['pids'])))}); {pinning}; "
              f"load {r['load_start']:.2f} at start")
        for i, c in enumerate(r["closed"]):
            print(line(f"single assigns, {c['concurrency']} conns, run {i + 1}", c))
        for i, c in enumerate(r["paced"]):
            print(line(f"paced ({args.pace_ms:g} ms/conn), 8 conns, run {i + 1}", c))
        best = max(r["closed"], key=lambda c: c["rps"])
        print(f"best closed-loop run: server CPU {best['server_cpu_ms']:.3f} ms per assign "
              f"= at most {1e3 / best['server_cpu_ms']:,.0f} req/s per fully available core")
        e = r["events"]
        check = "all stored" if e["rows"] == e["sent"] == e["events"] else "MISMATCH"
        print(f"batched events : {e['events_per_s']:,.0f} events/s ingested and committed "
              f"({e['events']:,} events in {e['seconds']:.2f} s, batches of {e['batch_size']:,}, 3 at a time; "
              f"server CPU {e['server_cpu_ms']:.0f} ms/batch{split(e)}; load {e['load'][0]:.2f}->{e['load'][1]:.2f}); "
              f"registry after stop: {e['rows']:,} rows of {e['sent']:,} sent: {check}")
        if r["local"] is not None:
            loc, med = r["local"], float(np.median([c["rps"] for c in r["closed"]]))
            print(f"local client   : {loc['single_per_s']:,.0f} assigns/s one at a time "
                  f"= {loc['single_per_s'] / med:.1f}x HTTP (median, this server); vectorised "
                  f"{loc['vectorised_per_s']:,.0f}/s = {loc['vectorised_per_s'] / med:,.0f}x HTTP")

    base = runs[0]
    base_rps = float(np.median([c["rps"] for c in base["closed"]]))
    base_eps = base["events"]["events_per_s"]
    print(f"\nworkers | assigns/s (median of {args.repeat}; min-max) | p50 ms | p99 ms | x N={base['workers']} "
          f"| events/s | x N={base['workers']} | rows stored")
    for r in runs:
        rps = [c["rps"] for c in r["closed"]]
        med = float(np.median(rps))
        p50 = float(np.median([c["p50_ms"] for c in r["closed"]]))
        p99 = float(np.median([c["p99_ms"] for c in r["closed"]]))
        e = r["events"]
        print(f"{r['workers']:>7} | {med:>9,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | {p50:6.2f} | {p99:6.2f} | "
              f"{med / base_rps:5.2f}x | {e['events_per_s']:>8,.0f} | {e['events_per_s'] / base_eps:5.2f}x | "
              f"{e['rows']:,}/{e['sent']:,}")


if __name__ == "__main__":
    main()
