"""Property-based fuzz of the whole OpenAPI schema with schemathesis (ASGI, in process).

Every operation gets bounded generated requests (valid and invalid) with an admin key;
the checks: no 5xx, every status code documented, content type and body matching the
schema. (Schema-valid requests may still be refused with a documented 4xx, e.g. an
unknown experiment, so "valid data must succeed" is not among the checks.)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from promolab.service import create_app

from .conftest import build_registry, seed

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# The app object must exist when the module is collected (schemathesis reads its schema
# then); its database is built, and its lifespan run, by the module fixture below.
_DIR = Path(tempfile.mkdtemp(prefix="promolab-fuzz-"))
APP = create_app(_DIR / "fuzz.duckdb")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def fuzz_keys():
    keys = build_registry(_DIR / "fuzz.duckdb")
    try:
        with TestClient(APP, raise_server_exceptions=False) as client:  # runs the lifespan
            seed(client, keys["sdk"])
            yield keys
    finally:
        shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_openapi_fuzz(case, fuzz_keys):
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_keys['admin']}"}, checks=CHECKS)
