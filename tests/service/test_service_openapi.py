"""The checked-in docs/openapi.json is the app's schema (regenerate: python -m promolab.service.openapi)."""

from __future__ import annotations

from pathlib import Path

from promolab.service.openapi import openapi_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_checked_in_openapi_is_up_to_date():
    assert DOC.exists(), "run: python -m promolab.service.openapi docs/openapi.json"
    assert DOC.read_text(encoding="utf-8") == openapi_text(), (
        "docs/openapi.json is stale; run: python -m promolab.service.openapi docs/openapi.json")


def test_every_route_documents_its_errors():
    import json

    doc = json.loads(openapi_text())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1"):
                assert "401" in op["responses"] and "422" in op["responses"], (method, path)
                assert op.get("security"), (method, path)
