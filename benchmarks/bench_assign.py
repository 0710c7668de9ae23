"""Assignment throughput: vectorised XXH64 vs a per-user hashlib loop, same run.

    .venv/bin/python benchmarks/bench_assign.py [--sizes 1000000 10000000]

Ids are typical ("user-1234567"). Reported: ids/s from a numpy string array for
hash_uniform (one draw), assign at full coverage (one draw) and assign in a layer at a
50 % ramp (layer, coverage and variant draws); hash_uniform from a Python list; and the
ratio over the baseline: a per-user ``hashlib.md5`` loop producing the
same kind of [0, 1) draw, timed on a 200k sample and scaled.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from promolab.assign import assign, hash_uniform
from promolab.spec.model import Experiment, Layer, Metric, Variant

BASELINE_SAMPLE = 200_000


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def hashlib_loop(ids: list[str], salt: str) -> list[float]:
    prefix = salt + ":"
    return [
        int.from_bytes(hashlib.md5((prefix + u).encode()).digest()[:8], "big") / 2**64
        for u in ids
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    variants = (Variant("control", "C", 1), Variant("ten_off", "10%", 1), Variant("ship", "FS", 1))
    metrics = (Metric("m", "binomial"),)
    full = Experiment("promo", "promo", "h", "o", variants, "control", metrics)
    ramped = Experiment(
        "promo", "promo", "h", "o", variants, "control", metrics,
        coverage=0.5, layer=Layer("checkout", 0, 0.5),
    )
    sample = [f"user-{i:07d}" for i in range(BASELINE_SAMPLE)]
    base_s = best_of(lambda: hashlib_loop(sample, "promo:promo:variant"), 3) / BASELINE_SAMPLE
    print(f"baseline hashlib.md5 loop: {1 / base_s / 1e6:.2f} M ids/s "
          f"(timed on {BASELINE_SAMPLE:,} ids)")
    for n in args.sizes:
        arr = np.char.add("user-", np.arange(1_000_000, 1_000_000 + n).astype(str)).astype("U12")
        repeat = 3 if n <= 2_000_000 else 2
        rows = [
            ("hash_uniform, numpy str array", best_of(lambda: hash_uniform(arr, "s"), repeat)),
            ("assign, full coverage (1 draw)", best_of(lambda: assign(full, arr), repeat)),
            ("assign, layer + 50% ramp (3 draws)", best_of(lambda: assign(ramped, arr), repeat)),
        ]
        as_list = arr.tolist()
        rows.append(("hash_uniform, Python list", best_of(lambda: hash_uniform(as_list, "s"), 1)))
        del as_list
        for label, secs in rows:
            rate = n / secs
            print(f"n={n:>11,}  {label:<36} {rate / 1e6:7.1f} M ids/s  "
                  f"{secs:6.3f} s  x{rate * base_s:6.1f} vs hashlib loop")


if __name__ == "__main__":
    main()
