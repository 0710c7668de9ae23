"""Property tests of the spec contract (issue 12): whatever a spec holds — inf, nan, 1e308,
-0.0, huge integers, TOML datetimes, lone surrogates, control characters, rich markup,
wrong types, missing fields — ``experiment_from_dict`` and ``load_experiment`` either return
an Experiment whose every number is finite (and fits 64 bits), or raise SpecError /
InputError; nothing else. An accepted spec survives the registry (JSON) and TOML round
trips, and the CLI runs create, show, list, launch, assign and sql on it with exit code 0."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import math
import re
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from promolab.cli import run
from promolab.errors import InputError, SpecError
from promolab.spec import (experiment_from_dict, experiment_to_dict, experiment_to_toml, load_experiment,
                           parse_experiment)
from promolab.spec.model import Experiment
from promolab.store import Registry

INF, NAN = float("inf"), float("nan")
INT64 = (-(2**63), 2**63 - 1)
MARKUP = ["[/bold]", "[red]x[/red]", "\\[", "[bold]", "[link=http://x]y[/link]", "[/]", "\\", "[[x]]"]

# -- values ------------------------------------------------------------------------------

printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(str.strip)
names = st.one_of(printable, st.sampled_from(MARKUP), st.builds(lambda a, b: f"{a} {b}", st.sampled_from(MARKUP),
                                                                printable))
slugs = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), st.sampled_from(MARKUP),
                         st.integers(*INT64), finite, st.booleans())
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(printable, inner, max_size=3)), max_leaves=8)

edge_numbers = st.one_of(st.sampled_from([INF, -INF, NAN, 1e308, -1e308, -0.0, 0.0, 5e-324, 1e-300, 1, 0, -1, 2**63,
                                         -(2**63) - 1, 10**30, 1e15, 1e16, 0.5, 100, 101]),
                        st.builds(pow, st.just(10), st.just(5000)))  # too long for repr(): built, not listed
hostile_text = st.one_of(st.text(max_size=10), st.sampled_from(MARKUP + ["", "   ", "a\x00b", "\x1b[31m", "x\ud800",
                                                                         "\x9b", "é\u202e"]))
datetimes = st.one_of(st.datetimes(timezones=st.sampled_from([None, dt.timezone.utc])), st.dates(), st.times())
wrong_types = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2), datetimes, st.just(b"bytes"))
hostile_scalars = st.one_of(edge_numbers, hostile_text, datetimes, wrong_types, st.integers(), st.floats())
hostile_json = st.recursive(hostile_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), inner, max_size=3)),
    max_leaves=6)


# -- specs -------------------------------------------------------------------------------

@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Specs that must be accepted: every value in its range, names with markup and Unicode."""
    keys = draw(st.lists(slugs, min_size=2, max_size=4, unique=True))
    variants = []
    for key in keys:
        v: dict[str, Any] = {"key": key, "weight": draw(st.one_of(st.floats(1e-3, 1e6), st.integers(1, 1000),
                                                                   st.sampled_from([1e307, 1e-300])))}
        if draw(st.booleans()):
            v["name"] = draw(names)
        if draw(st.booleans()):
            v["payload"] = draw(st.dictionaries(printable, json_values, max_size=3))
        if draw(st.booleans()):
            v["cost"] = {"discount_pct": draw(st.floats(0, 99.9)), "shipping_cost": draw(st.floats(0, 1e15))}
        variants.append(v)
    weights = [v["weight"] for v in variants]
    if sum(weights) == INF or any(w / sum(weights) == 0 for w in weights):
        for v in variants:
            v["weight"] = 1
    metrics: list[dict[str, Any]] = [{"key": "conv", "kind": "binomial", "event": "order"},
                                     {"key": "rev", "kind": "mean", "event": "order", "aggregate": "sum"}]
    if draw(st.booleans()):
        metrics[1]["cap"] = draw(st.floats(1e-9, 1e15))
    for m in metrics:
        if draw(st.booleans()):
            m["name"] = draw(names)
    raw: dict[str, Any] = {"key": draw(slugs), "name": draw(names), "owner": draw(names), "control": keys[0],
                           "variants": variants, "metrics": metrics,
                           "traffic_percent": draw(st.one_of(st.floats(0, 100), st.integers(0, 100)))}
    if draw(st.booleans()):
        raw["hypothesis"] = draw(names)
    if draw(st.booleans()):
        raw["guardrails"] = [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease",
                              "margin": draw(st.floats(1e-9, 1e15)), "name": draw(names)}]
    if draw(st.booleans()):
        raw["targeting"] = [{"attribute": draw(printable), "op": "in",
                             "value": draw(st.lists(st.one_of(printable, st.integers(*INT64), finite), max_size=3))},
                            {"attribute": "age", "op": draw(st.sampled_from(["lt", "gte"])), "value": draw(finite)}]
    if draw(st.booleans()):
        raw["analysis"] = {"alpha": draw(st.floats(1e-6, 0.5)), "srm_threshold": draw(st.floats(1e-9, 0.5)),
                           "segments": draw(st.lists(printable, max_size=2))}
        if draw(st.booleans()):
            raw["analysis"].update(sequential="gst", looks=draw(st.integers(1, 50)),
                                   target_users=draw(st.integers(2, 10**12)))
    if draw(st.booleans()):
        raw["filtering"] = {"outlier_z": draw(st.floats(1e-3, 1e15)), "burst_orders": draw(st.integers(2, 10**9)),
                            "burst_seconds": draw(st.integers(1, 10**9)), "max_accounts": draw(st.integers(1, 10**6))}
    if draw(st.booleans()):
        raw["economics"] = {"revenue": "rev", "buyers": "conv", "margin_rate": draw(st.floats(1e-6, 1.0))}
    if draw(st.integers(0, 3)) == 0:
        raw["kind"] = "bandit"
        raw["bandit"] = {"policy": "thompson", "reward": "conv", "burn_in": draw(st.integers(0, 1000)),
                         "update_period_seconds": draw(st.floats(1, 1e9))}
    return raw


MUTABLE = [
    ("variants", 0, "weight"), ("variants", 1, "weight"), ("metrics", 1, "cap"), ("guardrails", 0, "margin"),
    ("variants", 1, "payload", "x"), ("variants", 0, "payload", "nested", "y"), ("name",), ("owner",),
    ("hypothesis",), ("variants", 0, "name"), ("metrics", 0, "name"), ("targeting", 0, "value"),
    ("targeting", 1, "value"), ("analysis", "alpha"), ("analysis", "looks"), ("analysis", "target_users"),
    ("analysis", "srm_threshold"), ("analysis", "segments"), ("filtering", "outlier_z"),
    ("filtering", "burst_seconds"), ("filtering", "max_events_per_day"), ("economics", "margin_rate"),
    ("variants", 1, "cost", "shipping_cost"), ("traffic_percent",), ("layer", "start"), ("layer", "end"),
    ("bandit", "params", "prior"), ("bandit", "update_period_seconds"), ("bandit", "burn_in"), ("salt",),
    ("key",), ("control",), ("metrics", 0, "kind"), ("metrics", 0, "event"),
]
REQUIRED = [("key",), ("name",), ("owner",), ("variants",), ("metrics",), ("metrics", 0, "kind"),
            ("variants", 0, "key")]


# what a mutation of a missing table starts from
DEFAULTS: dict[str, Any] = {
    "targeting": [{"attribute": "country", "op": "in", "value": ["US"]}, {"attribute": "age", "op": "gt", "value": 1}],
    "guardrails": [{"key": "refund", "kind": "binomial", "event": "refund", "direction": "decrease", "margin": 0.01}],
    "layer": {"key": "checkout", "start": 0.0, "end": 0.5},
    "bandit": {"policy": "thompson", "reward": "conv"},
}


def _set(raw: Any, path: tuple, value: Any) -> None:
    node = raw
    for part in path[:-1]:
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                return
            node = node[part]
        elif isinstance(node, dict):
            if part not in node or not isinstance(node[part], (dict, list)):
                node[part] = copy.deepcopy(DEFAULTS.get(part, {}))
            node = node[part]
        else:
            return
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value


def _delete(raw: Any, path: tuple) -> None:
    node = raw
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


@st.composite
def hostile_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec with up to three fields set to edge values, wrong types or removed."""
    raw = draw(valid_specs())
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 6)) == 0:
            _delete(raw, draw(st.sampled_from(REQUIRED)))
            continue
        path = draw(st.sampled_from(MUTABLE))
        value = draw(hostile_json if "payload" in path or path[-1] == "value" else
                     st.one_of(edge_numbers, hostile_text, wrong_types) if path[-1] in ("name", "owner", "hypothesis",
                                                                                         "salt", "key", "control",
                                                                                         "kind", "event")
                     else st.one_of(edge_numbers, wrong_types, st.lists(hostile_text, max_size=2)))
        if path[0] == "bandit" and draw(st.booleans()):
            raw["kind"] = "bandit"
        _set(raw, path, value)
    return raw


# -- the contract ------------------------------------------------------------------------

def _numbers(value: Any) -> Iterator[Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _numbers(getattr(value, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(k)
            yield from _numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def check_experiment(e: Experiment) -> None:
    for x in _numbers(e):
        assert math.isfinite(x), (x, e)
        if isinstance(x, int):
            assert INT64[0] <= x <= INT64[1], x
    assert math.isfinite(sum(v.weight for v in e.variants)) and all(w > 0 for w in e.weights)
    # the registry stores the spec as JSON and reads it back through the same validation
    stored = json.dumps(experiment_to_dict(e), allow_nan=False)
    assert experiment_from_dict(json.loads(stored)) == e
    assert parse_experiment(experiment_to_toml(e)) == e


def from_dict(raw: dict[str, Any]) -> Experiment | None:
    try:
        e = experiment_from_dict(copy.deepcopy(raw))
    except (SpecError, InputError) as exc:
        assert str(exc) and all(line.strip() for line in str(exc).splitlines())
        return None
    check_experiment(e)
    return e


def toml_bytes(raw: dict[str, Any]) -> bytes | None:
    """The spec as a TOML file's bytes; None when TOML cannot hold it (None, bytes, int keys,
    integers beyond 64 bits); lone surrogates give a file that is not UTF-8."""
    try:
        return tomli_w.dumps(raw).encode("utf-8", errors="surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return None


def from_file(path: Path) -> Experiment | None:
    try:
        e = load_experiment(path)
    except (SpecError, InputError) as exc:
        assert str(path) in str(exc)
        return None
    check_experiment(e)
    return e


@settings(max_examples=150, deadline=dt.timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(st.one_of(valid_specs(), hostile_specs()))
def test_spec_is_accepted_with_finite_numbers_or_refused_with_spec_errors(raw: dict[str, Any]) -> None:
    by_dict = from_dict(raw)
    event("accepted" if by_dict is not None else "refused")
    data = toml_bytes(raw)
    if data is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.toml"
        path.write_bytes(data)
        by_file = from_file(path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert by_file is None
        return
    assert by_file == by_dict  # one validation path: the TOML file and the dict agree


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_valid_specs_are_accepted(raw: dict[str, Any]) -> None:
    e = experiment_from_dict(copy.deepcopy(raw))
    check_experiment(e)
    assert e.name == raw["name"] and [v.key for v in e.variants] == [v["key"] for v in raw["variants"]]


# -- accepted specs through the CLI ------------------------------------------------------

class _Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail an example that hangs (hypothesis' deadline only judges finished examples)."""
    def stop(signum: int, frame: Any) -> None:
        raise _Timeout(f"example took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _sql_numbers(sql: str) -> str:
    """The SQL with its string literals and quoted identifiers removed (names may say 'inf')."""
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", sql)


@settings(max_examples=60, deadline=dt.timedelta(seconds=20),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(raw=st.one_of(valid_specs(), valid_specs(), hostile_specs()))
def test_accepted_specs_work_in_the_cli(raw: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    e = from_dict(raw)
    event("accepted" if e is not None else "refused")
    if e is None:
        return
    event(f"kind {e.kind}" + (", targeting" if e.targeting else ""))
    with tempfile.TemporaryDirectory() as tmp, time_limit(30):
        spec, db = Path(tmp) / "spec.toml", Path(tmp) / "reg.duckdb"
        data = toml_bytes(raw)
        spec.write_bytes(data if data is not None else experiment_to_toml(e).encode())
        try:
            capsys.readouterr()
            for argv in (["experiment", "create", spec], ["experiment", "show", e.key], ["experiment", "list"],
                         ["experiment", "launch", e.key], ["assign", e.key, "u1", "u2", "[/bold]"],
                         ["sql", e.key]):
                code = run([str(a) for a in argv] + ["--db", str(db)])
                out, err = capsys.readouterr()
                assert code == 0 and "Traceback" not in out + err, (argv, out, err)
                if argv[0] == "sql":
                    assert not re.search(r"\b(inf|nan|infinity)\b", _sql_numbers(out), re.I), out
                if argv[:2] == ["experiment", "show"]:
                    assert " ".join(e.name.split()) in " ".join(out.split()), (e.name, out)
        finally:
            Registry.close_if_open(db)
