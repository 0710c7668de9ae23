"""Launch: a form that builds an experiment spec, validates it with the library (errors shown
next to the field), sizes it with the power calculator (``promolab power --json``), offers it
as TOML and creates it in the registry (``promolab experiment create``)."""

from __future__ import annotations

import streamlit as st

from promolab.bandits import POLICIES
from promolab.errors import InputError, PromolabError
from promolab.spec import experiment_to_toml
from promolab.spec.model import CORRECTIONS, SPENDING_FUNCTIONS
from promolab.spec.vocabulary import SPENDING_NAMES as SPENDINGS
from promolab.stats import sample_size_mean, sample_size_proportion
from ui import data, words
from ui import format as fmt
from ui.launch import build, days_needed

path = data.db_path()
st.title("Launch an experiment")
st.caption("Define the promotion, size it, then create it as a draft in the registry (or download the spec "
           "as TOML for `experiments/` and `promolab experiment create`).")

slots: dict = {}


def _section(field_: str) -> str:
    """The section an error belongs to when it names no single widget."""
    if field_.startswith(("metric", "guardrails")):
        return "metrics"
    for section in ("variants", "analysis", "bandit"):
        if field_.startswith(section):
            return section
    return "key" if field_ == "experiment" else ""


def slot(name: str) -> None:
    """A place right under a widget for the error of spec field ``name``."""
    slots[name] = st.empty()


# -- basics ------------------------------------------------------------------------------
st.subheader("1 · Basics")
c1, c2, c3 = st.columns([2, 3, 2])
with c1:
    key = st.text_input("Experiment key", "spring-coupon", key="launch-key",
                        help="Lowercase letters, digits, '-' or '_'; unique in the registry.")
    slot("key")
with c2:
    name = st.text_input("Name", "Spring coupon: 10 % off vs free shipping", key="launch-name")
    slot("name")
with c3:
    owner = st.text_input("Owner", "marketing", key="launch-owner")
    slot("owner")
hypothesis = st.text_input("Hypothesis", "A 10 % coupon lifts conversion enough to pay for the discount.",
                           key="launch-hypothesis")
slot("hypothesis")
c1, c2 = st.columns([1, 3])
with c1:
    kind = st.radio("Assignment", ["ab", "bandit"], key="launch-kind", horizontal=True,
                    format_func=lambda k: {"ab": "A/B split", "bandit": "bandit"}[k])
    slot("kind")
with c2:
    traffic = st.slider("Traffic (% of eligible users in the test)", 0, 100, 100, key="launch-traffic")
    slot("traffic_percent")

# -- variants ----------------------------------------------------------------------------
st.subheader("2 · Variants")
slot("variants")
n_variants = st.number_input("Number of variants (including the control)", 2, 6, 3, key="launch-n-variants")
DEFAULT_VARIANTS = [("no-coupon", "No coupon", "{}"), ("pct10", "10 % off", '{"discount_pct": 10}'),
                    ("free-shipping", "Free shipping", '{"free_shipping": true}')]
variants = []
for i in range(int(n_variants)):
    dk, dn, dp = DEFAULT_VARIANTS[i] if i < len(DEFAULT_VARIANTS) else (f"variant-{i + 1}", f"Variant {i + 1}", "{}")
    c1, c2, c3, c4 = st.columns([2, 3, 1, 3])
    with c1:
        vk = st.text_input("Key", dk, key=f"launch-v{i}-key", label_visibility="visible" if i == 0 else "collapsed")
        slot(f"variants[{i}].key")
    with c2:
        vn = st.text_input("Name", dn, key=f"launch-v{i}-name", label_visibility="visible" if i == 0 else "collapsed")
        slot(f"variants[{i}].name")
    with c3:
        vw = st.number_input("Weight", 0.0, 100.0, 1.0, 0.5, key=f"launch-v{i}-weight",
                             label_visibility="visible" if i == 0 else "collapsed")
        slot(f"variants[{i}].weight")
    with c4:
        vp = st.text_input("Payload (JSON or TOML table)", dp, key=f"launch-v{i}-payload",
                           label_visibility="visible" if i == 0 else "collapsed")
        slot(f"variants[{i}].payload")
    variants.append({"key": vk.strip(), "name": vn.strip(), "weight": vw, "payload": vp})
keys = [v["key"] for v in variants if v["key"]]
control = st.selectbox("Control (the variant the others are compared with)", keys or [""], key="launch-control")
slot("control")

# -- metrics -----------------------------------------------------------------------------
st.subheader("3 · Metrics")
st.caption("The first non-guardrail metric is the primary metric the verdict is based on.")
slot("metrics")
n_metrics = st.number_input("Number of metrics", 1, 6, 2, key="launch-n-metrics")
DEFAULT_METRICS = [("conversion", "Ordered", "binomial", "order"), ("revenue", "Revenue per user ($)", "mean", "order")]
metric_rows = []
for i in range(int(n_metrics)):
    dk, dn, dkind, de = DEFAULT_METRICS[i] if i < len(DEFAULT_METRICS) else (f"metric-{i + 1}", "", "binomial", "")
    show = "visible" if i == 0 else "collapsed"
    c1, c2, c3, c4, c5, c6, c7 = st.columns([2, 3, 2, 2, 2, 2, 2])
    with c1:
        mk = st.text_input("Key", dk, key=f"launch-m{i}-key", label_visibility=show)
        slot(f"m{i}.key")
    with c2:
        mn = st.text_input("Label", dn, key=f"launch-m{i}-name", label_visibility=show)
        slot(f"m{i}.name")
    with c3:
        mkind = st.selectbox("Kind", ["binomial", "mean", "ratio"], ["binomial", "mean", "ratio"].index(dkind),
                             key=f"launch-m{i}-kind", label_visibility=show)
        slot(f"m{i}.kind")
    row = {"key": mk.strip(), "name": mn.strip(), "kind": mkind}
    if mkind == "ratio":
        with c4:
            row["numerator"] = st.text_input("Numerator metric", key=f"launch-m{i}-num", label_visibility=show).strip()
            slot(f"m{i}.numerator")
        with c5:
            row["denominator"] = st.text_input("Denominator metric", key=f"launch-m{i}-den",
                                               label_visibility=show).strip()
            slot(f"m{i}.denominator")
    else:
        with c4:
            row["event"] = st.text_input("Event", de, key=f"launch-m{i}-event", label_visibility=show).strip()
            slot(f"m{i}.event")
        with c5:
            row["aggregate"] = st.selectbox("Aggregate", ["sum", "count"], key=f"launch-m{i}-aggregate",
                                            label_visibility=show, disabled=mkind == "binomial")
            slot(f"m{i}.aggregate")
    with c6:
        row["direction"] = st.selectbox("Better when", ["increase", "decrease"], key=f"launch-m{i}-direction",
                                        label_visibility=show)
        slot(f"m{i}.direction")
    with c7:
        row["guardrail"] = st.checkbox("Guardrail", key=f"launch-m{i}-guardrail",
                                       label_visibility=show if i else "visible")
    metric_rows.append(row)

# -- analysis plan and bandit ----------------------------------------------------------------
st.subheader("4 · Analysis plan")
slot("analysis")
c1, c2, c3, c4, c5 = st.columns(5)
alpha = c1.number_input("Significance level α", 0.001, 0.2, 0.05, 0.005, format="%.3f", key="launch-alpha")
correction = c2.selectbox("Multiple-testing correction", list(CORRECTIONS), key="launch-correction",
                          format_func={"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "none"}.get,
                          help="Several variants and metrics give several chances of a false win. "
                               + "; ".join(f"{k}: {words.correction(k)}" for k in CORRECTIONS) + ".")
sequential = c3.selectbox("Sequential monitoring", ["none", "gst", "msprt"], key="launch-sequential",
                          format_func={"none": "none (fixed horizon)", "gst": "group-sequential",
                                       "msprt": "always-valid (mSPRT)"}.get)
looks = c4.number_input("Planned looks", 1, 30, 4, key="launch-looks", disabled=sequential != "gst")
spending = c5.selectbox("α-spending", list(SPENDING_FUNCTIONS), key="launch-spending",
                        format_func=lambda s: SPENDINGS.get(s, s), disabled=sequential != "gst",
                        help="How the false-alarm budget α is spread over the looks.")
with c4:
    slot("analysis.looks")
analysis = {"alpha": alpha, "correction": correction}
if sequential != "none":
    analysis["sequential"] = sequential
if sequential == "gst":
    analysis.update(looks=int(looks), spending=spending)
bandit = None
if kind == "bandit":
    c1, c2, c3, c4, c5 = st.columns(5)
    with c1:
        policy = st.selectbox("Bandit policy", list(POLICIES), key="launch-policy")
        slot("bandit.policy")
    with c2:
        reward = st.selectbox("Reward metric", [m["key"] for m in metric_rows if m["key"] and m["kind"] != "ratio"]
                              or [""], key="launch-reward")
        slot("bandit.reward")
    with c3:
        period = st.number_input("Update weights every (hours)", 0.25, 24.0 * 7, 1.0, 0.25, key="launch-period")
        slot("bandit.update_period_seconds")
    with c4:
        floor = st.number_input("Minimum share per arm (%)", 0.0, 50.0, 5.0, 1.0, key="launch-floor",
                                help="Every arm keeps at least this share of traffic, so it can still be measured.")
        slot("bandit.floor")
    with c5:
        burn_in = st.number_input("Burn-in (users per arm)", 0, 1_000_000, 100, 50, key="launch-burn-in",
                                  help="The configured split is kept until every arm has this many users.")
        slot("bandit.burn_in")
    bandit = {"policy": policy, "reward": reward, "update_period_seconds": float(period) * 3600,
              "floor": float(floor) / 100, "burn_in": int(burn_in)}
    slot("bandit")

form = {"key": key.strip(), "name": name.strip(), "owner": owner.strip(), "hypothesis": hypothesis.strip(),
        "kind": kind, "traffic_percent": traffic, "control": control, "variants": variants, "metrics": metric_rows,
        "analysis": analysis, "bandit": bandit}
result = build(form)

# -- power ---------------------------------------------------------------------------------
st.subheader("5 · How long will it take?")
primary = next((m for m in metric_rows if not m.get("guardrail")), metric_rows[0])
estimate, days_seen = data.daily_traffic(path)
c1, c2, c3, c4 = st.columns(4)
with c1:
    if primary["kind"] == "mean":
        baseline = st.number_input(f"Baseline mean of {primary['key'] or 'the metric'}", value=5.0,
                                   key="launch-baseline-mean")
        sd = st.number_input("Standard deviation per user", min_value=0.0, value=25.0, key="launch-sd")
    else:
        baseline = st.number_input(f"Baseline rate of {primary['key'] or 'the metric'} (%)", 0.01, 99.99, 3.0,
                                   key="launch-baseline") / 100
        sd = None
with c2:
    mde = st.number_input("Minimum detectable effect (relative, %)", 0.1, 500.0, 10.0, 0.5, key="launch-mde") / 100
    power_ = st.number_input("Power (%)", 50.0, 99.0, 80.0, 5.0, key="launch-power") / 100
with c3:
    daily = st.number_input("Eligible users per day", 1, 100_000_000, int(estimate or 10_000), step=500,
                            key="launch-daily",
                            help=(f"Default: median users first exposed per day in this registry ({days_seen} days)."
                                  if estimate else "No exposures in the registry yet: enter your traffic."))
power_slot = st.empty()
try:
    if primary["kind"] == "mean":
        power = sample_size_mean(baseline, sd, mde, alpha, power_, len(variants))
    else:
        power = sample_size_proportion(baseline, mde, alpha, power_, len(variants))
except PromolabError as exc:
    power_slot.error(f"Power calculator — {exc}")
    power = None
if power is not None:
    days = days_needed(power.n_per_variant, [v["weight"] for v in variants], daily, traffic)
    with c4:
        st.metric("Users per variant", f"{power.n_per_variant:,}", f"{power.n_total:,} in total", delta_color="off", delta_arrow="off")
        st.metric("Days at current traffic", "never (no traffic)" if days is None else f"{days:,}",
                  None if days is None else f"{daily * traffic / 100:,.0f} users/day in the test", delta_color="off", delta_arrow="off")
    st.caption(f"Detects a {fmt.pct(power.mde_relative)} relative change ({power.mde_absolute:.4g} absolute) from "
               f"{power.baseline:.4g}: if the offer truly changes it that much, the test finds it "
               f"{power.power:.0%} of the time, with a {power.alpha:.0%} chance of a false alarm "
               f"(method: {power.method}). "
               f"Reproduce: `promolab power --baseline {power.baseline:g} --mde {mde:g}"
               + (f" --kind mean --sd {sd:g}" if sd is not None else "")
               + f" --alpha {alpha:g} --power {power_:g} --variants {len(variants)} "
                 f"--daily-users {int(daily * traffic / 100)} --json`")

# -- validate, download, create -------------------------------------------------------------
st.subheader("6 · Create")
c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
validate = c1.button("Validate", key="launch-validate", width="stretch")
create = c2.button("Create experiment", type="primary", key="launch-create", width="stretch")
c3.download_button("Download TOML", experiment_to_toml(result.experiment) if result.ok else "",
                   f"{form['key'] or 'experiment'}.toml", "application/toml", key="launch-toml",
                   disabled=not result.ok, width="stretch")
start_now = c4.checkbox("Start it now (status running)", key="launch-start")
if validate or create:
    st.session_state["launch-attempted"] = True

created = None
if create and result.ok:
    try:
        reg = data.registry(path)
        reg.create_experiment(result.experiment, by="dashboard")
        if start_now:
            reg.set_status(result.experiment.key, "running", by="dashboard", reason="launched from the dashboard")
        created = result.experiment.key
        data.clear()
    except InputError as exc:
        result.errors[exc.field] = f"{exc.field}: got {exc.value!r}, expected {exc.expected}"
    except PromolabError as exc:
        result.errors["_"] = str(exc)

general = st.empty()
if st.session_state.get("launch-attempted") and result.errors:
    placed: dict[str, list[str]] = {}
    for field_, text in result.errors.items():
        target = field_
        for i, prefix in enumerate(result.metric_fields):
            if field_.startswith(prefix + "."):
                target = f"m{i}." + field_[len(prefix) + 1:]
        if target not in slots:
            target = _section(field_)
        if target in slots:
            placed.setdefault(target, []).append(text)
    for target, texts in placed.items():
        slots[target].error("  \n".join(texts), icon=":material/error:")
    general.error(f"**{len(result.errors)} problem(s)** — fix the fields marked in red:\n\n"
                  + "\n".join(f"- {t}" for t in result.errors.values()))
elif st.session_state.get("launch-attempted") and result.ok and not created:
    general.success(f"`{result.experiment.key}` is a valid experiment spec.")
if created:
    st.success(f"Created **{created}** ({'running' if start_now else 'draft'}) in `{path}`.")
    st.page_link("app_pages/experiments.py", label="See it in the experiment list", icon=":material/list_alt:")

with st.expander("Spec preview (TOML)"):
    st.code(experiment_to_toml(result.experiment) if result.ok else "# fix the problems above to see the spec",
            language="toml")
