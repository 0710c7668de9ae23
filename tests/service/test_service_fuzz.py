"""Property-based fuzz of the whole OpenAPI schema with schemathesis (ASGI, in process).

Stateless: every operation gets bounded generated requests (schemathesis' examples,
coverage and fuzzing phases: valid and invalid data) with an admin key. Stateful: the
OpenAPI links (create → launch/ramp/pause/stop/report/weights/assign, create key →
revoke, and the links schemathesis infers) chain calls into scenarios. The checks on
every response: no 5xx, every status code documented, content type and body matching
the schema. (Schema-valid requests may still be refused with a documented 4xx, e.g. an
unknown experiment, so "valid data must succeed" is not among the checks.) The last test
asserts every operation was exercised past authentication and prints the request counts.

Deterministic: Hypothesis is derandomized (no example database), so CI runs the same
requests every time.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from promolab.service import create_app

from .conftest import BANDIT_SPEC, SIMPLE_SPEC, build_registry, seed

# one worker runs the whole file: the last test checks what the fuzz tests before it recorded
pytestmark = pytest.mark.xdist_group("schema-fuzz")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection,
          response_headers_conformance]
COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)

# The app object must exist when the module is collected (schemathesis reads its schema
# then); its database is built, and its lifespan run, by the module fixture below.
_DIR = Path(tempfile.mkdtemp(prefix="promolab-fuzz-"))
APP = create_app(_DIR / "fuzz.duckdb", report_timeout=20)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
KEYS: dict[str, str] = {}
CALLS: Counter = Counter()  # (phase, operation, status)


def _admin_id() -> str:
    return KEYS["admin"].split("_")[2]


def _protect(case) -> None:
    """Never revoke the admin key the fuzzer itself uses (the service refuses to revoke the
    last admin key, but the fuzzer may create others first)."""
    if case.operation.path == "/v1/keys/{key_id}" and (case.path_parameters or {}).get("key_id") == _admin_id():
        case.path_parameters["key_id"] = "0" * 8


CREATED = itertools.count()


def _valid_spec(body) -> dict:
    """A valid spec in place of most generated bodies (random bodies are nearly never valid
    specs, and a scenario needs experiments to launch, ramp and report on). Each gets a new
    key, so a step answers the same whatever earlier scenarios created (Hypothesis replays
    steps and requires them to behave the same)."""
    digest = hashlib.sha256(repr(body).encode()).hexdigest()
    if int(digest[0], 16) < 4:  # a quarter keep the generated body (mostly refused: 422)
        return body
    kind = "bandit" if int(digest[1], 16) < 8 else "ab"
    raw = copy.deepcopy(BANDIT_SPEC if kind == "bandit" else SIMPLE_SPEC)
    raw["key"] = f"fz-{kind}-{next(CREATED)}"
    return raw


def _record(phase: str, case, response) -> None:
    CALLS[(phase, f"{case.operation.method.upper()} {case.operation.path}", response.status_code)] += 1


@pytest.fixture(scope="module", autouse=True)
def fuzz_keys():
    keys = build_registry(_DIR / "fuzz.duckdb")
    KEYS.update(keys)
    try:
        with TestClient(APP, raise_server_exceptions=False) as client:  # runs the lifespan
            seed(client, keys["sdk"])
            yield keys
    finally:
        shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=50, **COMMON)
def test_openapi_fuzz(case, fuzz_keys):
    _protect(case)
    response = case.call(headers={"Authorization": f"Bearer {fuzz_keys['admin']}"})
    _record("stateless", case, response)
    case.validate_response(response, checks=CHECKS, headers={"Authorization": f"Bearer {fuzz_keys['admin']}"})


class APIWorkflows(schema.as_state_machine()):
    """Scenarios along the OpenAPI links, every call with the admin key."""

    def before_call(self, case):
        _protect(case)
        # scenarios are about state, not authentication (the stateless phase fuzzes the key)
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {KEYS['admin']}"}
        if case.operation.method == "post" and case.operation.path == "/v1/experiments":
            case.body = _valid_spec(case.body)

    def get_call_kwargs(self, case):
        return {"headers": {"Authorization": f"Bearer {KEYS['admin']}"}}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        _record("stateful", case, response)
        case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))


TestAPIWorkflows = APIWorkflows.TestCase
TestAPIWorkflows.settings = settings(max_examples=100, stateful_step_count=10, **COMMON)


def test_every_operation_was_exercised():
    """Runs after the fuzz above (pytest keeps the file's order): every operation of the
    schema answered something other than 401 (the key worked), links were followed, and
    no response was a 5xx (the checks fail the run on the first one)."""
    if not CALLS:
        pytest.skip("the fuzz tests did not run in this process (selected out with -k, or split by pytest-xdist "
                    "without --dist loadgroup)")
    operations = {f"{method.upper()} {path}" for path, ops in APP.openapi()["paths"].items() for method in ops}
    reached = {op for (_, op, status) in CALLS if status != 401}
    assert operations <= reached, sorted(operations - reached)
    stateful = sum(n for (phase, _, _), n in CALLS.items() if phase == "stateful")
    stateless = sum(n for (phase, _, _), n in CALLS.items() if phase == "stateless")
    assert not [k for k in CALLS if k[2] >= 500]
    by_status = Counter()
    for (_, _, status), n in CALLS.items():
        by_status[status] += n
    print(f"\nschemathesis: {stateless} stateless + {stateful} stateful requests over {len(operations)} "
          f"operations; statuses {dict(sorted(by_status.items()))}")
    assert stateful > 0
    import os
    if os.environ.get("FUZZ_DEBUG"):
        for k, n in sorted(CALLS.items()):
            print(k, n)
