"""ui.frontend: which of Streamlit's frontend modules an element needs, read from the installed
Streamlit's files (the preload scripts are checked by AppTest and the browser test)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))
from ui import frontend  # noqa: E402

# Any ES module import of a sibling file, however it is spaced: what a full read of a file finds.
ANY_IMPORT = re.compile(r'(?:\bfrom|\bimport)\s*"\./([^"/]+\.js)"')


def full_imports(name: str) -> set[str]:
    """Static imports found anywhere in the whole file (not only its head)."""
    text = (frontend.JS / name).read_text(encoding="utf-8", errors="replace")
    return set(ANY_IMPORT.findall(text))


def test_the_head_of_every_module_holds_all_its_static_imports() -> None:
    """``imports`` reads only a module's first HEAD_BYTES: for every module of the installed
    Streamlit that finds what reading the whole file finds (a Streamlit upgrade that moves
    imports further down fails here)."""
    modules = sorted(p.name for p in frontend.JS.glob("*.js"))
    assert len(modules) > 100
    for name in modules:
        assert frontend.direct_imports(name) == full_imports(name), name


def test_an_element_needs_its_module_and_what_it_imports_beyond_the_entry_script() -> None:
    plan = dict(frontend.plan(["DataFrame", "NoSuchElement", "Button"]))
    data_frame = frontend.module("DataFrame")
    assert list(plan) == [data_frame, frontend.module("Button")]  # an unknown element is skipped
    needed = set(plan[data_frame])
    assert needed and not needed & frontend.entry_imports()  # what the page has loaded is not asked again
    assert needed == frontend.imports(data_frame) - frontend.entry_imports()
    assert any(name.startswith("arrowFormatUtils.") for name in needed)  # the Arrow code the table draws with
    for name in needed:  # transitive: each needed module's own imports are loaded or asked for
        assert frontend.direct_imports(name) <= needed | frontend.entry_imports()


def test_imports_are_followed_through_a_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "A.1.js").write_text('import{a as b}from"./b.2.js";import"./c.3.js";const x="./not-an-import.js";')
    (tmp_path / "b.2.js").write_text('import {d} from "./d.4.js";export const a=1;')
    (tmp_path / "c.3.js").write_text('import"./A.1.js";')  # a cycle back to the start
    (tmp_path / "d.4.js").write_text("export const d=2;")
    monkeypatch.setattr(frontend, "JS", tmp_path)
    frontend.direct_imports.cache_clear()
    frontend.module.cache_clear()
    try:
        assert frontend.module("A") == "A.1.js" and frontend.module("Z") is None
        assert frontend.imports("A.1.js") == {"b.2.js", "c.3.js", "d.4.js"}
    finally:
        frontend.direct_imports.cache_clear()
        frontend.module.cache_clear()
