"""Report: per metric and variant the mean, lift with CI (forest plot), p-values, chance to
win, the verdict, SRM, guardrail margins, abuse filtering (and the unfiltered result),
promotion economics, the lift over time and a segment drill-down — ``promolab report KEY
[--no-cuped] [--no-filter] [--segment COL] --json`` and ``promolab report KEY --over-time --json``."""

from __future__ import annotations

import streamlit as st

from promolab.errors import PromolabError
from ui import charts, data, defaults, state, words
from ui.colors import variant_colors
from ui.report_view import report_dict, render_report, variant_order
from ui.sections import alerts_banner, kinds, segment_panel
from ui.plot import show_chart

MAX_SEGMENT_VALUES = 20  # free attributes with more distinct values (ids, amounts) are not offered

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
has_covariate = defaults.cuped(experiment)
with c2:
    cuped = st.toggle("CUPED", value=has_covariate, key="report-cuped", disabled=not has_covariate,
                      help="Variance reduction with the pre-period covariates the spec declares "
                           + ("(" + ", ".join(sorted({m.covariate for m in experiment.metrics + experiment.guardrails
                                                      if m.covariate})) + ")" if has_covariate else "(none declared)"))

summary = next(s for s in summaries if s.key == key)
names = words.variant_names(experiment)
st.caption(f"**{experiment.name}** · {summary.status} · {summary.exposures:,} users · control **{names[experiment.control]}**"
           + (f" · {experiment.hypothesis}" if experiment.hypothesis else ""))
alerts_banner(key, summary.status, [a for a in data.open_alerts(path) if a.experiment == key])

# the "Show unfiltered" toggle sits in the filtering panel below; its value picks the library call
show_unfiltered = bool(st.session_state.get("report-unfiltered", False)) and experiment.filtering is not None
try:
    report = data.report(path, key, cuped, show_unfiltered)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()

if experiment.kind == "bandit":
    st.info("This is a bandit: its allocation moves with the weights, so the users per variant are not "
            "expected to match the configured split. See the **Bandit** page for allocation and regret.")

colors = variant_colors(variant_order(report, experiment.variant_keys), experiment.control)
labels = {m.key: m.label for m in experiment.metrics + experiment.guardrails}


def drilldown(shown: dict) -> None:
    """Segment drill-down: the plan's segment columns, or any other stored attribute."""
    st.subheader("Segment drill-down")
    if experiment.kind == "bandit":
        st.caption("Segment drill-down is for A/B experiments; a bandit's per-segment policies are on the "
                   "Simulation lab (`promolab simulate-segments`).")
        return
    plan = list(experiment.plan.segments)
    values = data.attribute_values(path, key)
    free = [a for a, n in values.items() if a not in plan and 1 < n <= MAX_SEGMENT_VALUES]
    options = plan + free
    if not options:
        st.caption("No user attributes are stored for this experiment's users, so there is nothing to drill "
                   "down by.")
        return
    column = st.selectbox("Drill down by", options, key="report-segment",
                          format_func=lambda c: f"{c} (plan)" if c in plan else c,
                          help="The spec's segment columns first, then any other stored user attribute with at "
                               f"most {MAX_SEGMENT_VALUES} values. p-values are adjusted across all segments of "
                               "the column.")
    drill = next((d for d in shown["segments"] if d["column"] == column), None)
    if drill is None:
        try:
            drill = words.in_dollars(words.named(report_dict(data.segment_report(path, key, column, cuped)), names),
                                     words.money_metrics(experiment))["segments"][0]
        except PromolabError as exc:
            st.error(str(exc))
            return
    segment_panel(drill, {names.get(k, k): c for k, c in colors.items()}, labels, kinds(shown), key="report")
    st.caption(f"Reproduce: `promolab report {key}{'' if cuped else ' --no-cuped'} --segment {column} --json`")


def lift_over_time() -> None:
    """Cumulative lift per day or hour of first exposure with its CI band per variant, and the
    sequential boundary where the spec plans one (``promolab report KEY --over-time``)."""
    st.subheader("Lift over time")
    metric_keys = [m.key for m in experiment.metrics + experiment.guardrails]
    c1, c2 = st.columns([3, 1])
    metric = c1.selectbox("Metric", metric_keys, index=metric_keys.index(experiment.primary_metric.key),
                          format_func=lambda k: labels.get(k, k), key="report-ot-metric")
    period = c2.radio("Period", ["day", "hour"], horizontal=True, key="report-ot-period",
                      help="Users are grouped by the UTC day or hour of their first exposure.")
    try:
        series = data.over_time(path, key, period, cuped)
    except PromolabError as exc:
        st.error(str(exc))
        return
    if len(series.starts) < 2:
        st.caption(f"Every analysed user was first exposed in one {period}: there is no series to draw.")
        return
    m = series.metric(metric)
    frames = {names[s.variant]: series.frame(metric, s.variant) for s in m.lifts}
    show_chart(charts.lift_over_time(frames, {names.get(k, k): c for k, c in colors.items()}, m.kind,
                                     series.sequential, names[series.control]),
                    key="report-ot-chart")
    boundary = {"gst": "Dashed: ± the lift at which the group-sequential boundary is crossed at that point's "
                       "information fraction (nominal α, before correction). ",
                "msprt": "Dashed: ± the always-valid (mSPRT) half-width. "}.get(series.sequential or "", "")
    st.caption(f"Each point covers the users first exposed up to that {period}, with all their events so far; "
               f"band: {1 - series.alpha:.0%} CI; the last point is the report's lift. " + boundary)
    for s in m.lifts:
        st.caption(f"Trend: {s.trend_note}.")
    st.caption(f"Reproduce: `promolab report {key} --over-time --period {period}{'' if cuped else ' --no-cuped'} "
               "--json`")


def after_report(shown: dict) -> None:
    lift_over_time()
    drilldown(shown)


render_report(report, colors, labels, key="report", file_stem=f"{key}-report{'' if cuped else '-no-cuped'}",
              unfiltered_toggle=experiment.kind != "bandit", after=after_report, names=names,
              money=words.money_metrics(experiment))
st.caption(f"Reproduce: `promolab report {key}{'' if cuped else ' --no-cuped'}{' --no-filter' if show_unfiltered else ''}"
           " --json`")
