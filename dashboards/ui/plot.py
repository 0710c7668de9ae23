"""Every chart is shown through one call, so every chart behaves alike.

Plotly's toolbar (zoom, pan, download) is off. On hover it covered the chart titles and
legends (the three allocation charts of the Simulation lab, the Sequential and segment
charts), and a marketer reading the page needs none of it. Streamlit's own element menu
still offers full screen.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

CHART_CONFIG: dict[str, Any] = {"displayModeBar": False, "displaylogo": False}


def show_chart(fig: go.Figure, key: str, **options: Any) -> Any:
    """``st.plotly_chart`` with the dashboard's chart settings."""
    return st.plotly_chart(fig, key=key, config=CHART_CONFIG, **options)
