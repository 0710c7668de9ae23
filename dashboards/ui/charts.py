"""plotly figure builders: every axis has a unit, every series a readable name, and a
variant keeps its colour (``ui.colors``) on every page."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.colors import BAD, BOUNDARY, GOOD, NEUTRAL, hex_to_rgba
from ui import format as fmt
from ui.format import money

FONT = dict(size=14)



def _lift_point(lift: dict, scale: str, mult: float) -> tuple[float, float, float]:
    """(estimate, CI low, CI high) of a lift on the relative or absolute scale, times ``mult``."""
    if scale == "relative":
        x, lo, hi = lift["relative"], lift["ci_low"], lift["ci_high"]
    else:
        x, lo, hi = lift["absolute"], lift["abs_ci_low"], lift["abs_ci_high"]
    # an unbounded end (Fieller's interval when the control mean is near zero) is null in the
    # JSON, and so is a relative lift over a control mean of zero: NaN, not drawn
    x, lo, hi = (float("nan") if v is None else v for v in (x, lo, hi))
    return x * mult, lo * mult, hi * mult

def _layout(fig: go.Figure, height: int, title: str | None = None, **kwargs) -> go.Figure:
    """Common look: white template, readable font, legend above the plot and under the title."""
    top = 50
    if title:
        kwargs["title"] = dict(text=f"<b>{title}</b>", x=0, xanchor="left", y=0.98, yanchor="top",
                               font=dict(size=16))
        top = 85 if kwargs.get("showlegend", True) else 60
    fig.update_layout(template="plotly_white", height=height + (top - 50), font=FONT,
                      margin=dict(l=10, r=10, t=top, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0), **kwargs)
    return fig


# -- report --------------------------------------------------------------------------------

def forest(metrics: Sequence[Mapping], colors: Mapping[str, str], scale: str = "relative",
           labels: Mapping[str, str] | None = None) -> go.Figure:
    """Lift of each treatment with its CI, one row per metric × variant (a forest plot).

    ``metrics`` are the ``metrics`` entries of ``Report.to_dict()``. Filled diamonds are
    significant after correction; the label is green when the change goes the metric's good
    way, red when it goes the bad way, grey when not significant.
    """
    labels = labels or {}
    rows = [m for m in metrics if any(v["lift"] for v in m["variants"])]
    counts = [sum(1 for v in m["variants"] if v["lift"]) for m in rows]
    row_px, title_px = 46, 64
    total = sum(c * row_px + title_px for c in counts)
    titles = []
    for m in rows:
        unit = "%" if scale == "relative" else ("pp" if m["kind"] == "binomial" else "units")
        suffix = " (guardrail)" if m["guardrail"] else ""
        titles.append(f"<b>{labels.get(m['name'], m['name'])}</b>{suffix} · lift vs control in {unit} · "
                      f"{m['direction']} is better")
    fig = make_subplots(rows=len(rows), cols=1, subplot_titles=titles, row_heights=[c * row_px for c in counts],
                        vertical_spacing=title_px / total if len(rows) > 1 else 0.0)
    for i, m in enumerate(rows, start=1):
        mult = 100.0 if scale == "relative" or m["kind"] == "binomial" else 1.0
        unit = "%" if scale == "relative" else ("pp" if m["kind"] == "binomial" else "")
        lows, highs = [0.0], [0.0]
        for v in m["variants"]:
            lift = v["lift"]
            if not lift:
                continue
            x, lo, hi = _lift_point(lift, scale, mult)
            if np.isnan(x):
                continue
            lows.append(lo)
            highs.append(hi)
            good = (lift["absolute"] > 0) == (m["direction"] == "increase")
            color = colors.get(v["variant"], NEUTRAL)
            verdict = (GOOD if good else BAD) if lift["significant"] else NEUTRAL
            digits = ".1f" if mult == 100.0 else ".3g"
            text = f"<b>{x:+{digits}}{unit}</b>  [{lo:+{digits}}, {hi:+{digits}}]"
            fig.add_trace(go.Scatter(
                x=[x], y=[v["variant"]], mode="markers", name=v["variant"], showlegend=False,
                marker=dict(size=16, symbol="diamond", color=color if lift["significant"] else "white",
                            line=dict(color=color, width=3)),
                error_x=dict(type="data", symmetric=False, array=[hi - x], arrayminus=[x - lo], color=color,
                             thickness=3, width=7),
                hovertemplate=(f"{v['variant']}: %{{x:{digits}}}{unit}<br>CI [{lo:{digits}}, {hi:{digits}}]"
                               f"<br>adjusted p {fmt.pvalue(lift['p_value_adjusted'])}<extra></extra>"),
            ), row=i, col=1)
            fig.add_trace(go.Scatter(x=[hi + 0.015 * (max(highs) - min(lows) or 1.0)], y=[v["variant"]], mode="text", text=[text], textposition="middle right",
                                     textfont=dict(color=verdict, size=14), showlegend=False, hoverinfo="skip"),
                          row=i, col=1)
        span = max(max(highs) - min(lows), 1e-9)
        fig.add_vline(x=0, line=dict(color="#444", width=1.5, dash="dot"), row=i, col=1)
        fig.update_yaxes(autorange="reversed", row=i, col=1, tickfont=dict(size=14))
        fig.update_xaxes(zeroline=False, ticksuffix=unit if unit != "" else None, row=i, col=1,
                         range=[min(lows) - 0.06 * span, max(highs) + 0.55 * span])
    fig = _layout(fig, height=int(total + 40), showlegend=False)
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=15, x=0, xanchor="left")
    return fig


def srm_bars(observed: Mapping[str, int], expected: Mapping[str, float], colors: Mapping[str, str]) -> go.Figure:
    """Observed users per variant next to the users the configured weights predict."""
    total = sum(observed.values())
    wsum = sum(expected.values()) or 1.0
    keys = list(observed)
    fig = go.Figure()
    fig.add_bar(x=keys, y=[observed[k] for k in keys], name="observed users",
                marker_color=[colors.get(k, NEUTRAL) for k in keys])
    fig.add_scatter(x=keys, y=[total * expected.get(k, 0) / wsum for k in keys], mode="markers",
                    name="expected from weights", marker=dict(symbol="line-ew", size=40, line=dict(width=4, color=BAD)))
    fig.update_yaxes(title="users")
    return _layout(fig, 240, title="Users per variant: observed vs expected")


# -- sequential ------------------------------------------------------------------------------

def z_path(frame: pd.DataFrame, color: str, treatment: str, alpha: float) -> go.Figure:
    """z-statistic at each look against the group-sequential efficacy boundaries (two-sided)."""
    x = frame.information_fraction * 100
    fig = go.Figure()
    bound = frame.boundary.where(np.isfinite(frame.boundary))
    fig.add_scatter(x=x, y=bound, mode="lines+markers", name="efficacy boundary (reject above)",
                    line=dict(color=BOUNDARY, dash="dash", width=2.5))
    fig.add_scatter(x=x, y=-bound, mode="lines+markers", name="efficacy boundary (reject below)",
                    line=dict(color=BOUNDARY, dash="dash", width=2.5), showlegend=False)
    from scipy.stats import norm

    fixed = float(norm.isf(alpha / 2))
    fig.add_hline(y=fixed, line=dict(color=NEUTRAL, dash="dot"),
                  annotation_text=f"fixed-horizon z = {fixed:.2f} (one look only)", annotation_position="top left",
                  annotation_bgcolor="rgba(255,255,255,0.85)")
    fig.add_hline(y=-fixed, line=dict(color=NEUTRAL, dash="dot"))
    fig.add_scatter(x=x, y=frame.z, mode="lines+markers", name=f"z of {treatment} vs control",
                    line=dict(color=color, width=3), marker=dict(size=10),
                    customdata=np.c_[frame.look, frame.users],
                    hovertemplate="look %{customdata[0]}<br>%{customdata[1]:,} users<br>z = %{y:.2f}<extra></extra>")
    crossed = frame[frame.crossed]
    if len(crossed):
        first = crossed.iloc[0]
        fig.add_scatter(x=[first.information_fraction * 100], y=[first.z], mode="markers", name="first crossing",
                        marker=dict(size=20, symbol="star", color=GOOD if first.z > 0 else BAD))
    fig.update_xaxes(title="information (share of users at the last look, %)", ticksuffix="%", range=[0, 103])
    fig.update_yaxes(title="z-statistic")
    return _layout(fig, 420)


def p_axis_ticks(p_values: pd.Series, alpha: float) -> list[float]:
    """Ticks of a log p-value axis: each power of ten from below the smallest p-value up to 1,
    and α (every k-th power when there are more than eight, so at most nine ticks)."""
    shown = p_values[(p_values > 0) & np.isfinite(p_values)]
    low = min(float(shown.min()) if len(shown) else alpha, alpha)
    decades = list(range(math.floor(math.log10(low)), 1))
    step = max(1, math.ceil(len(decades) / 8))
    ticks = sorted({10.0 ** d for d in decades[::-1][::step]} | {alpha})
    return ticks


def pvalue_path(frame: pd.DataFrame, color: str, alpha: float) -> go.Figure:
    """Always-valid p-value (mSPRT) next to the naive fixed-horizon p-value, per look."""
    x = frame.information_fraction * 100
    fig = go.Figure()
    fig.add_scatter(x=x, y=frame.p_value, mode="lines+markers", name="naive p-value (invalid when peeking)",
                    line=dict(color=NEUTRAL, dash="dot"))
    fig.add_scatter(x=x, y=frame.always_valid_p, mode="lines+markers", name="always-valid p-value (mSPRT)",
                    line=dict(color=color, width=3))
    fig.add_hline(y=alpha, line=dict(color=BOUNDARY, dash="dash"), annotation_text=f"α = {alpha:g}",
                  annotation_position="bottom right")
    ps = pd.concat([frame.p_value, frame.always_valid_p])
    ticks = p_axis_ticks(ps, alpha)
    low = min([ticks[0], *ps[ps > 0]])
    fig.update_yaxes(type="log", title="p-value (log scale)", tickvals=ticks, ticktext=[fmt.p_tick(t) for t in ticks],
                     range=[math.log10(low) - 0.1, 0.02])  # a p-value never exceeds 1
    fig.update_xaxes(title="information (share of users at the last look, %)", ticksuffix="%", range=[0, 103])
    return _layout(fig, 380)


def interval_path(frame: pd.DataFrame, color: str, kind: str) -> go.Figure:
    """Absolute lift with the confidence sequence (always valid) and the fixed-horizon CI."""
    mult, unit = (100.0, "pp") if kind == "binomial" else (1.0, "units")
    x = frame.information_fraction * 100
    fig = go.Figure()
    fig.add_scatter(x=pd.concat([x, x[::-1]]), y=pd.concat([frame.cs_abs_ci_high, frame.cs_abs_ci_low[::-1]]) * mult,
                    fill="toself", mode="lines", fillcolor=hex_to_rgba(color, 0.18), line=dict(width=0),
                    name="confidence sequence (always valid)", hoverinfo="skip")
    fig.add_scatter(x=x, y=frame.abs_ci_high * mult, mode="lines", line=dict(color=NEUTRAL, dash="dot"),
                    name="fixed-horizon CI")
    fig.add_scatter(x=x, y=frame.abs_ci_low * mult, mode="lines", line=dict(color=NEUTRAL, dash="dot"),
                    showlegend=False)
    fig.add_scatter(x=x, y=frame.absolute * mult, mode="lines+markers", name="lift estimate",
                    line=dict(color=color, width=3))
    fig.add_hline(y=0, line=dict(color="#444", width=1))
    fig.update_yaxes(title=f"lift vs control ({unit})")
    fig.update_xaxes(title="information (share of users at the last look, %)", ticksuffix="%", range=[0, 103])
    return _layout(fig, 380)


def lift_over_time(frames: Mapping[str, pd.DataFrame], colors: Mapping[str, str], kind: str,
                   sequential: str | None, control: str) -> go.Figure:
    """Cumulative absolute lift of each treatment per period with its CI band, and ± the lift at
    which the sequential boundary is crossed (``boundary_lift``) where the plan has one.

    ``frames``: ``OverTime.frame(metric, variant)`` per treatment; untestable points are left out."""
    mult, unit = (100.0, "pp") if kind == "binomial" else (1.0, "units")
    fig = go.Figure()
    for variant, frame in frames.items():
        color = colors[variant]
        f = frame[np.isfinite(frame.absolute.astype(float))]
        x = f.start
        fig.add_scatter(x=pd.concat([x, x[::-1]]), y=pd.concat([f.abs_ci_high, f.abs_ci_low[::-1]]) * mult,
                        fill="toself", mode="lines", fillcolor=hex_to_rgba(color, 0.18), line=dict(width=0),
                        name=f"{variant}: confidence interval", hoverinfo="skip")
        fig.add_scatter(x=x, y=f.absolute * mult, mode="lines+markers", name=f"{variant} vs {control}",
                        line=dict(color=color, width=3),
                        customdata=np.c_[f.control_n + f.treatment_n, f.relative * 100, f.p_value],
                        hovertemplate="%{x}<br>%{customdata[0]:,} users<br>lift %{y:.3g} " + unit
                                      + " (%{customdata[1]:+.1f} %)<br>p = %{customdata[2]:.3g}<extra></extra>")
        if sequential is not None:
            reach = pd.to_numeric(f.boundary_lift, errors="coerce")
            reach = reach.where(np.isfinite(reach)) * mult
            name = f"{variant}: {'group-sequential' if sequential == 'gst' else 'mSPRT'} boundary"
            fig.add_scatter(x=x, y=reach, mode="lines", line=dict(color=color, dash="dash", width=1.5), name=name)
            fig.add_scatter(x=x, y=-reach, mode="lines", line=dict(color=color, dash="dash", width=1.5),
                            name=name, showlegend=False)
    fig.add_hline(y=0, line=dict(color="#444", width=1))
    fig.update_yaxes(title=f"cumulative lift vs {control} ({unit})")
    fig.update_xaxes(title="period of first exposure (UTC)")
    return _layout(fig, 420)


# -- bandit ----------------------------------------------------------------------------------

def allocation_area(wide: pd.DataFrame, colors: Mapping[str, str], title: str) -> go.Figure:
    """Traffic share per variant over time, stacked to 100 %."""
    fig = go.Figure()
    for v in wide.columns:
        fig.add_scatter(x=wide.index, y=wide[v] * 100, name=v, mode="lines", stackgroup="share",
                        line=dict(color=colors.get(v, NEUTRAL), width=0.5, shape="hv"),
                        fillcolor=hex_to_rgba(colors.get(v, NEUTRAL), 0.75),
                        hovertemplate=f"{v}: %{{y:.1f}} %<extra></extra>")
    fig.update_yaxes(title="share of traffic (%)", range=[0, 100], ticksuffix="%")
    fig.update_xaxes(title="time")
    fig = _layout(fig, 380, title=title, hovermode="x unified")
    fig.update_layout(legend=dict(orientation="v", x=1.02, y=1, yanchor="top", traceorder="reversed"),
                      margin=dict(t=60), height=380 + 10)
    return fig


def cumulative(frame: pd.DataFrame, x: str, y: str, color: str, name: str, ytitle: str, title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=frame[x], y=frame[y], mode="lines+markers", name=name, line=dict(color=color, width=3))
    fig.update_yaxes(title=ytitle, rangemode="tozero")
    fig.update_xaxes(title="day")
    return _layout(fig, 320, title=title, showlegend=False)


def weight_bars(weights: Mapping[str, float], colors: Mapping[str, str]) -> go.Figure:
    keys = list(weights)
    fig = go.Figure(go.Bar(x=[weights[k] * 100 for k in keys], y=keys, orientation="h",
                           marker_color=[colors.get(k, NEUTRAL) for k in keys],
                           text=[f"{weights[k]:.1%}" for k in keys], textposition="auto"))
    fig.update_xaxes(title="current share of traffic (%)", range=[0, 100], ticksuffix="%")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, 90 + 50 * len(keys), title="Current weights", showlegend=False)


# -- simulation --------------------------------------------------------------------------------

def regret_bands(summaries: Sequence, colors: Mapping[str, str], lai_robbins: np.ndarray | None = None,
                 unit: str = "reward") -> go.Figure:
    """Mean cumulative regret per policy with its 5–95 % band across runs."""
    fig = go.Figure()
    for s in summaries:
        c = colors[s.policy]
        x = np.asarray(s.users)
        fig.add_scatter(x=np.r_[x, x[::-1]], y=np.r_[s.regret.high, s.regret.low[::-1]], fill="toself", mode="lines",
                        fillcolor=hex_to_rgba(c, 0.15), line=dict(width=0), legendgroup=s.policy,
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=x, y=s.regret.mean, name=s.policy, mode="lines", legendgroup=s.policy,
                        line=dict(color=c, width=3),
                        hovertemplate=f"{s.policy}<br>%{{x:,}} users<br>regret %{{y:,.1f}}<extra></extra>")
    if lai_robbins is not None:
        fig.add_scatter(x=summaries[0].users, y=lai_robbins, name="Lai-Robbins lower bound", mode="lines",
                        line=dict(color="#444", dash="dot"))
    fig.update_xaxes(title="users per run")
    fig.update_yaxes(title=f"cumulative regret ({unit})", rangemode="tozero")
    return _layout(fig, 440, title="Cumulative regret: lower is better")


def sim_allocation(summary, colors: Mapping[str, str]) -> go.Figure:
    """Share of each window's users per arm, mean over runs, for one policy."""
    fig = go.Figure()
    x = np.asarray(summary.users)
    for j, arm in enumerate(summary.arms):
        fig.add_scatter(x=x, y=np.asarray(summary.allocation)[:, j] * 100, name=arm, mode="lines",
                        stackgroup="a", line=dict(color=colors.get(arm, NEUTRAL), width=0.5),
                        fillcolor=hex_to_rgba(colors.get(arm, NEUTRAL), 0.75))
    fig.update_yaxes(title="share of users (%)", range=[0, 100], ticksuffix="%")
    fig.update_xaxes(title="users per run")
    fig = _layout(fig, 320, title=f"Allocation — {summary.policy}", hovermode="x unified")
    fig.update_layout(legend=dict(orientation="h", y=-0.3, yanchor="top", traceorder="normal"))
    return fig


def p_best(summaries: Sequence, colors: Mapping[str, str], threshold: float) -> go.Figure:
    fig = go.Figure()
    for s in summaries:
        fig.add_scatter(x=s.users, y=np.asarray(s.p_best) * 100, name=s.policy, mode="lines",
                        line=dict(color=colors[s.policy], width=3))
    fig.add_hline(y=threshold * 100, line=dict(color=NEUTRAL, dash="dot"),
                  annotation_text=f"found the winner ({threshold:.0%})")
    fig.update_yaxes(title="P(empirical best arm = true best) (%)", range=[0, 102], ticksuffix="%")
    fig.update_xaxes(title="users per run")
    return _layout(fig, 380, title="Best-arm identification")


def discount_bars(summaries: Sequence, colors: Mapping[str, str]) -> go.Figure:
    """Mean discount given away per run, per policy (the cost of exploring with coupons)."""
    names = [s.policy for s in summaries]
    values = [float(s.discount_spent.mean[-1]) for s in summaries]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color=[colors[p] for p in names],
                           text=[f"{v:,.0f}" for v in values], textposition="auto"))
    fig.update_yaxes(title="discount per run (order-value units)", rangemode="tozero")
    return _layout(fig, 380, title="Discount cost", showlegend=False)


# -- report sections (issue 8): guardrail margins, segments, economics, filtered vs unfiltered ----

PLOT_PX = 600  # the narrowest plotting width of a full-width chart (a 1280 px window with the sidebar)
CHAR_PX = 7.6  # the width of a character of a 14 px label


def text_room(rows: Sequence[Mapping], lo: float, hi: float) -> float:
    """How far (in data spans) the x axis must reach past ``hi`` for every row's label to fit
    at ``PLOT_PX``: with f the label's share of the plot width and a its start past ``hi``,
    room ≥ (a + 1.06 f) / (1 − f); at least 0.6."""
    span = max(hi - lo, 1e-9)
    room = 0.6
    for r in rows:
        if not r.get("text"):
            continue
        f = min(len(re.sub(r"<[^>]+>", "", r["text"])) * CHAR_PX / PLOT_PX, 0.6)
        a = (max(r["hi"], r["x"]) - hi) / span + 0.015
        room = max(room, (a + 1.06 * f) / (1 - f))
    return room


def intervals(groups: Sequence[Mapping], title: str | None = None, row_px: int = 46) -> go.Figure:
    """Point estimates with intervals in stacked panels, the forest plot's look.

    ``groups``: ``{"title", "rows", "unit", "lines"}``; each row ``{"label", "x", "lo", "hi", "color",
    "filled", "text", "text_color", "hover", "symbol"}`` (``lo``/``hi`` may equal ``x`` for a one-sided
    or missing side); ``lines``: ``[{"x", "color", "dash", "text"}]`` vertical reference lines (0, a
    margin, a break-even lift). x values are already in display units; ``unit`` is the tick suffix
    (or ``"$"``, drawn as a prefix).
    """
    groups = [g for g in groups if g["rows"]]
    counts = [len(dict.fromkeys(r["label"] for r in g["rows"])) for g in groups]
    title_px = 64
    total = sum(c * row_px + title_px for c in counts) or row_px
    fig = make_subplots(rows=max(len(groups), 1), cols=1, subplot_titles=[g["title"] for g in groups] or None,
                        row_heights=[c * row_px for c in counts] or None,
                        vertical_spacing=title_px / total if len(groups) > 1 else 0.0)
    for i, g in enumerate(groups, start=1):
        lows = [min(r["lo"], r["x"]) for r in g["rows"]] + [ln["x"] for ln in g.get("lines", [])]
        highs = [max(r["hi"], r["x"]) for r in g["rows"]] + [ln["x"] for ln in g.get("lines", [])]
        span = max(max(highs) - min(lows), 1e-9)
        for r in g["rows"]:
            color = r.get("color", NEUTRAL)
            fig.add_trace(go.Scatter(
                x=[r["x"]], y=[r["label"]], mode="markers", showlegend=False, name=r["label"],
                marker=dict(size=16 if r.get("symbol", "diamond") == "diamond" else 12, symbol=r.get("symbol", "diamond"),
                            color=color if r.get("filled", True) else "white", line=dict(color=color, width=3)),
                error_x=dict(type="data", symmetric=False, array=[r["hi"] - r["x"]], arrayminus=[r["x"] - r["lo"]],
                             color=color, thickness=3, width=7),
                hovertemplate=r.get("hover", r["label"]) + "<extra></extra>",
            ), row=i, col=1)
            if r.get("text"):
                fig.add_trace(go.Scatter(x=[max(r["hi"], r["x"]) + 0.015 * span], y=[r["label"]], mode="text",
                                         text=[r["text"]], textposition="middle right", hoverinfo="skip",
                                         textfont=dict(color=r.get("text_color", NEUTRAL), size=14), showlegend=False),
                              row=i, col=1)
        for ln in g.get("lines", []):
            note = dict(annotation_text=ln["text"], annotation_position="bottom right",
                        annotation_font=dict(color=ln.get("color", "#444"), size=12)) if ln.get("text") else {}
            fig.add_vline(x=ln["x"], line=dict(color=ln.get("color", "#444"), width=1.5 if ln.get("dash") else 2,
                                               dash=ln.get("dash", "dot")), row=i, col=1, **note)
        unit = g.get("unit", "")
        fig.update_yaxes(autorange="reversed", row=i, col=1, tickfont=dict(size=14))
        room = text_room(g["rows"], min(lows), max(highs))
        fig.update_xaxes(zeroline=False, row=i, col=1, range=[min(lows) - 0.06 * span, max(highs) + room * span],
                         tickprefix="$" if unit == "$" else None,
                         ticksuffix=unit if unit not in ("", "$") else None)
    fig = _layout(fig, height=int(total + 40), title=title, showlegend=False)
    fig.update_layout(margin=dict(l=10, r=10, t=90 if title else 40, b=10))
    fig.update_annotations(selector=dict(xref="paper"), font_size=15, x=0, xanchor="left")
    return fig


def _scaled(kind: str, relative: bool) -> tuple[float, str, str]:
    """(multiplier, tick suffix, number format) of a lift in display units."""
    if relative:
        return 100.0, "%", "+.1f"
    if kind == "binomial":
        return 100.0, " pp", "+.2f"
    return 1.0, "", "+.4g"


def guardrail_margins(guardrails: Mapping[str, Sequence[Mapping]], colors: Mapping[str, str],
                      kinds: Mapping[str, str], labels: Mapping[str, str] | None = None) -> go.Figure:
    """Per guardrail, per variant: the estimate and its one-sided bound on the harmful side against
    the non-inferiority margin (red dashed line). Passes when the bound stays on the safe side."""
    labels = labels or {}
    by_metric: dict[str, list[tuple[str, Mapping]]] = {}
    for variant, checks in guardrails.items():
        for c in checks:
            if c.get("bound") is not None:
                by_metric.setdefault(c["metric"], []).append((variant, c))
    groups = []
    for metric, items in by_metric.items():
        c0 = items[0][1]
        mult, unit, f = _scaled(kinds.get(metric, "mean"), c0["margin_type"] == "relative")
        worse = "higher" if c0["direction"] == "decrease" else "lower"
        rows = []
        for variant, c in items:
            x, b = c["estimate"] * mult, c["bound"] * mult
            rows.append(dict(label=variant, x=x, lo=min(x, b), hi=max(x, b), color=colors.get(variant, NEUTRAL),
                             filled=True, text_color=GOOD if c["passed"] else BAD,
                             text=f"<b>{'pass' if c['passed'] else 'FAIL'}</b>  bound {b:{f}}{unit}",
                             hover=(f"{variant}: estimate {x:{f}}{unit}<br>one-sided bound {b:{f}}{unit}"
                                    f"<br>margin {c['threshold'] * mult:{f}}{unit}<br>one-sided p {fmt.pvalue(c['p_value'])}")))
        groups.append(dict(
            title=(f"<b>{labels.get(metric, metric)}</b> · change vs control ({unit.strip() or 'units'}) · "
                   f"{worse} is worse"),
            rows=rows, unit=unit,
            lines=[dict(x=0.0, color="#444"),
                   dict(x=c0["threshold"] * mult, color=BAD, dash="dash",
                        text=f"margin {c0['threshold'] * mult:{f}}{unit}")]))
    return intervals(groups)


def fixed_cost(econ: Mapping) -> bool:
    """Every treated variant's incremental promotion cost is known exactly (a per-user cost)."""
    costs = [v["incremental_cost"] for v in econ["variants"] if v.get("incremental_cost")]
    return all(c["ci_low"] == c["ci_high"] for c in costs)


def money_forest(econ: Mapping, colors: Mapping[str, str]) -> go.Figure:
    """Incremental revenue, promotion cost and margin per 1,000 users vs the control, in $ with CIs."""
    per = econ.get("per_users", 1000)
    treated = [v for v in econ["variants"] if v.get("incremental_revenue")]
    groups = []
    for field, name, good_up in (("incremental_revenue", "Incremental revenue", True),
                                 ("incremental_cost", "Incremental promotion cost", None),
                                 ("incremental_margin", "Incremental margin", True)):
        if field == "incremental_cost" and fixed_cost(econ):
            continue  # a fixed cost has no uncertainty: the panel states it in words
        rows = []
        for v in treated:
            iv = v[field]
            ok = good_up and iv["ci_low"] > 0
            bad = good_up and iv["ci_high"] < 0
            rows.append(dict(label=v["variant"], x=iv["value"], lo=iv["ci_low"], hi=iv["ci_high"],
                             color=colors.get(v["variant"], NEUTRAL), filled=bool(ok or bad) or good_up is None,
                             text_color=GOOD if ok else BAD if bad else NEUTRAL,
                             text=f"<b>{money(iv['value'])}</b>  [{money(iv['ci_low'])}, {money(iv['ci_high'])}]",
                             hover=(f"{v['variant']}: {money(iv['value'])} per {per:,} users"
                                    f"<br>CI [{money(iv['ci_low'])}, {money(iv['ci_high'])}]")))
        groups.append(dict(title=f"<b>{name}</b> · $ per {per:,} users vs {econ['control']}", rows=rows, unit="$",
                           lines=[dict(x=0.0, color="#444")]))
    return intervals(groups)


def break_even(econ: Mapping, colors: Mapping[str, str]) -> go.Figure:
    """Observed volume lift (gross value, with CI) against the lift each variant needs to break even."""
    rows, lines = [], [dict(x=0.0, color="#444")]
    for v in econ["variants"]:
        vol = v.get("volume_lift")
        if not vol:
            continue
        be = v.get("break_even_lift")
        x, lo, hi = vol["value"] * 100, vol["ci_low"] * 100, vol["ci_high"] * 100
        if be is None:
            verdict, color = "never breaks even", BAD
        else:
            verdict, color = ((f"above break-even {be * 100:+.1f}%", GOOD) if vol["ci_low"] > be
                              else (f"below break-even {be * 100:+.1f}%", BAD) if vol["ci_high"] < be
                              else (f"break-even {be * 100:+.1f}% inside the CI", NEUTRAL))
        rows.append(dict(label=v["variant"], x=x, lo=lo, hi=hi, color=colors.get(v["variant"], NEUTRAL),
                         text=f"<b>{x:+.1f}%</b> [{lo:+.1f}, {hi:+.1f}] · {verdict}", text_color=color,
                         hover=f"{v['variant']}: volume lift {x:+.1f}%<br>CI [{lo:+.1f}, {hi:+.1f}]"))
        if be is not None:
            rows.append(dict(label=v["variant"], x=be * 100, lo=be * 100, hi=be * 100,
                             color=BAD, symbol="line-ns", filled=True,
                             hover=f"{v['variant']}: break-even lift {be * 100:+.1f}%"))
    groups = [dict(title="<b>Volume lift vs break-even lift</b> · gross value per user vs control (%)",
                   rows=rows, unit="%", lines=lines)]
    return intervals(groups)


def segment_forest(drill: Mapping, metric: str, colors: Mapping[str, str], scale: str = "relative",
                   kind: str = "mean", label: str | None = None) -> go.Figure:
    """One row per segment × treatment: lift with CI; filled when significant after the correction
    across the column's segments; small segments drawn open with a "small" tag."""
    rows = []
    mult, unit, f = _scaled(kind, scale == "relative")
    direction = "increase"
    for s in drill["segments"]:
        m = next((x for x in s["metrics"] if x["name"] == metric), None)
        if m is None:
            continue
        direction = m["direction"]
        for v in m["variants"]:
            lift = v["lift"]
            if not lift:
                continue
            x, lo, hi = _lift_point(lift, scale, mult)
            good = (lift["absolute"] > 0) == (m["direction"] == "increase")
            tag = " (small)" if s["small"] else ""
            rows.append(dict(
                label=f"{s['value']} · {v['variant']}", x=x, lo=lo, hi=hi, color=colors.get(v["variant"], NEUTRAL),
                filled=bool(lift["significant"]),
                text_color=(GOOD if good else BAD) if lift["significant"] else NEUTRAL,
                text=f"<b>{x:{f}}{unit}</b> [{lo:{f}}, {hi:{f}}] · p adj {fmt.pvalue(lift['p_value_adjusted'])}{tag}",
                hover=(f"{drill['column']} = {s['value']} · {v['variant']}<br>{v['n']:,} users<br>"
                       f"lift {x:{f}}{unit} [{lo:{f}}, {hi:{f}}]<br>p {fmt.pvalue(lift['p_value'])} · "
                       f"adjusted p {fmt.pvalue(lift['p_value_adjusted'])}")))
    title = (f"<b>{label or metric}</b> by {drill['column']} · lift vs control in {unit.strip() or 'units'} · "
             f"{direction} is better · p adjusted across {drill['family_size']} tests")
    return intervals([dict(title=title, rows=rows, unit=unit, lines=[dict(x=0.0, color="#444")])], row_px=40)


def filtered_vs_unfiltered(filtered: Sequence[Mapping], unfiltered: Sequence[Mapping], colors: Mapping[str, str],
                           labels: Mapping[str, str] | None = None) -> go.Figure:
    """Relative lift per metric and variant with abuse filtering (filled diamond) and without (open circle)."""
    labels = labels or {}
    other = {m["name"]: m for m in unfiltered}
    groups = []
    for m in filtered:
        u = other.get(m["name"])
        if u is None:
            continue
        rows = []
        for v in m["variants"]:
            if not v["lift"]:
                continue
            w = next(x for x in u["variants"] if x["variant"] == v["variant"])["lift"]
            for name, lift, symbol in (("filtered", v["lift"], "diamond"), ("unfiltered", w, "circle")):
                x, lo, hi = lift["relative"] * 100, lift["ci_low"] * 100, lift["ci_high"] * 100
                rows.append(dict(label=f"{v['variant']} · {name}", x=x, lo=lo, hi=hi,
                                 color=colors.get(v["variant"], NEUTRAL), filled=name == "filtered", symbol=symbol,
                                 text=f"<b>{x:+.1f}%</b> [{lo:+.1f}, {hi:+.1f}] · p adj {fmt.pvalue(lift['p_value_adjusted'])}",
                                 text_color=NEUTRAL,
                                 hover=f"{v['variant']} ({name}): {x:+.1f}% [{lo:+.1f}, {hi:+.1f}]"))
        groups.append(dict(title=f"<b>{labels.get(m['name'], m['name'])}</b> · relative lift (%) · filtered vs unfiltered",
                           rows=rows, unit="%", lines=[dict(x=0.0, color="#444")]))
    return intervals(groups, row_px=36)


def exclusions(filtering: Mapping, colors: Mapping[str, str]) -> go.Figure:
    """Share of each variant's exposed users excluded, per rule (grouped bars)."""
    fig = go.Figure()
    rules = [r for r in filtering["rules"] if sum(r["excluded"].values())] or filtering["rules"]
    names = [r["rule"] for r in rules] + ["any rule"]
    for v, exposed in filtering["exposed"].items():
        counts = [r["excluded"].get(v, 0) for r in rules] + [filtering["excluded"].get(v, 0)]
        fig.add_bar(x=names, y=[100 * c / max(exposed, 1) for c in counts], name=v,
                    marker_color=colors.get(v, NEUTRAL), customdata=counts,
                    hovertemplate=f"{v}: %{{customdata:,}} users (%{{y:.2f}} %)<extra></extra>")
    fig.update_yaxes(title="users excluded (% of exposed)", ticksuffix="%", rangemode="tozero")
    return _layout(fig, 320, title="Users excluded per rule and variant", barmode="group")
