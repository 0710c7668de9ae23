"""Bandit: allocation share over time (the stored weight history, ``promolab bandit weights
--json``), cumulative reward and estimated regret, per-arm allocation and the current weights
(``promolab.adaptive.regret``, ``promolab bandit regret KEY --json``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from promolab.errors import PromolabError
from ui import charts, data, state, words
from ui import format as fmt
from ui.bandit import allocation_steps, bandit_setting, reward_metric
from ui.colors import GOOD, NEUTRAL, variant_colors
from ui.plot import show_chart

path = data.db_path()
st.title("Bandit")

bandits = [s for s in data.experiments(path) if s.kind == "bandit"]
if not bandits:
    st.info("No bandit experiment in this registry. Create one on the **Launch** page (kind = bandit), or "
            "compare policies offline in the **Simulation lab**.")
    st.stop()

key = state.pick_experiment([s.key for s in bandits], "bandit", describe={s.key: s.name for s in bandits})
experiment = data.experiment(path, key)
summary = next(s for s in bandits if s.key == key)
names = words.variant_names(experiment)
colors = {names[k]: c for k, c in variant_colors(experiment.variant_keys, experiment.control).items()}
policy = bandit_setting(experiment, "policy", "—")
floor = bandit_setting(experiment, "floor")
reward = reward_metric(experiment)
reward_label = experiment.metric(reward).label
days = data.days_running(path, summary)
launched = "not launched" if summary.launched_at is None else (f"launched {summary.launched_at:%Y-%m-%d}, "
                                                               f"{days:.1f} days running")
st.caption(f"**{experiment.name}** · {summary.status} · {launched} · policy **{words.policy(policy)}** · reward "
           f"**{reward_label}** · {summary.exposures:,} users"
           + (f" · every arm keeps ≥ {floor:.0%} of traffic" if floor else ""))

history = data.weight_history(path, key)
weights = data.current_weights(path, key)
try:
    regret = data.bandit_regret(path, key)
except PromolabError as exc:
    st.error(str(exc))
    st.stop()
periods = regret.frame()

c1, c2 = st.columns([3, 2])
with c1:
    if history.empty:
        st.info("No weight updates stored yet: traffic follows the configured weights shown on the right.")
    else:
        until = periods.start.max() + pd.Timedelta(days=1) if len(periods) else None
        wide = allocation_steps(history, until)[[v for v in experiment.variant_keys
                                                 if v in set(history.variant_key)]].rename(columns=names)
        show_chart(charts.allocation_area(wide, colors, f"Allocation over time ({len(history.updated_at.unique())} "
                                                             "weight updates)"), key="bandit-allocation")
with c2:
    show_chart(charts.weight_bars({names[v]: weights.get(v, 0.0) for v in experiment.variant_keys}, colors),
                    key="bandit-weights")
    if not history.empty:
        last = history[history.updated_at == history.updated_at.max()].iloc[0]
        st.caption(f"Last update {last.updated_at:%Y-%m-%d %H:%M} by **{words.policy(last.policy)}**"
                   + (f": {last.reason}" if last.reason else ""))

if periods.empty:
    st.info("No exposures yet: reward and regret appear once users are assigned.")
    st.stop()

best = regret.best_variant
if regret.blocked:
    st.error(f"**Sample ratio mismatch — no best-arm read-out.** The users per arm do not match the split the "
             f"stored weights should have produced (χ² p = {fmt.pvalue(regret.srm.p_value)} < "
             f"{regret.srm.threshold:g}). Fix assignment before trusting the arms' means (the Report page shows "
             "the same block).")
for note in regret.notes:
    st.caption(note)
k1, k2, k3, k4 = st.columns(4)
k1.metric("Users", f"{regret.users:,}")
binary = regret.reward_kind == "binomial"
k2.metric(f"Total reward ({reward_label})", fmt.num(regret.total_reward, 6))
lost = "conversions" if binary else reward_label
k3.metric("Regret", fmt.num(regret.total_regret, 4),
          help=f"Estimated {lost} lost by sending users to arms other than the best so far (plug-in estimate).")
k3.caption(f"{lost} lost (estimated)")
k4.metric("Best arm so far", "blocked (SRM)" if regret.blocked else names.get(best, best),
          None if regret.blocked else (fmt.pct(regret.best_mean, 2) if binary else fmt.num(regret.best_mean))
          + f" {reward_label.lower()} per user", delta_color="off", delta_arrow="off",
          help="The arms' means are the Report page's (period-stratified).")

c1, c2 = st.columns(2)
with c1:
    show_chart(charts.cumulative(periods, "start", "cumulative_reward", GOOD, "reward",
                                      f"{reward_label} (cumulative)", "Cumulative reward"), key="bandit-reward")
with c2:
    show_chart(charts.cumulative(periods, "start", "cumulative_regret", NEUTRAL, "regret",
                                      f"{lost} lost (cumulative)", "Estimated cumulative regret"),
                    key="bandit-regret")
st.caption("Estimated regret: every user sent to arm a counts μ̂(best) − μ̂(a), with μ̂ the arms' mean reward "
           "so far. A good bandit's regret curve flattens as traffic moves to the best arm.")

st.subheader("Arms")
arms = regret.arm_frame()
rate = (lambda x: fmt.pct(x, 2)) if binary else fmt.num
show = arms.assign(
    variant=arms.variant.map(names), users=arms.users.map(fmt.users), reward=arms.reward.map(lambda x: fmt.num(x, 6)),
    mean_reward=arms.mean_reward.map(rate), gap=arms.gap.map(rate), regret=arms.regret.map(fmt.num),
    share_of_users=arms.share_of_users.map(fmt.pct), current_weight=arms.current_weight.map(fmt.pct),
).rename(columns={"reward": "total reward", "mean_reward": "mean reward", "gap": "gap to best",
                  "regret": "estimated regret", "share_of_users": "share of users",
                  "current_weight": "current weight"})
st.dataframe(show, hide_index=True, width="stretch")
with st.expander(f"Reward, regret and users per arm by {regret.period}"):
    per_period = periods.join(regret.allocation_frame().reset_index(drop=True)
                              .rename(columns=names).add_prefix("users: "))
    st.dataframe(per_period.rename(columns=lambda c: c.replace("_", " ")), hide_index=True, width="stretch")
    st.caption(f"The same numbers: `promolab bandit regret {key} --json`.")
with st.expander("Weight history"):
    st.dataframe(history.assign(variant_key=history.variant_key.map(names))
                 .rename(columns={"variant_key": "arm", "updated_at": "updated at"}), hide_index=True, width="stretch")
st.caption(f"For significance of the arms' differences see the **Report** page (`promolab report {key} --json`).")
