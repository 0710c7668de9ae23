"""``--engine ray``: the same tasks and seeds on Ray give exactly the process pool's results.

One local Ray session for the whole module (about 5 s to start and stop); the engine reuses a
session that is already initialised and leaves it running. The error tests need no Ray.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import promolab.cli  # noqa: F401  (registers the commands)
import promolab.sim
from promolab.cli.app import app
from promolab.errors import InputError
from promolab.sim.grid import make_tasks, run_grid
from promolab.sim.scenario import load_scenario

# one worker process runs them all: one Ray cluster, not one per pytest-xdist worker
pytestmark = pytest.mark.xdist_group("ray")

runner = CliRunner()
SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    temp_dir = tempfile.mkdtemp(prefix="plray-")  # short: Ray's socket paths live under it
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp_dir,
             object_store_memory=512 * 1024**2, logging_level="WARNING")
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def _scenarios():
    return [load_scenario(SIMULATIONS / "coupons.toml").with_policies(["thompson", "ucb1"]),
            load_scenario(SIMULATIONS / "delayed-feedback.toml").with_policies(["thompson", "kl-ucb"])]


def _as_json(summaries) -> list[dict]:
    return [json.loads(json.dumps(s.to_dict())) for s in summaries]


def test_ray_gives_exactly_the_pool_results(ray_local):
    tasks = make_tasks(_scenarios(), runs=9, seed=11, chunk_runs=3)
    assert len(tasks) == 2 * 2 * 3
    finished = []
    on_ray = run_grid(tasks, engine="ray", on_done=finished.append)
    assert sorted(id(t) for t in finished) == sorted(id(t) for t in tasks)  # every task reported once
    pooled = run_grid(tasks, workers=2)
    serial = run_grid(tasks)
    assert [(s.scenario, s.policy) for s in on_ray] == [
        ("coupons", "thompson"), ("coupons", "ucb1"), ("delayed-feedback", "thompson"), ("delayed-feedback", "kl-ucb")]
    assert _as_json(on_ray) == _as_json(pooled) == _as_json(serial)
    assert all(s.runs == 9 for s in on_ray)
    assert ray_local.is_initialized()  # a session we did not start is left running


def test_cli_engine_ray_matches_pool(ray_local):
    args = ["simulate", str(SIMULATIONS / "coupons.toml"), str(SIMULATIONS / "hillstrom.toml"), "--json",
            "--runs", "6", "--seed", "3", "--policy", "thompson", "--policy", "ucb1"]
    on_ray = runner.invoke(app, [*args, "--engine", "ray"])
    assert on_ray.exit_code == 0, on_ray.output
    pooled = runner.invoke(app, [*args, "--engine", "pool"])
    assert pooled.exit_code == 0, pooled.output
    assert json.loads(on_ray.stdout) == json.loads(pooled.stdout)
    table = runner.invoke(app, ["simulate", str(SIMULATIONS / "hillstrom.toml"), "--runs", "4",
                                "--policy", "thompson", "--engine", "ray"])
    assert table.exit_code == 0 and "thompson" in table.stdout


def test_missing_ray_extra_says_which_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.delitem(sys.modules, "promolab.sim.ray_engine", raising=False)
    monkeypatch.delattr(promolab.sim, "ray_engine", raising=False)
    result = runner.invoke(app, ["simulate", str(SIMULATIONS / "coupons.toml"), "--runs", "2", "--engine", "ray"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --engine: got 'ray', expected Ray to be installed: pip install 'promolab[ray]'"]
    with pytest.raises(InputError, match=r"pip install 'promolab\[ray\]'"):
        run_grid(make_tasks(_scenarios(), runs=2), engine="ray")


def test_unknown_engine_and_address_without_ray():
    result = runner.invoke(app, ["simulate", str(SIMULATIONS / "coupons.toml"), "--engine", "dask"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: --engine: got 'dask', expected one of pool, ray"]
    result = runner.invoke(app, ["simulate", str(SIMULATIONS / "coupons.toml"), "--address", "ray://head:10001"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --address: got 'ray://head:10001', expected only with --engine ray"]
    with pytest.raises(InputError, match="--engine"):
        run_grid(make_tasks(_scenarios(), runs=2), engine="spark")
