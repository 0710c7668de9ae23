"""Analyze a file: upload a per-user CSV/Parquet table and get the report
(``promolab analyze-table FILE --variant … --control … --metric … --json``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from promolab.errors import PromolabError
from promolab.spec.vocabulary import CORRECTIONS
from ui import data
from ui.colors import variant_colors
from ui.report_view import render_report, variant_order

st.title("Analyze a file")
st.caption("One row per user: a variant column and one column per metric (0/1 for conversions, a number for "
           "revenue). Nothing is written to the registry.")

c1, c2 = st.columns([3, 2])
upload = c1.file_uploader("Per-user table", type=["csv", "parquet", "pq", "tsv"], key="analyze-upload")
use_sample = c2.toggle("Try the Hillstrom table", key="analyze-sample", value=False,
                       help="The bundled Hillstrom e-mail experiment: 64,000 customers, one row each.")
if upload is not None:
    raw, suffix, file_name = upload.getvalue(), Path(upload.name).suffix.lower() or ".csv", upload.name
elif use_sample:
    raw, suffix, file_name = data.sample_table(), ".csv", "hillstrom.csv"
else:
    st.info("Upload a CSV or Parquet file, or switch on the bundled Hillstrom table to try it.")
    st.stop()

try:
    preview = data.table_preview(raw, suffix)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()
with st.expander(f"Preview of {file_name} (first rows)"):
    st.dataframe(preview.head(50), width="stretch")

columns = list(preview.columns)
numeric = [c for c in columns if preview[c].dtype.kind in "biuf"]
sample = file_name == "hillstrom.csv" and upload is None
c1, c2, c3 = st.columns(3)
variant = c1.selectbox("Variant column", columns, index=columns.index("segment") if "segment" in columns else 0,
                       key="analyze-variant")
values = sorted(map(str, preview[variant].dropna().unique()))[:50]
default_control = next((v for v in values if v.lower() in ("control", "no e-mail", "none", "a")), values[0] if values else "")
control = c2.selectbox("Control value", values, index=values.index(default_control) if default_control in values else 0,
                       key="analyze-control")
covariate = c3.selectbox("CUPED covariate (pre-period column)", ["(none)"] + numeric, key="analyze-covariate",
                         index=(["(none)"] + numeric).index("history") if sample and "history" in numeric else 0)

candidates = [c for c in numeric if c != variant]
default_metrics = [c for c in ("visit", "conversion", "spend") if c in candidates] or candidates[:1]
chosen = st.multiselect("Metrics", candidates, default=default_metrics, key="analyze-metrics")
kinds = {}
if chosen:
    cols = st.columns(min(len(chosen), 4))
    for i, col_name in enumerate(chosen):
        binary = preview[col_name].dropna().isin([0, 1]).all()
        kinds[col_name] = cols[i % len(cols)].selectbox(
            f"{col_name}: kind", ["binomial", "mean"], index=0 if binary else 1, key=f"analyze-kind-{col_name}")
c1, c2, c3 = st.columns(3)
alpha = c1.number_input("Significance level α", 0.001, 0.2, 0.05, 0.005, format="%.3f", key="analyze-alpha")
correction = c2.selectbox("Multiple-testing correction", list(CORRECTIONS), key="analyze-correction")
user = c3.selectbox("User-id column (checks users seen twice or in two variants)",
                    ["(none)"] + [c for c in columns if c != variant], key="analyze-user")
if not chosen:
    st.info("Pick at least one metric column.")
    st.stop()

metric_args = tuple(f"{c}:{kinds[c]}" for c in chosen)
cov = None if covariate == "(none)" else covariate
user_column = None if user == "(none)" else user
try:
    report = data.table_report(raw, suffix, variant, control, metric_args, cov, float(alpha), correction,
                               user_column)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()

colors = variant_colors(variant_order(report), report.control)
render_report(report, colors, key="analyze", file_stem=Path(file_name).stem + "-report")
st.caption("Reproduce: `promolab analyze-table " + file_name + f" --variant {variant} --control '{control}' "
           + " ".join(f"--metric {m}" for m in metric_args) + (f" --covariate {cov}" if cov else "")
           + (f" --user {user_column}" if user_column else "")
           + f" --alpha {alpha:g} --correction {correction} --json`")
