"""The Targeting page's view of ``promolab.uplift`` (``promolab uplift --experiment KEY --json``)
and of a contextual experiment's read-out and allocation by segment.

Every number comes from the library; this module only names the policies after the spec's
variants, arranges tables and draws figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from promolab.analysis.allocation import SegmentAllocation
from promolab.analysis.contextual import PolicyReadout
from promolab.uplift.evaluate import OfferEvaluation
from promolab.uplift.policy import Lift, TargetingEvaluation
from promolab.uplift.report import LEARNER_NAMES, UpliftReport
from ui.charts import _layout, intervals
from ui.colors import NEUTRAL, hex_to_rgba, series_colors
from ui.format import num, pct, users

DASHES = {"x": "solid", "t": "dash", "dr": "dot"}


def blanket_policies(report: UpliftReport) -> dict[str, str]:
    """Blanket policy (as the library names it) → the arm everyone gets (the policies end with
    one blanket policy per arm, in the arms' order)."""
    blankets = report.targeting.policies[-len(report.arms):]
    return {p.policy: arm for p, arm in zip(blankets, report.arms)}


def policy_labels(report: UpliftReport, names: Mapping[str, str]) -> dict[str, str]:
    """Policy → label: blanket policies name the spec's variant ("everyone: Mens E-Mail")."""
    control = report.arms[0]
    blanket = {p: f"no one ({names[a]})" if a == control else f"everyone: {names[a]}"
               for p, a in blanket_policies(report).items()}
    return {p.policy: blanket.get(p.policy, p.policy) for p in report.targeting.policies}


def lift_sentence(lift: Lift, report: UpliftReport, names: Mapping[str, str]) -> str:
    """The lift of a targeted policy over the best blanket policy, in words."""
    arm = blanket_policies(report)[lift.baseline]
    baseline = "sending no offer" if arm == report.arms[0] else f"sending everyone {names[arm]}"
    dr = lift.dr
    verdict = {"worse": f"does worse than {baseline}", "not shown": f"is not shown to beat {baseline}",
               "better": f"beats {baseline}"}[lift.conclusion]
    return (f"Targeting {verdict} (**{lift.policy}**): {dr.value:+,.4g} per user, "
            f"95 % CI {dr.lower:+,.4g} to {dr.upper:+,.4g} (doubly robust).")


def policy_table(targeting: TargetingEvaluation, labels: Mapping[str, str],
                 names: Mapping[str, str]) -> pd.DataFrame:
    """One row per policy: who gets what, its doubly robust value with CI, effective sample size."""
    rows = []
    for p in targeting.policies:
        row: dict[str, object] = {"policy": labels[p.policy]}
        row.update({names[a]: p.share[a] for a in targeting.actions})
        row.update({"value (DR)": p.dr.value, "95 % CI": f"[{num(p.dr.lower)}, {num(p.dr.upper)}]",
                    "ESS": p.weights.ess})
        rows.append(row)
    return pd.DataFrame(rows)


def estimator_table(targeting: TargetingEvaluation, labels: Mapping[str, str]) -> pd.DataFrame:
    """The other estimates of each policy's value (IPS, SNIPS) and its largest importance weight."""
    return pd.DataFrame([{"policy": labels[p.policy], "IPS": p.ips.value, "SNIPS": p.snips.value,
                          "largest weight": p.weights.max_weight} for p in targeting.policies])


def in_words(text: str, labels: Mapping[str, str]) -> str:
    """A library note with its policy names replaced by the page's labels."""
    for policy in sorted(labels, key=len, reverse=True):
        text = text.replace(policy, labels[policy])
    return text


def policy_values(targeting: TargetingEvaluation, labels: Mapping[str, str],
                  colors: Mapping[str, str], blankets: Mapping[str, str]) -> go.Figure:
    """DR value per user of every policy with its CI; the best blanket policy as a dashed line."""
    targeted = series_colors(p.policy for p in targeting.policies if p.policy not in blankets)
    best = targeting.policy(targeting.best_blanket).dr.value
    rows = []
    for p in targeting.policies:
        color = colors[blankets[p.policy]] if p.policy in blankets else targeted[p.policy]
        est = p.dr
        rows.append(dict(label=labels[p.policy], x=est.value, lo=est.lower, hi=est.upper, color=color,
                         filled=p.policy not in blankets, text_color=NEUTRAL,
                         text=f"<b>{num(est.value)}</b> [{num(est.lower)}, {num(est.upper)}]",
                         hover=(f"{labels[p.policy]}: {num(est.value)} per user<br>95 % CI "
                                f"[{num(est.lower)}, {num(est.upper)}]<br>ESS {p.weights.ess:,.0f}")))
    lines = [dict(x=best, color=NEUTRAL, dash="dash", text=f"best blanket: {labels[targeting.best_blanket]}")]
    return intervals([dict(title="<b>Value per user</b> of each policy · doubly robust, 95 % CI",
                           rows=rows, lines=lines)])


def curve_table(evaluations: Sequence[OfferEvaluation], outcome: str, names: Mapping[str, str]) -> pd.DataFrame:
    """Qini coefficient, AUUC, observed and predicted uplift per learner × offer for ``outcome``."""
    return pd.DataFrame([{"learner": LEARNER_NAMES[e.learner], "offer": names[e.offer],
                          "Qini coefficient": e.qini_coefficient, "AUUC": e.auuc,
                          "observed uplift": e.observed_uplift, "mean predicted uplift": e.predicted_uplift,
                          "users (offer / control)": f"{users(e.n_treated)} / {users(e.n_control)}"}
                         for e in evaluations if e.outcome == outcome])


def qini_curves(evaluations: Sequence[OfferEvaluation], outcome: str, label: str,
                names: Mapping[str, str], colors: Mapping[str, str]) -> go.Figure:
    """Qini curve per learner (line style) and offer (colour) with each offer's random line."""
    fig = go.Figure()
    drawn: set[str] = set()
    for e in (e for e in evaluations if e.outcome == outcome):
        share = [s * 100 for s in e.qini.share]
        color = colors.get(e.offer, NEUTRAL)
        if e.offer not in drawn:
            drawn.add(e.offer)
            fig.add_scatter(x=[0, 100], y=[0, e.qini.value[-1]], mode="lines", name=f"{names[e.offer]} · random",
                            line=dict(color=hex_to_rgba(color, 0.6), width=1.5, dash="longdashdot"),
                            hoverinfo="skip")
        fig.add_scatter(x=share, y=e.qini.value, mode="lines",
                        name=f"{names[e.offer]} · {LEARNER_NAMES[e.learner]} (Qini {e.qini_coefficient:.3f})",
                        line=dict(color=color, width=3, dash=DASHES.get(e.learner, "solid")),
                        hovertemplate=(f"{names[e.offer]} · {LEARNER_NAMES[e.learner]}<br>top %{{x:.0f}} % "
                                       f"targeted<br>incremental {label}: %{{y:,.4g}}<extra></extra>"))
    fig.update_xaxes(title="users targeted, highest predicted uplift first (%)", ticksuffix="%", range=[0, 101])
    fig.update_yaxes(title="cumulative incremental outcome")
    return _layout(fig, 420, title=f"Qini curves · {label}")


def decile_bars(evaluations: Sequence[OfferEvaluation], learner: str, outcome: str, label: str, kind: str,
                names: Mapping[str, str], colors: Mapping[str, str]) -> go.Figure:
    """Observed uplift (with CI) and mean predicted uplift per decile of predicted uplift, per offer."""
    shown = [e for e in evaluations if e.learner == learner and e.outcome == outcome]
    mult, unit = (100.0, "pp") if kind == "binomial" else (1.0, "")
    fig = make_subplots(rows=1, cols=len(shown), shared_yaxes=True, horizontal_spacing=0.04)
    for i, e in enumerate(shown, start=1):
        x = [d.decile for d in e.deciles]
        y = [d.uplift * mult for d in e.deciles]
        fig.add_bar(x=x, y=y, name="observed uplift (95 % CI)", showlegend=i == 1, legendgroup="observed",
                    marker_color=colors.get(e.offer, NEUTRAL),
                    error_y=dict(type="data", symmetric=False, color="#444",
                                 array=[(d.ci_high - d.uplift) * mult for d in e.deciles],
                                 arrayminus=[(d.uplift - d.ci_low) * mult for d in e.deciles]),
                    hovertemplate=f"decile %{{x}}: %{{y:.3g}} {unit}<extra></extra>", row=1, col=i)
        fig.add_scatter(x=x, y=[d.predicted * mult for d in e.deciles], mode="markers", name="mean predicted uplift",
                        showlegend=i == 1, legendgroup="predicted",
                        marker=dict(symbol="diamond", size=11, color="white", line=dict(color="#222", width=2)),
                        hovertemplate=f"decile %{{x}}: predicted %{{y:.3g}} {unit}<extra></extra>", row=1, col=i)
        fig.update_xaxes(title=f"<b>{names[e.offer]}</b> vs control · decile (1 = highest predicted uplift)",
                         dtick=1, row=1, col=i)
    fig.update_yaxes(title=f"uplift in {label}" + (f" ({unit})" if unit else ""), row=1, col=1,
                     zeroline=True, zerolinecolor="#444")
    return _layout(fig, 380, title=f"Uplift by decile · {LEARNER_NAMES[learner]} · {label}")


def readout_means(readout: PolicyReadout, names: Mapping[str, str], colors: Mapping[str, str],
                  label: str) -> go.Figure:
    """Each variant's SNIPS mean reward had everyone got it, with its CI."""
    rows = [dict(label=names[v], x=m.value, lo=m.lower, hi=m.upper, color=colors.get(v, NEUTRAL),
                 text=f"<b>{num(m.value)}</b> [{num(m.lower)}, {num(m.upper)}] · ESS {m.effective_n:,.0f}",
                 text_color=NEUTRAL, hover=f"{names[v]}: {num(m.value)} per user, {users(m.n)} users")
            for v, m in readout.variants.items() if m is not None]
    return intervals([dict(title=f"<b>{label}</b> per user had everyone got the variant · SNIPS, 95 % CI",
                           rows=rows, lines=[])])


def allocation_bars(allocation: SegmentAllocation, names: Mapping[str, str],
                    colors: Mapping[str, str]) -> go.Figure:
    """Variant share of each segment's policy users per period: one stacked-bar row per segment."""
    cells = pd.DataFrame([c.__dict__ for c in allocation.cells])
    segments = allocation.segments
    fig = make_subplots(rows=len(segments), cols=1, shared_xaxes=True, vertical_spacing=0.25 / len(segments),
                        subplot_titles=[f"<b>{allocation.feature} = {s}</b>" for s in segments])
    for i, segment in enumerate(segments, start=1):
        rows = cells[cells.segment == segment]
        for v in allocation.variants:
            part = rows[rows.variant == v]
            fig.add_bar(x=part.period, y=part.share * 100, name=names.get(v, v), legendgroup=v, showlegend=i == 1,
                        marker_color=colors.get(v, NEUTRAL), customdata=part.users,
                        hovertemplate=(f"{names.get(v, v)}: %{{y:.1f}} % (%{{customdata:,}} users)"
                                       "<extra>%{x}</extra>"), row=i, col=1)
        fig.update_yaxes(title="share (%)", range=[0, 100], ticksuffix="%", row=i, col=1)
    fig.update_xaxes(type="category", row=len(segments), col=1,
                     title=f"{allocation.period} of first exposure")
    fig = _layout(fig, 60 + 170 * len(segments), barmode="stack", bargap=0.1,
                  title=f"Allocation by {allocation.feature} · policy users ({users(allocation.policy_users)})")
    fig.update_annotations(font_size=14, x=0, xanchor="left")
    fig.update_layout(legend=dict(orientation="v", x=1.02, y=1, yanchor="top", traceorder="reversed"),
                      margin=dict(t=60))
    return fig


def share_label(share: float | None) -> str:
    return "no budget" if share is None else f"top {pct(share, 0)}"
