"""Assignment throughput against what a user would otherwise run, all in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_assign.py [--sizes 1000000 10000000] [--repeat 3]

Ids are realistic and of mixed lengths, never truncated: decimal ids ("48213"),
"user-<n>", e-mail-like "c<n>@shop.example" and UUID4 strings, shuffled; the
benchmark checks that every id is distinct and that the array holds them unchanged.

Baselines, per user in a Python loop, timed on a sample of ``--sample`` ids and scaled
(their cost per id does not depend on n):

* xxhash loop: ``xxhash.xxh64_intdigest(salt + ":" + id)`` mapped to its top 53 bits - the
  same hash and draw as promolab, without vectorisation (the honest scalar baseline);
* GrowthBook's Python SDK: ``gbhash(seed, id, 2)`` (FNV-1a 32, twice) and
  ``chooseVariation`` over ``getBucketRanges(3, coverage, weights)``, per user, as its
  ``run`` does for one user.

promolab paths: ``hash_uniform`` (one draw) and ``assign`` (full coverage: one draw; a
layer at a 50 % ramp: three draws) from a numpy str array, and both from a Python list
and from a pandas ``string[pyarrow]`` column (hashed from its Arrow buffers). Each
timing is the median of ``--repeat`` runs; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import xxhash
from growthbook.core import chooseVariation, gbhash, getBucketRanges

from promolab.assign import assign, hash_uniform
from promolab.spec.model import Experiment, Layer, Metric, Variant

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import machine  # noqa: E402

SALT = "promo:promo:variant"


def median_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def mixed_ids(n: int, seed: int = 7) -> np.ndarray:
    """``n`` distinct ids of four realistic shapes and 1-36 characters, shuffled."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4, n)
    numbers = rng.permutation(n) + 1  # distinct within each shape
    out = np.empty(n, dtype=object)
    for k, make in enumerate((str, lambda i: f"user-{i}", lambda i: f"c{i}@shop.example", None)):
        rows = np.flatnonzero(kind == k)
        if make is None:
            out[rows] = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in rows]
        else:
            out[rows] = [make(int(i)) for i in numbers[rows]]
    return out


def xxhash_loop(ids: list[str]) -> list[float]:
    prefix = SALT + ":"
    return [(xxhash.xxh64_intdigest((prefix + u).encode()) >> 11) * 2.0**-53 for u in ids]


def growthbook_loop(ids: list[str]) -> list[int]:
    ranges = getBucketRanges(3, 1.0, [1 / 3, 1 / 3, 1 / 3])
    return [chooseVariation(gbhash("promo", u, 2), ranges) for u in ids]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=200_000)
    args = parser.parse_args()
    variants = (Variant("control", "C", 1), Variant("ten_off", "10%", 1), Variant("ship", "FS", 1))
    metrics = (Metric("m", "binomial"),)
    full = Experiment("promo", "promo", "h", "o", variants, "control", metrics)
    ramped = Experiment("promo", "promo", "h", "o", variants, "control", metrics,
                        coverage=0.5, layer=Layer("checkout", 0, 0.5))
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    sample = mixed_ids(args.sample, seed=1).tolist()
    check = hash_uniform(sample[:1000], SALT)
    assert np.array_equal(check, np.asarray(xxhash_loop(sample[:1000]))), "promolab and the xxhash loop disagree"
    per_id = {"xxhash loop": median_of(lambda: xxhash_loop(sample), args.repeat) / len(sample),
              "GrowthBook SDK": median_of(lambda: growthbook_loop(sample), args.repeat) / len(sample)}
    for name, s in per_id.items():
        print(f"baseline {name:<15} {1 / s / 1e6:6.2f} M ids/s (median of {args.repeat}, {len(sample):,} ids)")
    for n in args.sizes:
        ids = mixed_ids(n)
        lengths = np.fromiter((len(u) for u in ids), dtype=np.int64, count=n)
        arr = ids.astype(str)
        assert len(set(ids.tolist())) == n, "ids are not distinct"
        assert np.array_equal(np.char.str_len(arr), lengths), "the array truncated ids"
        print(f"n={n:,}: {n:,} distinct ids, {lengths.min()}-{lengths.max()} characters "
              f"(mean {lengths.mean():.1f}), dtype {arr.dtype}")
        as_list = arr.tolist()
        column = pd.Series(as_list, dtype="string[pyarrow]")
        rows = [
            ("hash_uniform, numpy str array", lambda: hash_uniform(arr, "s")),
            ("assign, full coverage (1 draw)", lambda: assign(full, arr)),
            ("assign, layer + 50% ramp (3 draws)", lambda: assign(ramped, arr)),
            ("hash_uniform, Python list", lambda: hash_uniform(as_list, "s")),
            ("assign, full coverage, Python list", lambda: assign(full, as_list)),
            ("hash_uniform, pandas Arrow column", lambda: hash_uniform(column, "s")),
            ("assign, full coverage, Arrow column", lambda: assign(full, column)),
        ]
        for label, fn in rows:
            secs = median_of(fn, args.repeat)
            rate = n / secs
            print(f"  {label:<36} {rate / 1e6:6.1f} M ids/s {secs:7.3f} s  "
                  + "  ".join(f"x{rate * s:5.1f} vs {name}" for name, s in per_id.items()))
        del as_list, column
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
