"""Simulation lab: pick or edit a scenario, choose policies, run, and compare regret with
bands, allocation, best-arm identification and discount cost (``promolab simulate --json``)."""

from __future__ import annotations

import tomllib

import pandas as pd
import streamlit as st

from promolab.bandits import POLICIES
from promolab.errors import PromolabError
from promolab.sim.metrics import IDENTIFIED
from promolab.sim.scenario import parse_scenario
from ui import charts, data, words
from ui import format as fmt
from ui.colors import series_colors, variant_colors
from ui.plot import show_chart

st.title("Simulation lab")
st.caption("Replay bandit strategies offline on a scenario before spending real traffic. "
           "Scenarios are the TOML files in `simulations/`; edit one here and run it.")

files = data.scenario_files()
names = [f.stem for f in files]
if not names:
    st.warning(f"No scenario files found in {data.SIMULATIONS}.")
    st.stop()
c1, c2 = st.columns([2, 3])
default = names.index("coupons") if "coupons" in names else 0
name = c1.selectbox("Scenario", names, index=default, key="sim-scenario")
file = files[names.index(name)]
text = st.text_area("Scenario (TOML) — edit freely; the file on disk is not changed", file.read_text(),
                    height=260, key=f"sim-toml-{name}")

try:
    scenario = parse_scenario(tomllib.loads(text), source=f"{file.name} (edited)" if text != file.read_text()
                              else file.name)
except (PromolabError, tomllib.TOMLDecodeError) as exc:
    st.error(f"Scenario error — {exc}")
    st.stop()
c2.markdown(f"**{scenario.name}** — {scenario.description or 'no description'}  \n"
            f"{scenario.horizon:,} users per run · batches of {scenario.batch_size:,} · delay {scenario.delay} · "
            f"reward = **{scenario.reward}** · arms: {', '.join(scenario.arms.names)}")

labels = [p.label for p in scenario.policies]
options = labels + [p for p in POLICIES if p not in labels]
c1, c2, c3 = st.columns([4, 1, 1])
chosen = c1.multiselect("Policies", options, default=labels, key=f"sim-policies-{name}",
                        help="The scenario's configured policies, or any registered policy with default parameters.")
runs = c2.number_input("Runs", min_value=2, max_value=2000, value=min(scenario.runs, 50), step=10,
                       key=f"sim-runs-{name}", help="Independent runs per policy (the file says "
                                                    f"{scenario.runs}); more runs = tighter bands, slower.")
seed = c3.number_input("Seed", min_value=0, value=int(scenario.seed), step=1, key=f"sim-seed-{name}")

request = (text, file.name, tuple(chosen), int(runs), int(seed))
if st.button("Run simulation", icon=":material/play_arrow:", type="primary", key="sim-run", disabled=not chosen):
    st.session_state["sim-request"] = request
if st.session_state.get("sim-request") is None:
    st.info("Choose policies and press **Run simulation**.")
    st.stop()
if st.session_state["sim-request"] != request:
    st.caption("Settings changed since the last run: press **Run simulation** to update.")

toml_text, source, policies, n_runs, n_seed = st.session_state["sim-request"]
try:
    with st.spinner(f"Simulating {len(policies)} policies × {n_runs} runs…"):
        ran, summaries = data.simulate(toml_text, source, policies, n_runs, n_seed)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()

pcolors = series_colors([s.policy for s in summaries])
acolors = variant_colors(list(ran.arms.names), ran.arms.names[0])
best = min(summaries, key=lambda s: s.regret.mean[-1])
st.success(f"Lowest regret: **{words.policy(best.policy)}** ({best.regret.mean[-1]:,.1f} after {int(best.users[-1]):,} users, "
           f"mean of {best.runs} runs).")

UNITS = {"conversion": "conversions", "revenue": "revenue", "margin": "margin"}
show_chart(charts.regret_bands(summaries, pcolors, summaries[0].lai_robbins,
                                    f"{UNITS.get(ran.reward, ran.reward)} lost"), key="sim-regret")
st.caption("Lines: mean over runs; bands: 5th–95th percentile of runs. Regret = expected reward lost against "
           "always playing the best arm.")

rows, costs = [], []
for s in summaries:
    rows.append({"policy": words.policy(s.policy),
                 "regret (mean)": round(float(s.regret.mean[-1]), 1),
                 "regret 5–95 %": f"{s.regret.low[-1]:,.0f} – {s.regret.high[-1]:,.0f}",
                 "P(best found)": fmt.pct(float(s.p_best[-1]), 0),
                 "users to find the winner": ("not found" if s.users_to_identify is None
                                              else f"{s.users_to_identify:,}")})
    cost = {"policy": words.policy(s.policy), "discount spent": round(float(s.discount_spent.mean[-1]), 1)}
    if s.margin_lost is not None:
        cost["margin lost"] = round(float(s.margin_lost.mean[-1]), 1)
    cost.update({f"final share: {arm}": fmt.pct(float(share), 0) for arm, share in zip(s.arms, s.final_share)})
    costs.append(cost)
st.subheader("Summary")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
    "P(best found)": st.column_config.TextColumn(help="Share of runs whose best-looking arm at the end is the "
                                                      "truly best one."),
    "users to find the winner": st.column_config.TextColumn(
        help=f"First point from which P(best found) stays ≥ {IDENTIFIED:.0%}.")})
with st.expander("Details: discount spent, margin lost, final share of each arm"):
    st.dataframe(pd.DataFrame(costs), hide_index=True, width="stretch")
    st.caption("Discount spent and margin lost are per run, in order-value units.")

c1, c2 = st.columns(2)
with c1:
    show_chart(charts.p_best(summaries, pcolors, IDENTIFIED), key="sim-pbest")
with c2:
    show_chart(charts.discount_bars(summaries, pcolors), key="sim-cost")

st.subheader("Allocation over time")
cols = st.columns(min(len(summaries), 3))
for i, s in enumerate(summaries):
    with cols[i % len(cols)]:
        show_chart(charts.sim_allocation(s, acolors), key=f"sim-alloc-{i}")
st.caption("Reproduce: `promolab simulate " + (f"simulations/{source}" if source == file.name else "SCENARIO.toml")
           + "".join(f" --policy {p}" for p in policies) + f" --runs {n_runs} --seed {n_seed} --json`")
