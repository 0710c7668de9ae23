"""Scale: the DuckDB analysis at 10 M / 50 M / 100 M events, and Spark local vs DuckDB.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000000 50000000 100000000] [--no-spark]

Synthetic Parquet (written by DuckDB itself into the gitignored ``bench-data/``, reused
when present): ``events_<N>.parquet`` with N rows (user_id, event, value, ts; one user
per 10 events on average; views, carts, orders with a value, refunds) and
``exposures_<N>.parquet`` (N/10 users over three variants of checkout-coupon).

Measured per size, each in a fresh child process: the report SQL that ``promolab
report`` runs (``experiment_stats_sql``: per-user aggregation of exposures ⋈ events
from first exposure on, then per-variant n, Σy, Σy², ratio cross sums), cold (first
run) and warm (best of the next two), and the child's peak RSS (``ru_maxrss``). Spark
runs the same SQL (transpiled by sqlglot) on the 10 M files in local[2], also warm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from child import run_child  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
USERS_PER_EVENT = 0.1
SPEC = ROOT / "experiments" / "checkout-coupon.toml"


def generate(n_events: int, folder: Path = DATA) -> tuple[Path, Path]:
    """events_<N>.parquet and exposures_<N>.parquet, written by DuckDB (skipped if present)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    events, exposures = folder / f"events_{n_events}.parquet", folder / f"exposures_{n_events}.parquet"
    users = max(int(n_events * USERS_PER_EVENT), 3)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    if not exposures.exists():
        con.execute(f"""
            COPY (SELECT 'checkout-coupon' AS experiment_key, 'u' || i AS user_id,
                         ['no-coupon', 'pct10', 'free-shipping'][1 + (hash(i) % 3)::INT] AS variant_key,
                         TIMESTAMP '2025-03-01' + INTERVAL 1 SECOND * (hash(i + 7) % (7 * 86400))::BIGINT
                             AS first_exposed_at
                  FROM range({users}) t(i))
            TO '{exposures}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    if not events.exists():
        con.execute(f"""
            COPY (SELECT 'u' || (hash(i) % {users}) AS user_id,
                         CASE WHEN r < 0.60 THEN 'view' WHEN r < 0.80 THEN 'add_to_cart'
                              WHEN r < 0.97 THEN 'order' ELSE 'refund' END AS event,
                         CASE WHEN r >= 0.80 AND r < 0.97 THEN round(5 + 200 * random() * random(), 2)
                              ELSE 0.0 END AS value,
                         TIMESTAMP '2025-02-26' + INTERVAL 1 SECOND * (hash(i + 13) % (21 * 86400))::BIGINT AS ts
                  FROM (SELECT i, random() AS r FROM range({n_events}) t(i)))
            TO '{events}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    con.close()
    return events, exposures


def report_sql() -> str:
    from promolab.analysis.sql import experiment_stats_sql
    from promolab.spec import parse_experiment

    return experiment_stats_sql(parse_experiment(SPEC.read_text(encoding="utf-8"), source=str(SPEC)))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed_runs(run, repeats: int = 3) -> tuple[float, float, object]:
    """Run ``run()`` ``repeats`` times: (first run's seconds, best later run's seconds, last result)."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return times[0], min(times[1:]), result


def child_duckdb(events: str, exposures: str) -> dict:
    import duckdb

    sql = report_sql()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW exposures AS SELECT * FROM read_parquet('{exposures}')")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{events}')")
    base = _peak_rss_mb()
    cold, warm, rows = timed_runs(lambda: con.execute(sql).df())
    return {"cold_s": cold, "warm_s": warm, "peak_rss_mb": _peak_rss_mb(),
            "base_rss_mb": base, "users": int(rows["n"].sum()), "rows": rows.to_dict("list")}


def child_spark(events: str, exposures: str) -> dict:
    from promolab.analysis.engines.spark_engine import SparkEngine, spark_session

    t = time.perf_counter()
    spark = spark_session("local[2]", local_dir=DATA / "spark-local")
    start_s = time.perf_counter() - t
    engine = SparkEngine(session=spark)
    spark.read.parquet(exposures).createOrReplaceTempView("exposures")
    spark.read.parquet(events).createOrReplaceTempView("events")
    sql = report_sql()
    times, rows = [], None
    for _ in range(2):
        t = time.perf_counter()
        rows = engine.sql(sql)
        times.append(time.perf_counter() - t)
    spark.stop()
    return {"jvm_start_s": start_s, "cold_s": times[0], "warm_s": min(times[1:]),
            "users": int(rows["n"].sum()), "rows": rows.to_dict("list")}


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import duckdb

    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, DuckDB {duckdb.__version__}")


def _same(a: dict, b: dict) -> bool:
    for key, values in a.items():
        for x, y in zip(values, b[key]):
            if isinstance(x, float) and abs(x - y) > 1e-9 * max(abs(x), abs(y), 1e-300):
                return False
            if not isinstance(x, float) and x != y:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 50_000_000, 100_000_000])
    parser.add_argument("--no-spark", action="store_true", help="Skip Spark local vs DuckDB.")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, events, exposures = args.child
        print(json.dumps((child_duckdb if kind == "duckdb" else child_spark)(events, exposures)))
        return

    print(f"machine: {machine()}")
    table = []
    for n in args.sizes:
        t = time.perf_counter()
        events, exposures = generate(n)
        gen_s = time.perf_counter() - t
        size_mb = (events.stat().st_size + exposures.stat().st_size) / 2**20
        r = run_child(__file__, "duckdb", events, exposures)
        table.append((n, r["users"], size_mb, gen_s, r["cold_s"], r["warm_s"], r["peak_rss_mb"]))
        print(f"  {n:>12,} events: {r['users']:,} users, {size_mb:,.0f} MiB Parquet (generated in {gen_s:.1f} s), "
              f"DuckDB cold {r['cold_s']:.2f} s, warm {r['warm_s']:.2f} s, peak RSS {r['peak_rss_mb']:,.0f} MiB",
              flush=True)
        if n == args.sizes[0] and not args.no_spark:
            s = run_child(__file__, "spark", events, exposures)
            same = _same(r["rows"], s["rows"])
            spark_row = (n, s["jvm_start_s"], s["cold_s"], s["warm_s"], r["warm_s"], same)
            print(f"  Spark local[2] on the same {n:,} events: JVM start {s['jvm_start_s']:.1f} s, "
                  f"cold {s['cold_s']:.2f} s, warm {s['warm_s']:.2f} s = {s['warm_s'] / r['warm_s']:.1f}x DuckDB warm; "
                  f"same statistics (1e-9): {same}", flush=True)

    print("\n| events | users | Parquet MiB | DuckDB cold s | DuckDB warm s | peak RSS MiB | warm ns/event |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, users, size_mb, _, cold, warm, rss in table:
        print(f"| {n / 1e6:,.0f} M | {users / 1e6:,.1f} M | {size_mb:,.0f} | {cold:.2f} | {warm:.2f} | {rss:,.0f} | "
              f"{warm / n * 1e9:.0f} |")
    if not args.no_spark:
        n, start, cold, warm, duck, same = spark_row
        print(f"\n| engine on {n / 1e6:.0f} M events | cold s | warm s | vs DuckDB warm |")
        print("|---|---:|---:|---:|")
        print(f"| DuckDB | {table[0][4]:.2f} | {duck:.2f} | 1.0x |")
        print(f"| Spark local[2] (+{start:.1f} s JVM start) | {cold:.2f} | {warm:.2f} | {warm / duck:.1f}x slower |")
        print(f"\nSpark and DuckDB statistics equal to 1e-9 relative: {same}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "platform"))
    main()
