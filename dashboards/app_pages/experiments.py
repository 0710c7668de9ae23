"""Experiments: every experiment in the registry with status, kind, days running, exposures,
the primary-metric verdict and an SRM warning (``promolab experiment list --json`` and
``promolab report KEY --json``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from promolab.errors import PromolabError
from ui import data, defaults, state, words

path = data.db_path()
st.title("Experiments")

try:
    summaries = data.experiments(path)
except PromolabError as exc:
    st.error(f"Cannot read the registry {path}: {exc}")
    st.stop()

if not summaries:
    st.info(f"No experiments in `{path}` yet. Run `promolab demo` for the Hillstrom example, "
            "or create one on the **Launch** page.")
    st.page_link("app_pages/launch.py", label="Launch an experiment", icon=":material/rocket_launch:")
    st.stop()

KIND = {"ab": "A/B", "bandit": "bandit", "contextual": "targeted"}
PENDING = "analysing…"


def _row(s) -> dict:
    """The summary's columns; the verdict and split columns wait for the report (``_judge``)."""
    lo, hi = data.exposure_window(path, s.key)
    row = {"name": s.name or s.key, "key": s.key, "kind": KIND.get(s.kind, s.kind), "status": s.status,
           "owner": s.owner, "traffic": s.coverage * 100, "launched": s.launched_at,
           "days running": data.days_running(path, s), "exposures": s.exposures, "exposure dates": "",
           "verdict": PENDING if s.exposures else "—", "SRM": PENDING if s.exposures else "—"}
    if lo is not None:
        row["exposure dates"] = f"{lo:%Y-%m-%d}" + ("" if f"{hi:%Y-%m-%d}" == f"{lo:%Y-%m-%d}" else f" → {hi:%Y-%m-%d}")
    return row


def _judge(s, row: dict) -> dict:
    """The row with the primary metric's verdict and the split check of the experiment's report."""
    if not s.exposures:
        return row
    spec = data.experiment(path, s.key)
    try:
        report = data.report(path, s.key, defaults.cuped(spec), False)  # the call the Report page makes
    except PromolabError as exc:
        return {**row, "verdict": f"cannot analyse: {exc}", "SRM": "—"}
    names = words.variant_names(spec)
    verdict = report.verdict.decision.capitalize() + (
        f" {names.get(report.verdict.variant, report.verdict.variant)}" if report.verdict.variant else "")
    srm = "n/a (adaptive)" if s.kind == "bandit" else ("ok" if report.srm.ok else "mismatch")
    return {**row, "verdict": verdict, "SRM": srm}


def _filtered(table: pd.DataFrame, statuses: list[str], kinds: list[str], search: str) -> pd.DataFrame:
    shown = table
    if statuses:
        shown = shown[shown.status.isin(statuses)]
    if kinds:
        shown = shown[shown.kind.isin(kinds)]
    if search:
        needle = search.lower()
        shown = shown[shown[["key", "name", "owner"]].apply(lambda r: needle in " ".join(r).lower(), axis=1)]
    return shown


def _listed(rows: pd.DataFrame) -> str:
    return "  \n".join(f"**{r.name}** (`{r.key}`) · {r.kind} · {r.status} · {r.exposures:,} users · {r.verdict}"
                       for r in rows.itertuples())


COLUMNS = {
    "name": st.column_config.TextColumn("experiment", help="The spec's name; its key is under More columns."),
    "status": st.column_config.TextColumn("status", help="draft → running ⇄ paused → stopped"),
    "days running": st.column_config.NumberColumn(
        "days running", format="%.1f", help="From launch to the stop; while it runs, to its latest exposure."),
    "exposures": st.column_config.NumberColumn("users", format="localized", help="Users assigned a variant."),
    "verdict": st.column_config.TextColumn("verdict", help="The report's decision on the primary metric."),
    "SRM": st.column_config.TextColumn(
        "split", help="Sample ratio check: 'mismatch' means the users per variant do not match the configured "
                      "split, so assignment or logging is broken and no result can be trusted."),
}
# What needs no report is drawn first: the counts, and the table and list from the summaries,
# so the browser loads their code while the reports are computed; the table and the list are
# then redrawn with the verdicts. The filters and the extra columns are drawn only once their
# section is opened: drawn at once, they cost a freshly opened browser 0.2-0.3 s of script and the
# first view 0.6 s (medians of 8 interleaved starts). The filters apply while their section is closed.
FILTERS = {"filter-status": [], "filter-kind": [], "filter-search": ""}
for name, empty in FILTERS.items():  # kept while unrendered: Streamlit drops an unrendered widget's value
    st.session_state[name] = st.session_state.get(name, empty)
filters = st.expander("Filter by status, kind, name or owner", key="filters", on_change="rerun")
if filters.open:
    c1, c2, c3 = filters.columns([2, 2, 3])
    c1.multiselect("Status", ["draft", "running", "paused", "stopped"], key="filter-status",
                   placeholder="all statuses")
    c2.multiselect("Kind", list(KIND.values()), key="filter-kind", placeholder="all kinds")
    c3.text_input("Search key, name or owner", key="filter-search")
statuses, kinds, search = (st.session_state[name] for name in FILTERS)

m1, m2, m3, m4 = st.columns(4)
m1.metric("Experiments", len(summaries))
m2.metric("Running", sum(s.status == "running" for s in summaries))
m3.metric("Users exposed", f"{sum(s.exposures for s in summaries):,}")
broken_splits = m4.empty()
notices = st.container()
caption, listing = st.empty(), st.empty()

described = [_row(s) for s in summaries]
pending = _filtered(pd.DataFrame(described), statuses, kinds, search)
listing.dataframe(pending[list(COLUMNS)], hide_index=True, width="stretch", column_config=COLUMNS)
more = st.expander("More columns: key, kind, owner, traffic, launch and exposure dates", key="more-columns",
                   on_change="rerun")
if more.open:
    more.dataframe(
        pending[["key", "name", "kind", "owner", "traffic", "launched", "exposure dates"]], hide_index=True,
        width="stretch",
        column_config={"traffic": st.column_config.NumberColumn("traffic", format="%.0f %%"),
                       "launched": st.column_config.DatetimeColumn("launched", format="YYYY-MM-DD HH:mm")},
    )
roster = st.empty()  # a plain list too: readable without the grid, and what a screen reader or a test sees
roster.markdown(_listed(pending))
table = pd.DataFrame([_judge(s, row) for s, row in zip(summaries, described)])
shown = _filtered(table, statuses, kinds, search)
broken_splits.metric("Broken splits (SRM)", int((table.SRM == "mismatch").sum()))

if (shown.SRM == "mismatch").any():
    notices.error("Sample ratio mismatch in: " + ", ".join(shown.key[shown.SRM == "mismatch"])
                  + ". Their verdicts are blocked until the split is fixed.")

alerts = data.open_alerts(path)
if alerts:
    by_key: dict[str, list] = {}
    for alert in alerts:
        by_key.setdefault(alert.experiment, []).append(alert)
    notices.warning("Unacknowledged alerts: " + "; ".join(
        f"`{k}`: " + ", ".join(f"{a.kind}{' ' + a.subject if a.subject else ''}"
                               + (f" ({a.action})" if a.action else "") for a in rows)
        for k, rows in by_key.items())
        + ". `promolab alerts` shows them; `promolab alerts ack ID` acknowledges one.",
        icon=":material/notifications_active:")

filtered = ", filtered" if statuses or kinds or search else ""
caption.caption(f"{len(shown)} of {len(table)} experiments{filtered}. Select a row to open it.")
selection = listing.dataframe(
    shown[list(COLUMNS)], hide_index=True, width="stretch", key="experiments-table", on_select="rerun",
    selection_mode="single-row", column_config=COLUMNS,
)
roster.markdown(_listed(shown))

rows = selection.selection.rows if selection and hasattr(selection, "selection") else []
chosen = shown.key.iloc[rows[0]] if rows else None
if chosen:
    st.markdown(f"**{shown.name.iloc[rows[0]]}**")
    b1, b2, b3 = st.columns(3)
    if b1.button("Report", icon=":material/bar_chart:", key="open-report", width="stretch"):
        state.select(chosen)
        st.switch_page("app_pages/report.py")
    if b2.button("Sequential", icon=":material/timeline:", key="open-sequential", width="stretch"):
        state.select(chosen)
        st.switch_page("app_pages/sequential.py")
    if b3.button("Bandit", icon=":material/casino:", key="open-bandit", width="stretch",
                 disabled=table.set_index("key").kind.get(chosen) != "bandit"):
        state.select(chosen)
        st.switch_page("app_pages/bandit.py")
