"""Targeting: who should get which offer. For an A/B experiment, uplift models learned on its
randomised users — Qini curves, uplift by decile and the targeting policy's off-policy value
against the blanket policies (``promolab uplift --experiment KEY --json``). For a contextual
experiment, its policy against the randomised holdout (``promolab report KEY --json``) and how
the policy allocates the variants by segment over time
(``promolab bandit allocation KEY --feature F --json``)."""

from __future__ import annotations

import streamlit as st

from promolab.analysis.allocation import PERIODS
from promolab.errors import PromolabError
from promolab.spec import Experiment
from promolab.uplift.regression import MODELS
from promolab.uplift.report import LEARNER_NAMES
from ui import data, defaults, state, words
from ui import format as fmt
from ui import targeting as view
from ui.colors import variant_colors
from ui.report_view import report_dict, verdict_box
from ui.plot import show_chart

MODEL_NAMES = {"ridge": "ridge (fast)", "hgb": "gradient boosting (slow)"}

path = data.db_path()
st.title("Targeting")


def uplift_view(experiment: Experiment) -> None:
    """Uplift models learned on an A/B test and the targeting policy they give."""
    key = experiment.key
    st.caption("Learned from the randomised experiment: cross-fitted uplift models predict each user's gain from "
               "each offer; the policy gives every user the offer with the highest predicted margin (none if no "
               "offer pays), and is valued off-policy on held-out users against sending everyone the same thing.")
    c1, c2, c3 = st.columns([2, 1, 2])
    learners = c1.multiselect("Learners", list(LEARNER_NAMES), default=list(defaults.UPLIFT_LEARNERS),
                              key="targeting-learners",
                              format_func=LEARNER_NAMES.get,
                              help="Meta-learners to compare. The policy uses the first one picked.")
    model = c2.selectbox("Base model", MODELS, index=MODELS.index(defaults.UPLIFT_MODEL), key="targeting-model",
                         format_func=MODEL_NAMES.get,
                         help="The regressor inside each learner: ridge takes seconds; gradient boosting can "
                              "capture interactions but takes a minute or more on tens of thousands of users.")
    share = c3.select_slider("Budget", defaults.UPLIFT_SHARES, key="targeting-share", format_func=view.share_label,
                             help="Give offers to at most this share of users (those with the highest predicted "
                                  "margin); no budget: everyone whose predicted margin is positive.")
    if not learners:
        st.info("Pick at least one learner.")
        return
    try:
        report = data.uplift_report(path, key, tuple(learners), model, share)
    except PromolabError as exc:
        st.warning(str(exc))
        return
    names = words.variant_names(experiment)
    colors = variant_colors(experiment.variant_keys, experiment.control)
    labels = view.policy_labels(report, names)
    blankets = view.blanket_policies(report)
    targeting = report.targeting

    st.subheader("Does targeting pay?")
    for lift in targeting.lifts:
        st.markdown(view.lift_sentence(lift, report, names))
    show_chart(view.policy_values(targeting, labels, colors, blankets), key="targeting-policies")
    st.dataframe(view.policy_table(targeting, labels, names), hide_index=True, width="stretch", column_config={
        **{names[a]: st.column_config.NumberColumn(format="percent", help=f"Share of users who get {names[a]}")
           for a in targeting.actions},
        "value (DR)": st.column_config.NumberColumn(format="%.4g", help="Value per user had everyone been "
                                                    "treated by this policy (doubly robust estimate)."),
        "ESS": st.column_config.NumberColumn(format="%.0f", help="Effective sample size of the importance "
                                             "weights: how many users the estimate effectively rests on.")})
    with st.expander("Other estimators: IPS, SNIPS, largest weight"):
        st.dataframe(view.estimator_table(targeting, labels), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4g")
                                    for c in ("IPS", "SNIPS", "largest weight")})
    costs = "; ".join(f"{names[v.key]} {words.cost(v.cost)}" for v in experiment.variants if v.cost)
    margin_rate = experiment.economics.margin_rate if experiment.economics else 1.0
    st.caption("Value: margin per user, had the policy been applied to everyone: "
               + (f"{margin_rate:g} × revenue" if margin_rate != 1 else "revenue")
               + f" minus the offer's cost ({costs or 'no costs in the spec'}). "
               "DR (doubly robust) combines a model of the outcome with importance weighting; IPS and SNIPS use "
               "the weights only. ESS (effective sample size) is how many users the estimate effectively rests "
               "on: far below the row count means a few heavily weighted users drive it.")
    for note in report.notes:
        st.caption(f"Note: {view.in_words(note, labels)}")

    st.subheader("How well do the models rank users?")
    outcomes = list(dict.fromkeys(e.outcome for e in report.evaluations))
    outcome = st.selectbox("Outcome", outcomes, key="targeting-outcome",
                           format_func=lambda m: experiment.metric(m).label)
    metric = experiment.metric(outcome)
    show_chart(view.qini_curves(report.evaluations, outcome, metric.label, names, colors), key="targeting-qini")
    st.dataframe(view.curve_table(report.evaluations, outcome, names), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f", help=h) for c, h in (
                     ("Qini coefficient", "Area between the Qini curve and the random line, as a share of the "
                                          "best possible: 1 = perfect ranking, 0 = no better than random."),
                     ("AUUC", "The same normalised area under the uplift curve."),
                     ("observed uplift", "Mean outcome with the offer minus without, over all users."),
                     ("mean predicted uplift", "The model's mean predicted uplift over the same users."))})
    st.caption("Qini curve: users sorted by predicted uplift, highest first; the curve is the total gain in "
               f"{metric.label} from giving the offer to the top share only. A model that ranks users well rises "
               "above the straight random line (targeting a random share).")
    show_chart(view.decile_bars(report.evaluations, report.learners[0], outcome, metric.label, metric.kind,
                                     names, colors), key="targeting-deciles")
    st.caption("Observed uplift among the users of each decile of predicted uplift (the policy's learner): it "
               "should fall from decile 1 to 10 and stay close to the predicted markers.")
    budget = "" if share is None else f" --share {share:g}"
    st.caption(f"Reproduce: `promolab uplift --experiment {key} --model {model} "
               + " ".join(f"--learner {name}" for name in learners) + f"{budget} --json`")


def contextual_view(experiment: Experiment) -> None:
    """A contextual experiment: its policy against the holdout, and its allocation by segment."""
    key = experiment.key
    try:
        report = data.report(path, key)
    except PromolabError as exc:
        st.warning(str(exc))
        return
    names = words.variant_names(experiment)
    colors = variant_colors(experiment.variant_keys, experiment.control)
    readout = report.contextual
    metric = experiment.metric(readout.metric)
    verdict_box(report_dict(report), {m.key: m.label for m in experiment.metrics + experiment.guardrails})

    st.subheader("Policy vs holdout")
    lift = readout.policy_vs_holdout
    st.caption(f"Reward: **{metric.label}** per user, the policy's users against the randomised holdout.")
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("Policy users", fmt.users(readout.policy_users))
    k2.metric("Holdout users", fmt.users(readout.holdout_users),
              help="Users assigned by the randomised split instead of the policy, to measure it.")
    if lift is None:
        st.info("The comparison needs at least 2 users in both the policy group and the holdout.")
    else:
        k3.metric("Mean: policy / holdout",
                  f"{fmt.metric_value(lift.treatment_mean, metric.kind)} / "
                  f"{fmt.metric_value(lift.control_mean, metric.kind)}")
        k4.metric("Policy − holdout", fmt.absolute(lift.absolute, metric.kind), f"p = {fmt.pvalue(lift.p_value)}",
                  delta_color="off", delta_arrow="off",
                  help=f"{lift.method}: mean {metric.label.lower()} per user of the policy's users minus the "
                       "holdout's, with its 95 % CI.")
        k4.caption(f"95 % CI {fmt.absolute(lift.abs_ci_low, metric.kind)} to "
                   f"{fmt.absolute(lift.abs_ci_high, metric.kind)}")
    if any(m is not None for m in readout.variants.values()):
        show_chart(view.readout_means(readout, names, colors, metric.label), key="targeting-snips")
        st.caption("What each variant would have earned had everyone got it, estimated from the policy's logged "
                   "propensities (self-normalised IPS); ESS is the effective number of users behind each estimate."
                   + (f" {readout.unlogged:,} exposed users without a logged propensity are left out."
                      if readout.unlogged else ""))

    st.subheader("Allocation by segment")
    features = experiment.contextual.features.names
    c1, c2 = st.columns([2, 1])
    feature = c1.selectbox("Segment by", features, key="targeting-feature",
                           help="A feature the policy decides on; numeric features are cut at their quartiles.")
    period = c2.radio("Period", PERIODS, horizontal=True, key="targeting-period")
    try:
        allocation = data.segment_allocation(path, key, feature, period)
    except PromolabError as exc:
        st.warning(str(exc))
        return
    if not allocation.cells:
        st.info("No exposures with a logged context yet: the allocation appears once the policy assigns users.")
        return
    show_chart(view.allocation_bars(allocation, names, colors), key="targeting-allocation")
    st.caption("Share of each segment's policy users who got each variant, by period of first exposure (the "
               "holdout is left out: it follows the randomised split whatever the segment).")


experiments = {s.key: data.experiment(path, s.key) for s in data.experiments(path)}
if not experiments:
    st.info("No experiment in this registry yet. Run `promolab demo`, or create one on the **Launch** page.")
    st.stop()
keys = sorted(experiments, key=lambda k: defaults.targeting_rank(experiments[k]))
key = state.pick_experiment(keys, "targeting",
                            describe={k: f"{e.name} ({e.kind})" for k, e in experiments.items()})
experiment = experiments[key]
if experiment.kind == "contextual":
    contextual_view(experiment)
elif defaults.targeting_rank(experiment) == 1:
    uplift_view(experiment)
elif experiment.kind == "bandit":
    st.info(f"**{key}** is a bandit: its traffic moved with the weights, so users were not randomised with fixed "
            "probabilities and uplift models cannot be learned from it here. Its allocation and regret are on the "
            "**Bandit** page; learn a targeting policy from an A/B test instead.")
else:
    st.info(f"**{key}** has a single variant: there is no offer to target.")
