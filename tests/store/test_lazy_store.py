"""``promolab.store`` loads a submodule when one of its names is first used (PEP 562): the
registry (DuckDB) without pandas, the location constants without DuckDB, and every
exported name still resolves to its definition."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import promolab.store
from promolab.store import _SOURCES

WATCHED = ("pandas", "numpy", "duckdb", "promolab.store.batches", "promolab.store.registry")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps([m for m in {WATCHED!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_name_loads_only_what_it_needs() -> None:
    assert _loaded_after("import promolab.store") == []
    assert _loaded_after("from promolab.store import DB_ENV, resolve_db_path") == []
    assert _loaded_after("from promolab.store import Registry") == ["duckdb", "promolab.store.registry"]
    assert "pandas" in _loaded_after("from promolab.store import events_batch")


@pytest.mark.parametrize("name", promolab.store.__all__)
def test_every_exported_name_resolves_to_its_definition(name: str) -> None:
    module = importlib.import_module(f"promolab.store.{_SOURCES[name]}")
    assert getattr(promolab.store, name) is getattr(module, name)
    assert name in dir(promolab.store)


def test_unknown_names_are_refused_and_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        promolab.store.no_such_name  # noqa: B018
    from promolab.store import keys, preflight  # submodules, not table entries

    assert preflight.RegistryFileError is promolab.store.RegistryFileError
    assert keys.__name__ == "promolab.store.keys"
