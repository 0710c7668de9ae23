"""One colour per variant, the same on every page.

The control is always grey; the other variants take the Okabe-Ito colour-blind-safe
palette in the order the experiment spec lists them. Green and red are kept out of the
variant palette: they mean "good" and "bad" in verdicts and lift markers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CONTROL = "#8c8c8c"
PALETTE = ("#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288", "#88CCEE")
GOOD = "#1a7f37"
BAD = "#cf222e"
NEUTRAL = "#6e7781"
BOUNDARY = "#cf222e"


def variant_colors(variants: Sequence[str], control: str | None = None) -> dict[str, str]:
    """``{variant: colour}``: control grey, others the palette in the given (spec) order."""
    out: dict[str, str] = {}
    i = 0
    for v in variants:
        if v == control:
            out[v] = CONTROL
        else:
            out[v] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def series_colors(names: Iterable[str]) -> dict[str, str]:
    """Colours for series that are not variants of one experiment (policies, arms)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def hex_to_rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` → ``rgba(r, g, b, alpha)`` for translucent bands."""
    c = color.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"
