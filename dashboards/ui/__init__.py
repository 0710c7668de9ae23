"""UI helpers of the promolab dashboard: data access (the only place with Streamlit caching),
colours, number formats, plotly figure builders, shared page sections, and what the browser
loads ahead (``frontend``).

Everything here is a thin layer over the ``promolab`` library: numbers come from library
calls that the CLI also exposes with ``--json``; this package only arranges and draws them.
"""
