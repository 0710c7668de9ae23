"""Report: per metric and variant the mean, lift with CI (forest plot), p-values, chance to
win, the verdict, SRM and guardrails — ``promolab report KEY [--no-cuped] --json``."""

from __future__ import annotations

import streamlit as st

from promolab.errors import PromolabError
from ui import data, state
from ui.colors import variant_colors
from ui.report_view import render_report, variant_order

path = data.db_path()
st.title("Report")

summaries = [s for s in data.experiments(path) if s.exposures > 0]
if not summaries:
    st.info("No experiment with exposures yet. Run `promolab demo`, or ingest exposures and events.")
    st.stop()

c1, c2 = st.columns([3, 1])
with c1:
    key = state.pick_experiment([s.key for s in summaries], "report", describe={s.key: s.name for s in summaries})
experiment = data.experiment(path, key)
has_covariate = any(m.covariate for m in experiment.metrics + experiment.guardrails)
with c2:
    cuped = st.toggle("CUPED", value=has_covariate, key="report-cuped", disabled=not has_covariate,
                      help="Variance reduction with the pre-period covariates the spec declares "
                           + ("(" + ", ".join(sorted({m.covariate for m in experiment.metrics + experiment.guardrails
                                                      if m.covariate})) + ")" if has_covariate else "(none declared)"))

summary = next(s for s in summaries if s.key == key)
st.caption(f"**{experiment.name}** · {summary.status} · {summary.exposures:,} users · control **{experiment.control}**"
           + (f" · {experiment.hypothesis}" if experiment.hypothesis else ""))

try:
    report = data.report(path, key, cuped)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()

if experiment.kind == "bandit":
    st.info("This is a bandit: its allocation moves with the weights, so the users per variant are not "
            "expected to match the configured split. See the **Bandit** page for allocation and regret.")

colors = variant_colors(variant_order(report, experiment.variant_keys), experiment.control)
labels = {m.key: m.label for m in experiment.metrics + experiment.guardrails}
render_report(report, colors, labels, key="report", file_stem=f"{key}-report{'' if cuped else '-no-cuped'}")

# Segment drill-down (a later issue) goes here: same report, filtered by a user attribute.
st.caption(f"Reproduce: `promolab report {key}{'' if cuped else ' --no-cuped'} --json`")
