"""What inference says about each metric and variant: typed rows of a report.

One row (``Lift``) per treatment and metric. Its intervals and p-value come from one test
(``promolab.stats``), so each interval excludes zero exactly when ``p_value < alpha``:
the absolute CI is the test's own Wald/Welch interval and the relative CI is Fieller's
interval with the same variances and critical value. ``p_value_adjusted`` is the p-value
the decision uses — fixed-horizon, group-sequential repeated or mSPRT always-valid —
adjusted across the family with the plan's correction; ``significant`` is
``p_value_adjusted < alpha``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from promolab.spec.vocabulary import Decision, Direction, MetricKind, SequentialMethod, Spending


@dataclass(frozen=True)
class CupedAdjustment:
    """CUPED on a row: the covariate, θ = Cov(y, x)/Var(x) and the variance removed (≈ ρ²)."""

    covariate: str
    theta: float
    variance_reduction: float


@dataclass(frozen=True)
class SequentialReadout:
    """A row's sequential decision at the current look.

    ``decision_p_value`` is the p-value the decision rests on before correction: the
    group-sequential repeated p-value (the smallest level whose boundary |z| crosses at
    this look) for ``gst``, the mSPRT always-valid p-value for ``msprt``. ``crossed``
    is the corrected decision (the row's ``significant``).
    """

    method: SequentialMethod
    decision_p_value: float
    crossed: bool
    always_valid_p_value: float
    always_valid_ci_low: float
    always_valid_ci_high: float
    tau2: float
    cs_abs_ci_low: float
    cs_abs_ci_high: float
    cs_rel_ci_low: float
    cs_rel_ci_high: float
    spending: Spending | None = None  # gst only, from here on
    look: int | None = None
    looks: int | None = None
    information_fraction: float | None = None
    z: float | None = None
    boundary: float | None = None  # at the nominal level alpha, before correction
    nominal_p: float | None = None
    alpha_spent: float | None = None


@dataclass(frozen=True)
class Lift:
    """A treatment against the control on one metric."""

    absolute: float
    relative: float
    ci_low: float  # relative lift CI (Fieller)
    ci_high: float
    abs_ci_low: float
    abs_ci_high: float
    p_value: float  # the fixed-horizon test's two-sided p-value
    p_value_adjusted: float  # the decision's p-value, corrected across the family (see module doc)
    chance_to_win: float
    expected_loss: float
    significant: bool
    method: str
    se_absolute: float
    se_relative: float  # delta-method standard error of the relative lift (confidence sequences use it)
    decision: str = "fixed-horizon"  # what p_value_adjusted adjusts: fixed-horizon | gst repeated | msprt
    cuped: CupedAdjustment | None = None
    sequential: SequentialReadout | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for optional in ("cuped", "sequential"):
            if out[optional] is None:
                del out[optional]
        return out


@dataclass(frozen=True)
class VariantResult:
    """A variant's users counted by the metric (``n``), its mean and its lift; ``window_open``:
    users of the variant left out of this metric because their conversion window had not
    closed at the analysis time."""

    variant: str
    n: int
    mean: float
    lift: Lift | None  # None for the control
    window_open: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "n": self.n, "mean": self.mean, "window_open": self.window_open,
                "lift": None if self.lift is None else self.lift.to_dict()}


@dataclass(frozen=True)
class MetricResult:
    name: str
    kind: MetricKind
    direction: Direction
    guardrail: bool
    variants: tuple[VariantResult, ...]
    label: str = ""

    def variant(self, key: str) -> VariantResult:
        return next(v for v in self.variants if v.variant == key)

    @property
    def title(self) -> str:
        return self.label or self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.title, "kind": self.kind, "direction": self.direction,
                "guardrail": self.guardrail, "variants": [v.to_dict() for v in self.variants]}


@dataclass(frozen=True)
class Verdict:
    """What a marketer should do: ship / keep running / stop / investigate / do not ship."""

    decision: Decision
    variant: str | None
    text: str


def good_direction(direction: Direction, lift: Lift) -> bool:
    """Whether the lift moves the metric the way its direction calls better."""
    return (lift.absolute > 0) == (direction == "increase")
