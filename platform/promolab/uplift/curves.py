"""Qini and uplift curves of a predicted uplift, and their normalised areas, as scikit-uplift
(``sklift.metrics`` 0.5) defines them; the tests hold the numbers equal to its functions.

Rows are sorted by predicted uplift, highest first; at each distinct score, with N_t(k),
N_c(k) the treated and control rows among the top k and Y_t(k), Y_c(k) their outcome sums:

- Qini curve (Radcliffe 2007, "Using control groups to target on predicted lift"):
  Q(k) = Y_t(k) − Y_c(k) · N_t(k) / N_c(k)
- uplift curve (Gutierrez & Gérardy 2017, "Causal inference and uplift modelling: a review
  of the literature"; sklift's ``uplift_curve``): U(k) = (Y_t(k)/N_t(k) − Y_c(k)/N_c(k)) · k

both from (0, 0). A ratio with a zero denominator counts as 0.

Normalised areas (sklift's ``qini_auc_score`` with ``negative_effect=True`` and
``uplift_auc_score``): (A_model − A_random) / (A_perfect − A_random), where A is the
trapezoid area, "random" is the straight line to the curve's end point and "perfect" is
the curve of an oracle ordering. The oracle for the Qini curve sorts by y·(2t − 1) (treated
responders first, control responders last); for the uplift curve of a 0/1 outcome it is
sklift's 2·1{y = t} + (y if control responders outnumber treated non-responders, else t).
sklift accepts only 0/1 outcomes; for any other outcome (spend) promolab uses the same
formulas with the y·(2t − 1) oracle for both curves, so 1 means "as good as the oracle" and
0 "no better than random" there too. The result is NaN when the oracle is no better than
random (e.g. no row has a positive outcome).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promolab.errors import InputError


def _check(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, ...]:
    y, score, treated = (np.asarray(a, dtype=float) for a in (y, score, treated))
    if not (y.ndim == score.ndim == treated.ndim == 1 and y.size == score.size == treated.size > 0):
        raise InputError("uplift curve", f"lengths {y.size}, {score.size}, {treated.size}",
                         "outcomes, scores and treatment flags of the same non-zero length")
    if not np.all((treated == 0) | (treated == 1)):
        raise InputError("uplift curve.treated", "values other than 0 and 1", "0/1 treatment flags")
    return y, score, treated


def _cumulative(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, ...]:
    """k, N_t, Y_t, N_c, Y_c at the last row of each distinct score (sorted highest first)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    y, score, treated = y[order], score[order], treated[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    n_t = np.cumsum(treated)[last]
    y_t = np.cumsum(y * treated)[last]
    y_c = np.cumsum(y * (1 - treated))[last]
    k = (last + 1).astype(float)
    return k, n_t, y_t, k - n_t, y_c


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def qini_curve(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, Q(k)) from (0, 0): Radcliffe's Qini curve."""
    k, n_t, y_t, n_c, y_c = _cumulative(*_check(y, score, treated))
    return np.r_[0.0, k], np.r_[0.0, y_t - y_c * _ratio(n_t, n_c)]


def uplift_curve(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, U(k)) from (0, 0): the uplift curve."""
    k, n_t, y_t, n_c, y_c = _cumulative(*_check(y, score, treated))
    return np.r_[0.0, k], np.r_[0.0, (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * k]


CURVE_POINTS = 101


@dataclass(frozen=True)
class CurvePoints:
    """A curve for charts: its value at evenly spaced shares of users targeted (0 to 1),
    linearly interpolated between the curve's points (the random line joins the ends)."""

    share: tuple[float, ...]
    value: tuple[float, ...]


def curve_points(curve: tuple[np.ndarray, np.ndarray], points: int = CURVE_POINTS) -> CurvePoints:
    """``curve`` (k, value) from ``qini_curve`` or ``uplift_curve`` at ``points`` shares k / n."""
    k, value = curve
    share = np.linspace(0.0, 1.0, points)
    return CurvePoints(tuple(share.tolist()), tuple(np.interp(share * k[-1], k, value).tolist()))


def _binary(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1)))


def _normalised(curve, y: np.ndarray, score: np.ndarray, treated: np.ndarray, oracle: np.ndarray) -> float:
    x_model, v_model = curve(y, score, treated)
    x_best, v_best = curve(y, oracle, treated)
    random = x_best[-1] * v_best[-1] / 2
    best = np.trapezoid(v_best, x_best) - random
    return float((np.trapezoid(v_model, x_model) - random) / best) if best != 0 else float("nan")


def qini_coefficient(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> float:
    """Normalised area under the Qini curve (sklift ``qini_auc_score``, negative_effect=True)."""
    y, score, treated = _check(y, score, treated)
    return _normalised(qini_curve, y, score, treated, y * (2 * treated - 1))


def auuc(y: np.ndarray, score: np.ndarray, treated: np.ndarray) -> float:
    """Normalised area under the uplift curve (sklift ``uplift_auc_score``)."""
    y, score, treated = _check(y, score, treated)
    if _binary(y):
        control_responders = np.sum((y == 1) & (treated == 0))
        treated_nonresponders = np.sum((y == 0) & (treated == 1))
        oracle = 2 * (y == treated) + (y if control_responders > treated_nonresponders else treated)
    else:
        oracle = y * (2 * treated - 1)
    return _normalised(uplift_curve, y, score, treated, oracle)
