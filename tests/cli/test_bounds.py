"""Every number a command takes that drives work is bounded: an over-bound flag or scenario value
exits 2 at once with one ``error:`` line naming the flag (or file and field), the value and the
bound. Covers ``peeking``, ``simulate``, ``replay``, ``simulate-segments``, ``replay-segments``,
``segment-users`` and ``power``, and the library bounds behind ``segment-users`` and ``power``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import promolab.cli  # noqa: F401  (registers the commands)
from promolab.analysis.rfm import MAX_CLUSTERS, check_k_range, segment_users
from promolab.cli import run
from promolab.errors import InputError
from promolab.stats.power import (MAX_N_PER_VARIANT, MAX_VARIANTS, mde_mean, mde_proportion, sample_size_mean,
                                  sample_size_proportion)

ROOT = Path(__file__).resolve().parents[2]
COUPONS = ROOT / "simulations" / "coupons.toml"
DIFFER = ROOT / "simulations" / "segments" / "differ.toml"
FAST = 1.0  # seconds per refused command: the bound is checked before any work


def refused(argv: list, capsys, *parts: str) -> str:
    """The command exits 2, fast, with exactly one ``error:`` line containing every part."""
    capsys.readouterr()
    start = time.perf_counter()
    code = run([str(a) for a in argv])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert elapsed < FAST, f"{elapsed:.2f}s: {err}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- peeking


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--looks", "100000000"], "error: --looks: got 100000000, expected an integer in [1, 50]"),
        (["--runs", "100000000"], "error: --runs: got 100000000, expected an integer in [1, 1000000]"),
        (["--users-per-look", "1000000000000"],
         "error: --users-per-look: got 1000000000000, expected an integer in [1, 1000000000]"),
        (["--seed", "-1"], "error: --seed: got -1, expected an integer in [0, 9223372036854775807]"),
        (["--rate", "nan"], "error: --rate: got nan, expected a number in (0, 1)"),
        (["--alpha", "inf"], "error: --alpha: got inf, expected a number in (0, 1)"),
    ],
)
def test_peeking_flags_are_bounded(flags, message, capsys):
    assert refused(["peeking", *flags], capsys) == message


# --------------------------------------------------------------------------- simulate


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runs", "100000000"], "error: --runs: got 100000000, expected an integer in [1, 100000]"),
        (["--runs", "0"], "error: --runs: got 0, expected an integer in [1, 100000]"),
        (["--seed", "-1"], "error: --seed: got -1, expected an integer in [0, 9223372036854775807]"),
        (["--workers", "100000"], "error: --workers: got 100000, expected an integer in [1, 64]"),
    ],
)
def test_simulate_flags_are_bounded_before_files_are_read(flags, message, capsys):
    assert refused(["simulate", "no-such-file.toml", *flags], capsys) == message


def test_simulate_runs_override_is_bounded_in_the_totals(capsys):
    refused(["simulate", COUPONS, "--runs", "100000"], capsys,
            f"error: {COUPONS}: --runs × horizon × arms × policies: got 60000000000, expected at most 2,000,000,000",
            "here 100,000 × 50,000 × 4 × 3")


def test_simulate_policy_flags_are_bounded(capsys):
    refused(["simulate", COUPONS, *["--policy", "ucb1"] * 21], capsys,
            f"error: {COUPONS}: --policy: got 21, expected between 1 and 20 policies")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("runs = 200", "runs = 100000000", "runs: got 100000000, expected an integer in [1, 100000]"),
        ("horizon = 50000", "horizon = 1000000000", "horizon: got 1000000000, expected an integer in [1, 100000000]"),
        ("horizon = 50000", "horizon = 1e9", "horizon: got 1000000000.0, expected an integer in [1, 100000000]"),
        ("batch_size = 100", "batch_size = 100000000", "batch_size: got 100000000, expected an integer in [1, 1000000]"),
        ("checkpoints = 50", "checkpoints = 1000000", "checkpoints: got 1000000, expected an integer in [2, 1000]"),
        ("margin_rate = 0.35", "margin_rate = nan", "margin_rate: got nan, expected a number in [0.0, 1.0]"),
        ("runs = 200", "runs = 100000", "runs × horizon × arms × policies: got 60000000000, expected at most"),
        ("floor = 0.02", "floor = 0.02\ndraws = 100000000",
         "policies[0].draws: got 100000000, expected an integer in [1, 1000000]"),
        ("reward_range = 60.0", "reward_range = inf", "policies[1].reward_range: got inf"),
    ],
)
def test_simulate_scenario_values_are_bounded(tmp_path, capsys, old, new, message):
    path = tmp_path / "big.toml"
    text = COUPONS.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    refused(["simulate", path], capsys, f"error: {path}: {message}")


# --------------------------------------------------------------------------- replay


@pytest.fixture(scope="module")
def small_log(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("logs") / "log.csv"
    action = rng.integers(3, size=1000)
    pd.DataFrame({"action": action, "reward": (rng.random(1000) < 0.1).astype(int),
                  "segment": action % 2, "user": np.arange(1000) * 2}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-size", "10000000"], "error: --batch-size: got 10000000, expected an integer in [1, 1000000]"),
        (["--batch-size", "0"], "error: --batch-size: got 0, expected an integer in [1, 1000000]"),
        (["--seed", "-1"], "error: --seed: got -1, expected an integer in [0, 9223372036854775807]"),
        (["--param", "draws=100000000"], "error: --policy.draws: got 100000000, expected an integer in [1, 1000000]"),
        (["--param", "draws=inf"], "error: --policy.draws: got inf, expected an integer in [1, 1000000]"),
        (["--param", "floor=nan"], "error: --policy.floor: got nan, expected a number in [0.0, 1.0]"),
    ],
)
def test_replay_flags_are_bounded(small_log, flags, message, capsys):
    assert refused(["replay", small_log, "--policy", "thompson", "--uniform", *flags], capsys) == message


def test_replay_total_work_is_bounded(small_log, capsys):
    # 1,000 batches of 1 row × 3 million posterior draws each
    refused(["replay", small_log, "--policy", "thompson", "--uniform", "--param", "draws=1000000",
             "--batch-size", "1"], capsys,
            "error: ⌈rows / batch_size⌉ × draws per batch: got 3002003000, expected at most 2,000,000,000",
            "raise batch_size")


def test_replay_log_with_too_many_actions_is_refused(tmp_path, capsys):
    path = tmp_path / "wide.csv"
    pd.DataFrame({"action": np.arange(202) % 101, "reward": 0}).to_csv(path, index=False)
    refused(["replay", path, "--policy", "ucb1", "--uniform"], capsys,
            f"error: {path}: action: got 101, expected at most 100 distinct actions")


# --------------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runs", "100000000"], "error: --runs: got 100000000, expected an integer in [1, 100000]"),
        (["--seed", "-1"], "error: --seed: got -1, expected an integer in [0, 9223372036854775807]"),
    ],
)
def test_simulate_segments_flags_are_bounded(flags, message, capsys):
    assert refused(["simulate-segments", "no-such-file.toml", *flags], capsys) == message


def test_simulate_segments_totals_and_segments_are_bounded(tmp_path, capsys):
    refused(["simulate-segments", DIFFER, "--runs", "100000"], capsys,
            f"error: {DIFFER}: --runs × horizon × arms × segments × policies: got 24000000000, expected at most")
    path = tmp_path / "many.toml"
    segment = '\n[[segments]]\nname = "s{i}"\nshare = 1.0\nrate = [0.02, 0.06, 0.035]\n'
    text = DIFFER.read_text().split("[[segments]]")[0]
    path.write_text(text + "".join(segment.format(i=i) for i in range(1001)) + '\n[[policies]]\nname = "ucb1"\n')
    refused(["simulate-segments", path], capsys, f"error: {path}: segments: got 1001, expected at most 1,000")
    path.write_text(DIFFER.read_text().replace("share = 0.4", "share = inf"))
    refused(["simulate-segments", path], capsys, f"error: {path}: segments[0].share: got inf, expected a share in (0, 1e+06]")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-size", "10000000"], "error: --batch-size: got 10000000, expected an integer in [1, 1000000]"),
        (["--seed", "-2"], "error: --seed: got -2, expected an integer in [0, 9223372036854775807]"),
    ],
)
def test_replay_segments_flags_are_bounded(small_log, flags, message, capsys):
    argv = ["replay-segments", small_log, "--policy", "thompson", "--uniform", "--segment-col", "segment", *flags]
    assert refused(argv, capsys) == message


def test_replay_segments_work_counts_segments(small_log, capsys):
    # 1,000 users as segments is within MAX_SEGMENTS, but 1,000 batches × 1,000 segments × 30,000 draws is not
    refused(["replay-segments", small_log, "--policy", "thompson", "--uniform", "--segment-col", "user",
             "--batch-size", "1"], capsys,
            "error: ⌈rows / batch_size⌉ × draws per batch: got ", "1,000 segments", "raise batch_size")


def test_replay_segments_refuses_an_id_column(tmp_path, capsys):
    path = tmp_path / "ids.csv"
    pd.DataFrame({"action": np.arange(3000) % 2, "reward": 0, "user": np.arange(3000)}).to_csv(path, index=False)
    refused(["replay-segments", path, "--policy", "ucb1", "--uniform", "--segment-col", "user"], capsys,
            "error: --segment-col: got 3000, expected at most 1,000 distinct segments")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--k-max", "1000"], f"error: --k-max: got 1000, expected an integer in [2, {MAX_CLUSTERS}]"),
        (["--k-min", "1"], f"error: --k-min: got 1, expected an integer in [2, {MAX_CLUSTERS}]"),
        (["--k-min", "6", "--k-max", "3"], f"error: --k-max: got 3, expected an integer in [6, {MAX_CLUSTERS}]"),
        (["--seed", str(2**32)], "error: --seed: got 4294967296, expected an integer in [0, 4294967295]"),
    ],
)
def test_segment_users_flags_are_bounded_before_the_registry_opens(tmp_path, flags, message, capsys):
    db = tmp_path / "never.duckdb"
    assert refused(["segment-users", "--db", db, *flags], capsys) == message
    assert not db.exists()


# --------------------------------------------------------------------------- power


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--n", "100000000000"], f"error: --n: got 100000000000, expected an integer in [2, {MAX_N_PER_VARIANT}]"),
        (["--mde", "0.1", "--variants", "1000"], f"error: --variants: got 1000, expected an integer in [2, {MAX_VARIANTS}]"),
        (["--mde", "1e-9"], "error: --mde: got 1e-09, expected an effect detectable with at most "
                            "10,000,000,000 users per variant"),
    ],
)
def test_power_flags_are_bounded(flags, message, capsys):
    assert refused(["power", "--baseline", "0.05", *flags], capsys).startswith(message)


def library_refuses(call, field: str, *parts: str) -> None:
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        call()
    assert time.perf_counter() - start < FAST / 2
    assert err.value.field == field and "\n" not in str(err.value)
    for part in parts:
        assert part in str(err.value)


@pytest.mark.parametrize(
    ("call", "field", "bound"),
    [
        (lambda: mde_proportion(0.05, 10**12), "n_per_variant", f"[2, {MAX_N_PER_VARIANT}]"),
        (lambda: mde_mean(1.0, 1.0, 10**400), "n_per_variant", f"[2, {MAX_N_PER_VARIANT}]"),
        (lambda: mde_mean(1.0, 1.0, 1e6), "n_per_variant", f"[2, {MAX_N_PER_VARIANT}]"),
        (lambda: sample_size_proportion(0.05, 0.1, variants=10**6), "variants", f"[2, {MAX_VARIANTS}]"),
        (lambda: sample_size_proportion(0.05, 0.1, variants=True), "variants", f"[2, {MAX_VARIANTS}]"),
        (lambda: sample_size_proportion(0.05, 0.1, ratio=1e6), "ratio", "[0.001, 1000]"),
        (lambda: sample_size_proportion(0.05, 1e-300), "mde_relative", "at most 10,000,000,000 users"),
        (lambda: sample_size_mean(1.0, 1e300, 0.1), "mde_relative", "at most 10,000,000,000 users"),
        (lambda: sample_size_mean(10**400, 1.0, 0.1), "mean", "a finite number"),
        (lambda: sample_size_proportion(0.05, 0.1, alpha=10**400), "alpha", "a finite number"),
    ],
)
def test_power_library_bounds(call, field, bound):
    library_refuses(call, field, bound)


def test_segmentation_library_bounds():
    frame = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0) % 7})
    library_refuses(lambda: segment_users(frame, ["x", "y"], k_range=range(2, 10**9)), "k_range", "between 1 and 29")
    library_refuses(lambda: segment_users(frame, ["x", "y"], k_range=[2, 100]), "k_range", f"[2, {MAX_CLUSTERS}]")
    library_refuses(lambda: segment_users(frame, ["x", "y"], sample=10**7), "sample", "[2, 10000]")
    library_refuses(lambda: segment_users(frame, ["x", "y"], fit_sample=10**9), "fit_sample", "[1, 1000000]")
    library_refuses(lambda: segment_users(frame, ["x", "y"], n_init=1000), "n_init", "[1, 20]")
    library_refuses(lambda: segment_users(frame, ["x", "y"], seed=-1), "seed", "[0, 4294967295]")
    library_refuses(lambda: check_k_range(2.5, 4), "--k-min", f"[2, {MAX_CLUSTERS}]")
    assert check_k_range(2, MAX_CLUSTERS) == range(2, MAX_CLUSTERS + 1)
