"""promolab dashboard — entry point.

    promolab dashboard [--db FILE]        # or: streamlit run dashboards/app.py -- --db FILE

Pages are thin views over the ``promolab`` library; see ``dashboards/ui`` for data access,
colours and charts.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # makes ``ui`` importable from every page

import streamlit as st  # noqa: E402

from ui import frontend  # noqa: E402

st.set_page_config(page_title="promolab", page_icon=":material/sell:", layout="wide")
# First, before the analysis stack is imported: the browser loads the page's element code meanwhile.
frontend.preload(frontend.PAGE_ELEMENTS)

from ui import data, prefetch  # noqa: E402

PAGES = {
    "Experiments": [
        st.Page(HERE / "app_pages/experiments.py", title="Experiments", icon=":material/list_alt:", url_path="experiments", default=True),
        st.Page(HERE / "app_pages/report.py", title="Report", icon=":material/bar_chart:", url_path="report"),
        st.Page(HERE / "app_pages/sequential.py", title="Sequential", icon=":material/timeline:", url_path="sequential"),
        st.Page(HERE / "app_pages/bandit.py", title="Bandit", icon=":material/casino:", url_path="bandit"),
        st.Page(HERE / "app_pages/targeting.py", title="Targeting", icon=":material/ads_click:", url_path="targeting"),
    ],
    "Plan and explore": [
        st.Page(HERE / "app_pages/launch.py", title="Launch", icon=":material/rocket_launch:", url_path="launch"),
        st.Page(HERE / "app_pages/simulation.py", title="Simulation lab", icon=":material/science:", url_path="simulation"),
        st.Page(HERE / "app_pages/analyze.py", title="Analyze a file", icon=":material/upload_file:", url_path="analyze"),
    ],
}

page = st.navigation(PAGES)
st.html("<style>[data-testid='stMainBlockContainer'] {padding-top: 2.5rem;}</style>")

path = data.db_path()
data.follow(path)
with st.sidebar:
    st.caption(f"Registry: `{path}`")
    if st.button("Refresh data", icon=":material/refresh:", help="Re-read the registry now (pages also re-read it whenever it changed)."):
        data.clear()
        st.rerun()

prefetch.activity.begin()
try:
    page.run()
finally:  # st.stop() ends a run by raising
    prefetch.activity.end()  # the background prefetch goes on once the pages are idle
    with st.sidebar:
        frontend.preload(frontend.LATER_ELEMENTS, idle=True)  # last: the other pages' code, once the page is drawn
