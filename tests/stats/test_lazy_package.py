"""``promolab.stats`` loads a submodule when one of its names is first used (PEP 562):
importing the package costs nothing, and every exported name still resolves."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import promolab.stats
from promolab.stats import _SOURCES

HEAVY = ("scipy", "statsmodels", "pandas", "numpy")


def _loaded_after(code: str) -> list[str]:
    names = HEAVY + tuple(f"promolab.stats.{m}" for m in sorted(set(_SOURCES.values())))
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps([m for m in {names!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_package_loads_no_submodule() -> None:
    assert _loaded_after("import promolab.stats") == []
    assert _loaded_after("from promolab.stats import MeanStats") == ["promolab.stats.sufficient"]


def test_a_name_loads_its_own_submodule_only() -> None:
    loaded = _loaded_after("from promolab.stats import sample_size_proportion")
    assert "promolab.stats.power" in loaded
    assert not {"promolab.stats.bayesian", "promolab.stats.multiple", "promolab.stats.srm"} & set(loaded)
    assert not set(HEAVY) & set(loaded)  # power computes with the standard library


def test_the_tests_load_the_scientific_stack() -> None:
    """The probe above can see numpy & co.: the z-tests import scipy."""
    assert {"scipy", "numpy"} <= set(_loaded_after("from promolab.stats import proportion_test"))


@pytest.mark.parametrize("name", promolab.stats.__all__)
def test_every_exported_name_resolves_to_its_definition(name: str) -> None:
    module = importlib.import_module(f"promolab.stats.{_SOURCES[name]}")
    assert getattr(promolab.stats, name) is getattr(module, name)
    assert name in dir(promolab.stats)


def test_all_lists_the_table_and_unknown_names_are_refused() -> None:
    assert sorted(promolab.stats.__all__) == sorted(_SOURCES)
    assert len(promolab.stats.__all__) == 23
    with pytest.raises(AttributeError, match="no_such_test"):
        promolab.stats.no_such_test  # noqa: B018
    with pytest.raises(ImportError):
        exec("from promolab.stats import no_such_test", {})
