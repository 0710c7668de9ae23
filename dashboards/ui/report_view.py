"""Draw a ``promolab.analysis.Report``: verdict first, SRM banner, headline numbers, forest
plot, per-metric tables, guardrails, downloads.

The report is drawn from ``Report.to_dict()`` serialised by the CLI's own JSON writer, so
the page shows exactly what ``promolab report KEY --json`` (or ``analyze-table --json``)
prints, and the JSON download is byte-for-byte that output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from promolab.analysis import Report
from promolab.cli.output import to_json
from ui import charts, sections, words
from ui import format as fmt
from ui.plot import show_chart

VERDICT_ICONS = {"ship": ":material/rocket_launch:", "keep running": ":material/hourglass_top:",
                 "stop": ":material/block:", "do not ship": ":material/do_not_disturb_on:",
                 "investigate": ":material/report:"}


def report_json(report: Report) -> str:
    """The ``--json`` output of the report (NaN → null)."""
    return to_json(report.to_dict())


def report_dict(report: Report) -> dict[str, Any]:
    return json.loads(report_json(report))


def _flatten(prefix: str, value: Mapping[str, Any], out: dict[str, Any]) -> None:
    for k, v in value.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(name + ".", v, out)
        else:
            out[name] = v


def report_rows(data: Mapping[str, Any]) -> pd.DataFrame:
    """One row per metric × variant with every field of the JSON report (nested keys dotted)."""
    rows = []
    for m in data["metrics"]:
        for v in m["variants"]:
            row: dict[str, Any] = {"experiment": data.get("experiment"), "metric": m["name"], "kind": m["kind"],
                                   "direction": m["direction"], "guardrail": m["guardrail"],
                                   "variant": v["variant"], "is_control": v["lift"] is None, "n": v["n"],
                                   "mean": v["mean"]}
            if v["lift"]:
                _flatten("", v["lift"], row)
            rows.append(row)
    return pd.DataFrame(rows)


def verdict_box(data: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> None:
    """The one-line decision; blocked (and replaced by the SRM banner) when SRM fails. "Do not
    ship" is a red box that names each failed guardrail with its bound against the margin."""
    srm, verdict = data["srm"], data["verdict"]
    if not srm["ok"]:
        observed = ", ".join(f"{k}: {v:,}" for k, v in srm["observed"].items())
        st.error(
            f"**Sample ratio mismatch — verdict blocked.** The users per variant ({observed}) do not match "
            f"the configured split (χ² p = {fmt.pvalue(srm['p_value'])} < {srm['threshold']:g}). Assignment or "
            "logging is broken, so no lift below can be trusted. Fix the split before deciding.",
            icon=":material/report:",
        )
        return
    icon = VERDICT_ICONS.get(verdict["decision"], ":material/info:")
    text = f"**{verdict['decision'].upper()}** — {verdict['text']}"
    failed = sections.failed_guardrails(data)
    if verdict["decision"] == "do not ship":
        kinds = sections.kinds(data)
        lines = [sections.check_line(v, c, kinds.get(c["metric"], "mean"), labels or {})
                 for v, cs in failed.items() for c in cs]
        st.error(f"### {verdict['decision'].upper()}\n{verdict['text']}"
                 + "".join(f"\n- {line}" for line in lines), icon=icon)
    elif verdict["decision"] == "ship":
        st.success(text, icon=icon)
        for v, cs in failed.items():  # another variant won; this one is blocked by its guardrails
            st.caption(f"{v} is blocked: fails " + ", ".join((labels or {}).get(c["metric"], c["metric"]) for c in cs))
    elif verdict["decision"] == "keep running":
        st.info(text, icon=icon)
    else:
        st.warning(text, icon=icon)


def headline(data: Mapping[str, Any], labels: Mapping[str, str]) -> None:
    """Primary metric per variant as big numbers: value, relative lift, chance to win."""
    primary = next((m for m in data["metrics"] if not m["guardrail"]), None)
    if primary is None:
        return
    st.markdown(f"**Primary metric: {labels.get(primary['name'], primary['name'])}** "
                f"({primary['direction']} is better)")
    cols = st.columns(len(primary["variants"]))
    for col, v in zip(cols, primary["variants"]):
        lift = v["lift"]
        with col:
            label = f"{v['variant']} (control)" if lift is None else v["variant"]
            delta = None if lift is None else f"{fmt.pct(lift['relative'], signed=True)} vs control"
            st.metric(label, fmt.metric_value(v["mean"], primary["kind"]), delta,
                      delta_color="normal" if primary["direction"] == "increase" else "inverse",
                      help=None if lift is None else
                      f"{v['n']:,} users · chance to win {fmt.pct(lift['chance_to_win'])} · "
                      f"adjusted p {fmt.pvalue(lift['p_value_adjusted'])}")
            if lift is not None:
                st.caption(f"chance to win **{fmt.pct(lift['chance_to_win'])}** · p adj "
                           f"{fmt.pvalue(lift['p_value_adjusted'])}")
            else:
                st.caption(f"{v['n']:,} users")


def _significance(lift: Mapping[str, Any], direction: str) -> str:
    if not lift["significant"]:
        return "not significant"
    good = (lift["absolute"] > 0) == (direction == "increase")
    return "better" if good else "worse"


def metric_table(m: Mapping[str, Any]) -> pd.DataFrame:
    """What a decision reads, per variant of one metric: the mean, the relative lift with its CI,
    better / worse / not significant, chance to win and the adjusted p-value (fits 1280 px)."""
    rows = []
    for v in m["variants"]:
        lift = v["lift"]
        row = {"variant": v["variant"] + (" (control)" if lift is None else ""),
               "mean": fmt.metric_value(v["mean"], m["kind"])}
        if lift is None:
            row.update({k: "" for k in ("lift [CI]", "result", "chance to win", "adjusted p")})
        else:
            row["lift [CI]"] = (f"{fmt.pct(lift['relative'], signed=True)} "
                                f"[{fmt.pct(lift['ci_low'], signed=True)}, {fmt.pct(lift['ci_high'], signed=True)}]")
            row["result"] = _significance(lift, m["direction"])
            row["chance to win"] = fmt.pct(lift["chance_to_win"])
            row["adjusted p"] = fmt.pvalue(lift["p_value_adjusted"])
        rows.append(row)
    return pd.DataFrame(rows)


def metric_details(m: Mapping[str, Any]) -> pd.DataFrame:
    """The rest, for an analyst: users, absolute lift with CI, raw p-value, expected loss, method."""
    rows = []
    for v in m["variants"]:
        lift = v["lift"]
        row = {"variant": v["variant"] + (" (control)" if lift is None else ""), "users": fmt.users(v["n"])}
        if lift is None:
            row.update({k: "" for k in ("absolute lift [CI]", "p-value", "expected loss", "method")})
        else:
            row["absolute lift [CI]"] = (f"{fmt.absolute(lift['absolute'], m['kind'])} "
                                         f"[{fmt.absolute(lift['abs_ci_low'], m['kind'])}, "
                                         f"{fmt.absolute(lift['abs_ci_high'], m['kind'])}]")
            row["p-value"] = fmt.pvalue(lift["p_value"])
            row["expected loss"] = fmt.absolute(lift["expected_loss"], m["kind"], signed=False)
            method = lift["method"]
            if lift.get("cuped"):
                method += (f" · CUPED on {lift['cuped'].get('covariate')} "
                           f"(variance −{fmt.pct(lift['cuped'].get('variance_reduction'))})")
            row["method"] = method
        rows.append(row)
    return pd.DataFrame(rows)


METRIC_COLUMNS = {
    "lift [CI]": "Relative lift: treatment / control − 1, with its confidence interval (Fieller's).",
    "result": "Better or worse than the control after the multiple-comparison correction; "
              "'not significant' means the data cannot tell yet.",
    "chance to win": "Bayesian probability that this variant beats the control (flat prior).",
    "adjusted p": "p-value corrected for comparing several variants and metrics at once; "
                  "below α means the lift is unlikely to be noise.",
}
DETAIL_COLUMNS = {
    "absolute lift [CI]": "Treatment − control: percentage points for rates, the metric's unit for means.",
    "p-value": "Chance of a lift at least this large if the offer did nothing, before correction.",
    "expected loss": "What you expect to lose per user if you ship this variant and it is in fact worse "
                     "(Bayesian); near 0 means shipping it risks almost nothing.",
    "method": "The test used; CUPED subtracts what the pre-period covariate predicts, to narrow the CI.",
}


def sequential_lines(m: Mapping[str, Any]) -> list[str]:
    """The sequential read-out the report carries per lift (when the plan declares one)."""
    out = []
    for v in m["variants"]:
        seq = (v["lift"] or {}).get("sequential")
        if not isinstance(seq, dict):
            continue
        line = f"{v['variant']}: always-valid p {fmt.pvalue(seq.get('always_valid_p_value'))}"
        if seq.get("boundary") is not None:
            line += (f"; look {seq.get('look')}/{seq.get('looks')}: |z| = {abs(seq.get('z') or 0):.2f} vs boundary "
                     f"{seq['boundary']:.3f}")
        line += " — **crossed**" if seq.get("crossed") else " — not crossed"
        out.append(line)
    return out


def render_report(report: Report, colors: Mapping[str, str], labels: Mapping[str, str] | None = None,
                  key: str = "report", file_stem: str = "report", unfiltered_toggle: bool = False,
                  after: Callable[[dict[str, Any]], None] | None = None,
                  names: Mapping[str, str] | None = None, money: set[str] | None = None) -> dict[str, Any]:
    """Draw the whole report; returns its JSON dict, variants called by ``names`` (key → the
    spec's name; the downloads keep the keys); ``money`` metrics are shown in $.

    ``unfiltered_toggle`` draws the "Show unfiltered" toggle (key ``{key}-unfiltered``) in the
    filtering panel; the caller reads it to ask for ``compare_unfiltered``. ``after`` draws extra
    sections (the segment drill-down) before the downloads.
    """
    labels = labels or {}
    names = names or {}
    raw = report_dict(report)
    data = words.in_dollars(words.named(raw, names), money or set())
    colors = {names.get(k, k): c for k, c in colors.items()}
    verdict_box(data, labels)
    sections.imbalance_banner(data)
    sections.exposures_banner(data)
    if data["srm"]["ok"]:
        st.caption(f"Sample ratio OK (χ² p = {fmt.pvalue(data['srm']['p_value'])} ≥ {data['srm']['threshold']:g}): "
                   + ", ".join(f"{k} {v:,}" for k, v in data["srm"]["observed"].items()) + " users.")
    else:
        show_chart(charts.srm_bars(data["srm"]["observed"], data["srm"]["expected"], colors), key=f"{key}-srm")
    headline(data, labels)

    st.subheader("Lift with confidence intervals")
    scale = st.radio("Scale", ["relative (%)", "absolute"], horizontal=True, key=f"{key}-scale",
                     help="Relative: treatment / control − 1. Absolute: treatment − control "
                          "(percentage points for rates, the metric's unit for means).")
    show_chart(charts.forest(data["metrics"], colors, "relative" if scale.startswith("rel") else "absolute",
                                  labels), key=f"{key}-forest")
    st.caption(f"Bars: {1 - data['alpha']:.0%} confidence intervals: the range the true lift lies in with "
               f"{1 - data['alpha']:.0%} confidence (relative: Fieller's interval, which excludes 0 exactly when "
               f"p < α). Filled diamonds are significant after the {words.correction(data['correction'])}, "
               f"α = {data['alpha']:g}; green = better, red = worse.")

    primary = [m for m in data["metrics"] if not m["guardrail"]]
    guardrails = [m for m in data["metrics"] if m["guardrail"]]
    st.subheader("Metrics")
    for m in primary:
        _metric_section(m, labels)
    st.subheader("Guardrails")
    if not guardrails:
        st.caption("No guardrail metrics declared for this analysis.")
    sections.guardrail_panel(data, colors, labels, key)
    with_margin = {c["metric"] for cs in (data.get("guardrails") or {}).values() for c in cs
                   if c.get("bound") is not None}
    for m in guardrails:
        if m["name"] in with_margin:  # the non-inferiority panel above already says pass / fail
            _metric_section(m, labels)
            continue
        harmed = any(v["lift"] and v["lift"]["significant"]
                     and (v["lift"]["absolute"] > 0) != (m["direction"] == "increase") for v in m["variants"])
        (st.error if harmed else st.success)(
            f"{labels.get(m['name'], m['name'])}: "
            + ("a variant significantly harms this guardrail" if harmed else "no variant harms it"),
            icon=":material/gpp_bad:" if harmed else ":material/verified_user:")
        _metric_section(m, labels)
    if data.get("filtering") or unfiltered_toggle:
        sections.filtering_panel(data, colors, labels, key, unfiltered_toggle and bool(data.get("filtering")))
    sections.economics_panel(data, colors, key)
    if after is not None:
        after(data)
    for note in data.get("notes") or []:
        st.caption(f"Note: {note}")

    st.subheader("Download")
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", report_rows(raw).to_csv(index=False), f"{file_stem}.csv", "text/csv",
                       key=f"{key}-csv", width="stretch")
    c2.download_button("Download JSON", report_json(report), f"{file_stem}.json", "application/json",
                       key=f"{key}-json", width="stretch")
    return data


KIND_WORDS = {"binomial": "share of users", "mean": "average per user", "money": "$ per user",
              "ratio": "ratio of totals"}


def _metric_section(m: Mapping[str, Any], labels: Mapping[str, str]) -> None:
    st.markdown(f"**{labels.get(m['name'], m['name'])}** · {KIND_WORDS.get(m['kind'], m['kind'])}, "
                f"{m['direction']} is better")
    st.dataframe(metric_table(m), hide_index=True, width="stretch",
                 column_config={k: st.column_config.TextColumn(k, help=h) for k, h in METRIC_COLUMNS.items()})
    with st.expander("Details: users, absolute lift, raw p-value, expected loss, method"):
        st.dataframe(metric_details(m), hide_index=True, width="stretch",
                     column_config={k: st.column_config.TextColumn(k, help=h) for k, h in DETAIL_COLUMNS.items()})
    for line in sequential_lines(m):
        st.caption("Sequential: " + line)


def variant_order(report: Report, spec_order: Sequence[str] | None = None) -> list[str]:
    """Spec order when known, else control first then the others as the report lists them."""
    present = [v.variant for v in report.metrics[0].variants] if report.metrics else []
    if spec_order:
        return [v for v in spec_order if v in present] + [v for v in present if v not in spec_order]
    return [report.control] + [v for v in present if v != report.control]
