"""The issue-8 sections of a report, drawn from the report JSON (``promolab report KEY --json``):
guardrail margins, abuse and bot filtering (with the unfiltered comparison), promotion
economics, and the segment drill-down.

Every number comes from the ``guardrails``, ``filtering``, ``unfiltered``, ``economics`` and
``segments`` entries of ``Report.to_dict()``; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from ui import charts, words
from ui import format as fmt
from ui.plot import show_chart


def kinds(data: Mapping[str, Any]) -> dict[str, str]:
    return {m["name"]: m["kind"] for m in data["metrics"]}


# -- guardrails -------------------------------------------------------------------------------

def failed_guardrails(data: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Variant → its failed margin checks (the ones that turn the verdict into "do not ship")."""
    out = {}
    for variant, checks in (data.get("guardrails") or {}).items():
        bad = [c for c in checks if not c["passed"] and c.get("bound") is not None]
        if bad:
            out[variant] = bad
    return out


def change(x: float | None, kind: str, margin_type: str) -> str:
    """A guardrail difference in its margin's scale: % (relative), pp (rates) or the metric's unit."""
    if not fmt.is_num(x):
        return "—"
    if margin_type == "relative":
        return fmt.pct(x, 2, signed=True)
    return fmt.absolute(x, kind)


def check_line(variant: str, c: Mapping[str, Any], kind: str, labels: Mapping[str, str]) -> str:
    """One sentence per check: pass/fail, the harmful bound against the margin."""
    name = labels.get(c["metric"], c["metric"])
    if c.get("bound") is None:
        return f"**{variant}** · {'passes' if c['passed'] else 'FAILS'} **{name}**: {c['text'].split(': ', 1)[-1]}"
    mt = c["margin_type"]
    side = "upper" if c["direction"] == "decrease" else "lower"
    where = "inside" if c["passed"] else "not inside"
    return (f"**{variant}** · {'passes' if c['passed'] else 'FAILS'} **{name}**: {side} bound "
            f"{change(c['bound'], kind, mt)} is {where} the margin {change(c['threshold'], kind, mt)} "
            f"(estimate {change(c['estimate'], kind, mt)}, one-sided p {fmt.pvalue(c['p_value'])})")


def guardrail_table(data: Mapping[str, Any], labels: Mapping[str, str]) -> pd.DataFrame:
    k = kinds(data)
    rows = []
    for variant, checks in (data.get("guardrails") or {}).items():
        for c in checks:
            mt = c.get("margin_type", "absolute")
            kind = k.get(c["metric"], "mean")
            rows.append({"variant": variant, "guardrail": labels.get(c["metric"], c["metric"]),
                         "result": "pass" if c["passed"] else "FAIL",
                         "estimate": change(c.get("estimate"), kind, mt),
                         "harmful-side bound": change(c.get("bound"), kind, mt),
                         "margin": change(c.get("threshold"), kind, mt),
                         "one-sided p": fmt.pvalue(c.get("p_value")),
                         "method": c.get("method", "")})
    return pd.DataFrame(rows)


def guardrail_panel(data: Mapping[str, Any], colors: Mapping[str, str], labels: Mapping[str, str],
                    key: str) -> None:
    """Per variant: pass / fail with the one-sided bound against the non-inferiority margin."""
    checks = data.get("guardrails") or {}
    if not checks:
        return
    k = kinds(data)
    for variant, cs in checks.items():
        for c in cs:
            (st.success if c["passed"] else st.error)(
                check_line(variant, c, k.get(c["metric"], "mean"), labels),
                icon=":material/verified_user:" if c["passed"] else ":material/gpp_bad:")
    if any(c.get("bound") is not None for cs in checks.values() for c in cs):
        show_chart(charts.guardrail_margins(checks, colors, k, labels), key=f"{key}-guardrail-margins")
        alpha = next(c["alpha"] for cs in checks.values() for c in cs if c.get("alpha") is not None)
        st.caption(f"Non-inferiority: a variant passes when the harmful end of its one-sided {1 - alpha:.1%} bound "
                   "stays on the safe side of the margin (red dashed line). A failed guardrail makes the verdict "
                   "“do not ship” whatever the primary metric says.")
    st.dataframe(guardrail_table(data, labels), hide_index=True, width="stretch")


# -- abuse and bot filtering ------------------------------------------------------------------

def filtering_table(f: Mapping[str, Any]) -> pd.DataFrame:
    """Rules × variants: users excluded (share of exposed), the chi-square p of each row."""
    variants = list(f["exposed"])

    def cell(n: int, v: str) -> str:
        return f"{n:,} ({n / max(f['exposed'][v], 1):.2%})"

    rows = [{"rule": r["rule"], "description": r["description"],
             **{v: cell(r["excluded"].get(v, 0), v) for v in variants}, "imbalance p": fmt.pvalue(r["p_value"])}
            for r in f["rules"]]
    rows.append({"rule": "excluded (any rule)", "description": "",
                 **{v: cell(f["excluded"][v], v) for v in variants},
                 "imbalance p": fmt.pvalue(f["imbalance"]["p_value"])})
    rows.append({"rule": "analysed", "description": "users kept",
                 **{v: f"{f['kept'][v]:,} of {f['exposed'][v]:,}" for v in variants}, "imbalance p": ""})
    return pd.DataFrame(rows)


def alerts_banner(key: str, status: str, alerts: Sequence[Any]) -> None:
    """The experiment's unacknowledged health alerts (``promolab alerts --experiment KEY``),
    red when promolab paused it (``[safety] auto_pause``) and it is still paused."""
    if not alerts:
        return
    lines = "\n".join(f"- {a.message} (alert {a.id}, {a.raised_at:%Y-%m-%d %H:%M} UTC"
                      + (", paused the experiment)" if a.action == "paused" else ")") for a in alerts)
    ack = "`promolab alerts ack ID` acknowledges one."
    if status == "paused" and any(a.action == "paused" for a in alerts):
        st.error("**Paused automatically by promolab** (`[safety] auto_pause`): every user now gets the control "
                 f"and no exposure is recorded. Resume with `promolab experiment launch {key}` once it is fixed.\n\n"
                 f"{lines}\n\n{ack}", icon=":material/pause_circle:")
    else:
        st.warning(f"**{len(alerts)} unacknowledged health alert{'s' if len(alerts) > 1 else ''}**\n\n{lines}\n\n{ack}",
                   icon=":material/notifications_active:")


def exposures_banner(data: Mapping[str, Any]) -> None:
    """A warning when users saw more than one variant (the report's health section)."""
    x = (data.get("health") or {}).get("multiple_exposures")
    if not x or not x["cross_variant_users"]:
        return
    what = "excluded from every metric" if x["policy"] == "exclude" else "kept in every variant they saw"
    st.warning(f"**{x['cross_variant_users']:,} of {x['users']:,} users saw more than one offer** "
               f"({', '.join(f'{v} {n:,}' for v, n in x['cross_variant_by_variant'].items() if n)}); they are "
               f"{what}. Check the SDK or the assignment calls.", icon=":material/call_split:")


def imbalance_banner(data: Mapping[str, Any]) -> None:
    """Red banner when the filter excludes users unevenly across variants (near the verdict)."""
    f = data.get("filtering")
    if f and f["imbalance"]["alert"]:
        shares = {v: f["excluded"][v] / max(f["exposed"][v], 1) for v in f["exposed"]}
        worst = max(shares, key=shares.get)
        st.error(f"**Abuse filter imbalance:** the filter removed {shares[worst]:.2%} of **{worst}**'s users vs "
                 + ", ".join(f"{s:.2%} in {v}" for v, s in shares.items() if v != worst)
                 + f" (χ² p = {fmt.pvalue(f['imbalance']['p_value'])}), so the filtered comparison may be biased. "
                 "See *Abuse and bot filtering* below.", icon=":material/warning:")


def filtering_panel(data: Mapping[str, Any], colors: Mapping[str, str], labels: Mapping[str, str], key: str,
                    unfiltered_toggle: bool = False) -> None:
    """Users excluded per rule and variant, the imbalance test, and the unfiltered comparison."""
    f = data.get("filtering")
    st.subheader("Abuse and bot filtering")
    if not f:
        st.caption("No filtering rules declared for this experiment (`[filtering]` in the spec): every exposed "
                   "user is analysed.")
        return
    imb = f["imbalance"]
    total = sum(f["excluded"].values())
    if imb["alert"]:
        st.error(f"**Imbalanced exclusions.** {f['alert']}", icon=":material/warning:")
    else:
        st.caption(f"{total:,} users excluded; exclusions balanced across variants "
                   f"(χ² p = {fmt.pvalue(imb['p_value'])} ≥ {imb['threshold']:g}).")
    st.dataframe(filtering_table(f), hide_index=True, width="stretch")
    if total:
        show_chart(charts.exclusions(f, colors), key=f"{key}-exclusions")
    for note in f.get("notes") or []:
        st.caption(f"Note: {note}")
    if unfiltered_toggle:
        st.toggle("Show unfiltered", key=f"{key}-unfiltered",
                  help="Analyse every exposed user as well (`promolab report KEY --no-filter`) and show that "
                       "result beside the filtered one.")
    u = data.get("unfiltered")
    if u:
        st.markdown("**Filtered vs unfiltered**")
        show_chart(charts.filtered_vs_unfiltered(data["metrics"], u["metrics"], colors, labels),
                        key=f"{key}-unfiltered-forest")
        st.caption("Filled diamonds: abuse-filtered users (the result above); open circles: every exposed user. "
                   f"Unfiltered verdict: **{u['verdict']['decision']}** — {u['verdict']['text']}")
        st.dataframe(unfiltered_table(data["metrics"], u["metrics"], labels), hide_index=True, width="stretch")


def unfiltered_table(filtered: Sequence[Mapping], unfiltered: Sequence[Mapping],
                     labels: Mapping[str, str]) -> pd.DataFrame:
    other = {m["name"]: m for m in unfiltered}
    rows = []
    for m in filtered:
        for v in m["variants"]:
            if not v["lift"] or m["name"] not in other:
                continue
            w = next(x for x in other[m["name"]]["variants"] if x["variant"] == v["variant"])
            a, b = v["lift"], w["lift"]
            rows.append({"metric": labels.get(m["name"], m["name"]), "variant": v["variant"],
                         "users (filtered)": fmt.users(v["n"]), "users (unfiltered)": fmt.users(w["n"]),
                         "filtered lift [CI]": _rel(a), "p adj (filtered)": fmt.pvalue(a["p_value_adjusted"]),
                         "unfiltered lift [CI]": _rel(b), "p adj (unfiltered)": fmt.pvalue(b["p_value_adjusted"])})
    return pd.DataFrame(rows)


def _rel(lift: Mapping[str, Any]) -> str:
    return (f"{fmt.pct(lift['relative'], signed=True)} [{fmt.pct(lift['ci_low'], signed=True)}, "
            f"{fmt.pct(lift['ci_high'], signed=True)}]")


# -- promotion economics ----------------------------------------------------------------------

def _interval(iv: Mapping[str, float] | None) -> str:
    if not iv:
        return ""
    return f"{fmt.money(iv['value'])} [{fmt.money(iv['ci_low'])}, {fmt.money(iv['ci_high'])}]"


def economics_table(e: Mapping[str, Any]) -> pd.DataFrame:
    """Per variant what decides: incremental revenue and margin, break-even vs observed volume lift."""
    rows = []
    for v in e["variants"]:
        control = v["incremental_revenue"] is None
        vol = v.get("volume_lift")
        rows.append({
            "variant": v["variant"] + (" (control)" if control else ""),
            "incremental revenue [CI]": _interval(v["incremental_revenue"]),
            "incremental margin [CI]": _interval(v["incremental_margin"]),
            "break-even lift": ("" if control else "never" if v["break_even_lift"] is None
                                else fmt.pct(v["break_even_lift"], signed=True)),
            "volume lift [CI]": "" if not vol else _rel({"relative": vol["value"], "ci_low": vol["ci_low"],
                                                          "ci_high": vol["ci_high"]}),
        })
    return pd.DataFrame(rows)


def economics_details(e: Mapping[str, Any]) -> pd.DataFrame:
    """The inputs: each offer's cost in words, users, revenue and promotion cost per 1,000 users."""
    return pd.DataFrame([{
        "variant": v["variant"] + (" (control)" if v["incremental_revenue"] is None else ""),
        "promotion cost": words.cost(v.get("cost")),
        "users": fmt.users(v["n"]),
        "revenue": fmt.money(v["revenue"]["value"], signed=False),
        "cost": fmt.money(v["promotion_cost"]["value"], signed=False),
        "incremental cost [CI]": _interval(v["incremental_cost"]),
    } for v in e["variants"]])


ECONOMICS_COLUMNS = {
    "incremental revenue [CI]": "Extra revenue per 1,000 users sent this offer, vs the control.",
    "incremental margin [CI]": "Extra revenue minus the offer's cost (discounts, shipping, per-user costs), "
                               "per 1,000 users: what the offer earns.",
    "break-even lift": "How much more volume the offer must bring for its margin to match the control's.",
    "volume lift [CI]": "The volume the offer actually brought (gross value per user vs control).",
}


def economics_panel(data: Mapping[str, Any], colors: Mapping[str, str], key: str) -> None:
    """Incremental revenue, promotion cost and margin per 1,000 users with CIs; break-even lift."""
    e = data.get("economics")
    if not e:
        return
    per = e["per_users"]
    st.subheader("Promotion economics")
    notes = e.get("notes") or []
    unstated = any("margin_rate not stated" in n for n in notes)
    margin = ("margin = revenue − promotion costs (the spec states no gross margin rate)" if unstated
              else f"gross margin rate {e['margin_rate']:g}")
    st.caption(f"**$ per {per:,} users**, vs **{e['control']}** · revenue from the `{e['revenue_metric']}` metric · "
               f"{margin} · {1 - e['alpha']:.0%} confidence intervals")
    treated = [v for v in e["variants"] if v["incremental_margin"]]
    for col, v in zip(st.columns(max(len(treated), 1)), treated):
        with col:
            st.markdown(f"**{v['variant']}**")
            for field, name in (("incremental_revenue", "Incremental revenue"),
                                ("incremental_margin", "Incremental margin")):
                iv = v[field]
                st.metric(name, fmt.money(iv["value"]), help=ECONOMICS_COLUMNS[field.replace("_", " ") + " [CI]"])
                st.caption(f"{1 - e['alpha']:.0%} CI {fmt.money(iv['ci_low'])} to {fmt.money(iv['ci_high'])}")
    show_chart(charts.money_forest(e, colors), key=f"{key}-economics")
    if charts.fixed_cost(e):
        st.caption("Promotion cost is fixed by the spec, so it has no uncertainty: "
                   + "; ".join(f"{v['variant']} {words.cost(v.get('cost'))} = "
                               f"{fmt.money(v['incremental_cost']['value'], signed=False)} per {per:,} users"
                               for v in treated) + ".")
    if any(v.get("volume_lift") for v in e["variants"]):
        show_chart(charts.break_even(e, colors), key=f"{key}-break-even")
        st.caption("Break-even lift (red tick): the rise in volume a variant needs for its margin per user to "
                   "equal the control's, given its discount and costs. Compare it with the observed volume lift.")
    st.dataframe(economics_table(e), hide_index=True, width="stretch",
                 column_config={k: st.column_config.TextColumn(k, help=h) for k, h in ECONOMICS_COLUMNS.items()})
    with st.expander("Details: each offer's cost, users, revenue and promotion cost"):
        st.dataframe(economics_details(e), hide_index=True, width="stretch")
    for note in notes:
        if "margin_rate not stated" not in note:  # said in words in the caption above
            st.caption(f"Note: {note}")


# -- segment drill-down -----------------------------------------------------------------------

def segment_table(drill: Mapping[str, Any], metric: str) -> pd.DataFrame:
    rows = []
    for s in drill["segments"]:
        m = next((x for x in s["metrics"] if x["name"] == metric), None)
        if m is None:
            continue
        for v in m["variants"]:
            lift = v["lift"]
            row = {"segment": s["value"], "small": "small" if s["small"] else "", "variant": v["variant"]
                   + ("" if lift else " (control)"), "users": fmt.users(v["n"]),
                   "mean": fmt.metric_value(v["mean"], m["kind"]),
                   "relative lift [CI]": _rel(lift) if lift else "",
                   "p-value": fmt.pvalue(lift["p_value"]) if lift else "",
                   "adjusted p": fmt.pvalue(lift["p_value_adjusted"]) if lift else "",
                   "SRM p": fmt.pvalue(s["srm_p_value"])}
            rows.append(row)
    return pd.DataFrame(rows)


def segment_panel(drill: Mapping[str, Any], colors: Mapping[str, str], labels: Mapping[str, str],
                  kinds_: Mapping[str, str], key: str) -> None:
    """Forest plot per segment of one column, p-values adjusted across the column's segments."""
    drill = {**drill, "segments": [{**s, "value": words.segment_value(drill["column"], s["value"])}
                                   for s in drill["segments"]]}
    metrics = [m["name"] for s in drill["segments"][:1] for m in s["metrics"] if not m["guardrail"]]
    if not drill["segments"] or not metrics:
        st.info(f"No segment of `{drill['column']}` could be analysed.")
        for w in drill.get("warnings") or []:
            st.warning(w, icon=":material/warning:")
        return
    c1, c2 = st.columns([2, 1])
    metric = c1.selectbox("Metric", metrics, key=f"{key}-seg-metric", format_func=lambda m: labels.get(m, m))
    scale = c2.radio("Scale", ["relative (%)", "absolute"], horizontal=True, key=f"{key}-seg-scale")
    small = sum(1 for s in drill["segments"] if s["small"])
    st.caption(f"{len(drill['segments'])} segments of `{drill['column']}` · {words.correction(drill['correction'])}, "
               f"across {drill['family_size']} tests (segments × treatments × metrics) · segments with fewer than "
               f"{drill['min_users']:,} users in a variant are marked small" + (f" ({small})" if small else ""))
    show_chart(charts.segment_forest(drill, metric, colors, "relative" if scale.startswith("rel") else "absolute",
                                          kinds_.get(metric, "mean"), labels.get(metric, metric)), key=f"{key}-segments")
    for w in drill.get("warnings") or []:
        st.warning(w, icon=":material/warning:")
    st.dataframe(segment_table(drill, metric), hide_index=True, width="stretch")
