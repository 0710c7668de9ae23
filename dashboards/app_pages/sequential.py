"""Sequential: the z-statistic over interim looks against group-sequential boundaries, and
the always-valid p-value and confidence sequence over time — all from
``promolab.analysis.sequential_path`` (``promolab sequential KEY --looks K --json``)."""

from __future__ import annotations

import streamlit as st

from promolab.errors import PromolabError
from ui import charts, data, defaults, state, words
from ui import format as fmt
from ui.colors import variant_colors
from ui.sequential import SPENDINGS, look_frame
from ui.plot import show_chart

path = data.db_path()
st.title("Sequential monitoring")
st.caption("Peeking at a fixed-horizon test inflates false positives. Group-sequential boundaries spend α "
           "across planned looks; the always-valid p-value and confidence sequence stay valid at any look.")

summaries = [s for s in data.experiments(path) if s.exposures > 0]
if not summaries:
    st.info("No experiment with exposures yet.")
    st.stop()

key = state.pick_experiment([s.key for s in summaries], "sequential", describe={s.key: s.name for s in summaries})
experiment = data.experiment(path, key)
metrics = [m.key for m in experiment.metrics + experiment.guardrails]
labels = {m.key: m.label for m in experiment.metrics + experiment.guardrails}
treatments = [v for v in experiment.variant_keys if v != experiment.control]
names = words.variant_names(experiment)

c1, c2, c3, c4 = st.columns([3, 2, 1, 2])
metric = c1.selectbox("Metric", metrics, format_func=lambda k: labels.get(k, k), key="seq-metric")
treatment = c2.selectbox("Variant vs control", treatments, key="seq-treatment", format_func=names.get)
planned_looks, planned_spending = defaults.sequential_design(experiment)
looks = c3.number_input("Looks", min_value=2, max_value=30, value=planned_looks, step=1, key="seq-looks",
                        help="How many times the results are checked (the spec's analysis.looks when declared).")
spending = c4.selectbox("α-spending", list(SPENDINGS), format_func=lambda s: SPENDINGS[s],
                        index=list(SPENDINGS).index(planned_spending), key="seq-spending",
                        help="How the 5 % false-alarm budget is spread over the looks: O'Brien-Fleming keeps early "
                             "looks strict (stop early only on a very large effect); Pocock spends it evenly.")

try:
    path_ = data.sequential_path(path, key, int(looks), spending)
    comparison = path_.comparison(metric, treatment)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()

frame = look_frame(path_, metric, treatment)
colors = variant_colors(experiment.variant_keys, experiment.control)
color = colors[treatment]
for note in path_.notes:
    st.info(note)

last = frame.iloc[-1]
crossing = comparison.first_crossing
k1, k2, k3, k4 = st.columns(4)
k1.metric("Looks", f"{len(frame)}", help="Looks with new users; empty periods are skipped.")
k2.metric("z at the last look", f"{last.z:.2f}", f"boundary ±{last.boundary:.2f}", delta_color="off", delta_arrow="off",
          help="The lift measured in standard errors; beyond the boundary the test may stop and declare a winner.")
k3.metric("Always-valid p", fmt.pvalue(last.always_valid_p), f"α = {path_.alpha:g}", delta_color="off", delta_arrow="off",
          help="A p-value that stays valid however often you look: stop as soon as it falls below α.")
k4.metric("Boundary first crossed", "blocked (SRM)" if path_.blocked else "not crossed" if crossing is None
          else f"look {crossing}",
          None if crossing is None or path_.blocked else f"{int(frame.users[frame.look == crossing].iloc[0]):,} users",
          delta_color="off", delta_arrow="off")
if path_.blocked:
    st.error(f"**Sample ratio mismatch — no stop/go read-out.** The users per variant do not match the configured "
             f"split (χ² p = {fmt.pvalue(path_.srm.p_value)} < {path_.srm.threshold:g}), so no boundary crossing "
             "can be trusted. Fix assignment before deciding (the Report page shows the same block).")
elif crossing is not None:
    st.success(f"The group-sequential test ({SPENDINGS[spending]} spending, {words.correction(path_.correction)}) "
               f"could have stopped at look {crossing} of {len(frame)}: {names[treatment]} differs from "
               f"{names[experiment.control]} on {labels.get(metric, metric)}.")
else:
    st.info("No boundary crossed: under this design the test would keep running to the last look.")

st.subheader("z-statistic against the group-sequential boundaries")
show_chart(charts.z_path(frame, color, names[treatment], path_.alpha), key="seq-z")
st.subheader("Always-valid inference")
c1, c2 = st.columns(2)
with c1:
    show_chart(charts.pvalue_path(frame, color, path_.alpha), key="seq-p")
    st.caption("Always-valid p-value (mSPRT, Johari et al. 2017): unlike the naive p-value it may be checked "
               "after every look without raising false alarms; it only ever goes down. Its tuning "
               f"(mixing variance τ² = {comparison.tau2:.3g}) is set from the first look.")
with c2:
    show_chart(charts.interval_path(frame, color, comparison.kind), key="seq-ci")
    st.caption("Shaded: a confidence sequence (Waudby-Smith et al. 2023), a range for the lift that holds at "
               "every look at once; dotted: the usual confidence interval, valid only at one pre-planned look.")

with st.expander("Numbers per look"):
    show = frame[["look", "users", "information_fraction", "control_mean", "treatment_mean", "z", "boundary",
                  "nominal_p", "crossed", "p_value", "p_value_adjusted", "always_valid_p", "cs_abs_ci_low",
                  "cs_abs_ci_high"]]
    st.dataframe(show.rename(columns=lambda c: c.replace("_", " ")), hide_index=True, width="stretch",
                 column_config={"information fraction": st.column_config.NumberColumn("information", format="%.2f"),
                                "users": st.column_config.NumberColumn(format="localized")})
    st.download_button("Download CSV", frame.to_csv(index=False),
                       f"{key}-{metric}-{treatment}-looks.csv", "text/csv", key="seq-csv")
    st.caption(f"The same numbers: `promolab sequential {key} --looks {int(looks)} --spending {spending} "
               f"--metric {metric} --json`.")
