"""The metric syntax of ``analyze-table`` (``COL:kind[:direction][:cap=…][:covariate=…]``):
any text parses or gets one InputError naming the field, and what is written parses back."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promolab.analysis.metrics import parse_metric
from promolab.errors import InputError

NAMES = st.text(st.characters(blacklist_characters=":=/\n", blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60), st.booleans())
def test_any_text_parses_or_names_the_field(text: str, guardrail: bool) -> None:
    try:
        m = parse_metric(text, guardrail=guardrail)
    except InputError as exc:
        assert exc.field.split(" ")[0] == ("guardrail" if guardrail else "metric")
        assert "\n" not in str(exc).replace(repr(text), "")
        return
    assert m.kind in ("binomial", "mean", "ratio") and m.guardrail is guardrail
    assert m.cap is None or math.isfinite(m.cap)
    assert m.cap_quantile is None or 0.5 <= m.cap_quantile < 1


@settings(max_examples=300, deadline=None)
@given(NAMES, st.sampled_from(["binomial", "mean"]), st.sampled_from(["", ":increase", ":decrease"]),
       st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False), st.floats(50, 99.9)),
       st.one_of(st.none(), NAMES), st.booleans())
def test_written_metrics_parse_back(column, kind, direction, cap, covariate, percentile) -> None:
    text = f"{column}:{kind}{direction}"
    if cap is not None:
        text += f":cap=p{cap!r}" if percentile and 50 <= cap < 100 else f":cap={cap!r}"
    if covariate is not None:
        text += f":covariate={covariate}"
    m = parse_metric(text)
    assert (m.name, m.column, m.kind) == (column, column, kind)
    assert m.direction == (direction[1:] or "increase")
    assert m.covariate == covariate
    if cap is None:
        assert m.cap is None and m.cap_quantile is None
    elif percentile and 50 <= cap < 100:
        assert m.cap is None and m.cap_quantile == pytest.approx(cap / 100)
    else:
        assert m.cap == cap and m.cap_quantile is None


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("spend:mean:cap=inf", "metric spend.cap", "a finite number"),
    ("spend:mean:cap=nan", "metric spend.cap", "a finite number"),
    ("spend:mean:cap=p100", "metric spend.cap", "pNN with 50 <= NN < 100"),
    ("spend:mean:cap=1e400", "metric spend.cap", "a finite number"),
    ("spend:mean:margin=1", "metric", "options cap, covariate"),
    ("spend:mean:cap=1:cap=2", "metric", "each at most once"),
    ("a/b:ratio:covariate=x", "metric a/b.covariate", "no covariate on a ratio metric"),
])
def test_bad_options_name_the_field(text: str, field: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        parse_metric(text)
    assert info.value.field == field and expected in info.value.expected


def test_guardrail_margins() -> None:
    assert parse_metric("refund:binomial:decrease:0.005", guardrail=True).margin.value == 0.005
    relative = parse_metric("spend:mean:margin=2%", guardrail=True).margin
    assert (relative.value, relative.kind) == (0.02, "relative")
    with pytest.raises(InputError, match="guardrail refund.margin"):
        parse_metric("refund:binomial:margin=-1", guardrail=True)
    with pytest.raises(InputError, match="guardrail refund.margin"):
        parse_metric("refund:binomial:margin=inf%", guardrail=True)
