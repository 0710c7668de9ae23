"""Out-of-sample evaluation of predicted uplift, per offer against the control.

On the rows of offer k and the control, with the cross-fitted τ̂_k as score: the Qini
coefficient and AUUC (``promolab.uplift.curves``, scikit-uplift's normalisation) and the
observed uplift per decile of τ̂_k (rows sorted by τ̂_k, highest first, cut into ten
near-equal groups like sklift's ``uplift_by_percentile(strategy="overall")``). A decile's
uplift is ȳ_k − ȳ_0 with Welch's t interval (``promolab.stats.welch_test``); a well
ranked model shows observed uplift falling from the first decile to the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.stats import MeanStats, welch_test
from promolab.uplift.crossfit import CrossFit
from promolab.uplift.curves import CurvePoints, auuc, curve_points, qini_coefficient, qini_curve, uplift_curve
from promolab.uplift.data import UpliftData

BINS = 10
NAN = float("nan")


@dataclass(frozen=True)
class DecileRow:
    """Observed uplift among the rows of one decile of predicted uplift (1 = highest)."""

    decile: int
    n_treated: int
    n_control: int
    predicted: float  # mean τ̂_k of the decile's rows
    treated_mean: float
    control_mean: float
    uplift: float  # treated_mean − control_mean
    ci_low: float  # Welch t interval (NaN with fewer than 2 rows in an arm)
    ci_high: float
    p_value: float


@dataclass(frozen=True)
class OfferEvaluation:
    """How well one learner's τ̂_k ranks users for offer k, on held-out predictions."""

    learner: str
    outcome: str
    offer: str
    n_treated: int
    n_control: int
    qini_coefficient: float
    auuc: float
    observed_uplift: float  # ȳ_k − ȳ_0 over all rows
    predicted_uplift: float  # mean τ̂_k over the same rows
    deciles: tuple[DecileRow, ...]
    qini: CurvePoints  # Qini curve Q(k) by share of users targeted
    uplift: CurvePoints  # uplift curve U(k)


def _stats(y: np.ndarray) -> MeanStats:
    return MeanStats(int(y.size), float(y.sum()), float(np.square(y).sum()))


def _decile(index: int, y: np.ndarray, treated: np.ndarray, score: np.ndarray, alpha: float) -> DecileRow:
    yt, yc = y[treated], y[~treated]
    t_mean = float(yt.mean()) if yt.size else NAN
    c_mean = float(yc.mean()) if yc.size else NAN
    low = high = p = NAN
    if yt.size >= 2 and yc.size >= 2:
        lift = welch_test(_stats(yc), _stats(yt), alpha)
        low, high, p = lift.abs_ci_low, lift.abs_ci_high, lift.p_value
    return DecileRow(index, int(yt.size), int(yc.size), float(score.mean()), t_mean, c_mean, t_mean - c_mean,
                     low, high, p)


def evaluate_offers(data: UpliftData, fit: CrossFit, y: np.ndarray, bins: int = BINS,
                    alpha: float = 0.05) -> tuple[OfferEvaluation, ...]:
    """One evaluation per offer of ``fit`` (τ̂ of outcome ``y``)."""
    out = []
    for k, offer in enumerate(data.offers, start=1):
        rows = np.flatnonzero((data.arm == k) | (data.arm == 0))
        yk, treated, score = y[rows], data.arm[rows] == k, fit.tau[rows, k - 1]
        order = np.argsort(-score, kind="stable")
        deciles = tuple(_decile(i + 1, yk[part], treated[part], score[part], alpha)
                        for i, part in enumerate(np.array_split(order, bins)) if part.size)
        out.append(OfferEvaluation(
            fit.learner, fit.outcome, offer, int(treated.sum()), int((~treated).sum()),
            qini_coefficient(yk, score, treated), auuc(yk, score, treated),
            float(yk[treated].mean() - yk[~treated].mean()), float(score.mean()), deciles,
            curve_points(qini_curve(yk, score, treated)), curve_points(uplift_curve(yk, score, treated))))
    return tuple(out)
