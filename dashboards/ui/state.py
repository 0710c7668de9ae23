"""State shared across pages: the selected experiment (also read from ``?experiment=KEY``)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

SELECTED = "selected_experiment"


def pick_experiment(keys: Sequence[str], page: str, label: str = "Experiment",
                    describe: dict[str, str] | None = None) -> str | None:
    """A select box over ``keys`` that remembers the choice across pages."""
    keys = list(keys)
    if not keys:
        return None
    wanted = st.query_params.get("experiment")
    current = wanted if wanted in keys else st.session_state.get(SELECTED)
    index = keys.index(current) if current in keys else 0
    choice = st.selectbox(label, keys, index=index, key=f"pick-{page}",
                          format_func=(lambda k: f"{k} — {describe[k]}") if describe else str)
    st.session_state[SELECTED] = choice
    if wanted is not None and wanted != choice:
        st.query_params["experiment"] = choice
    return choice


def select(key: str) -> None:
    """Make ``key`` the selected experiment (e.g. before switching page)."""
    st.session_state[SELECTED] = key
    st.query_params.pop("experiment", None)
