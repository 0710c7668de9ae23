"""Frequentist tests of a treatment against a control, from sufficient statistics.

Every test returns a :class:`LiftResult` with the absolute lift (treatment − control)
and the relative lift (treatment / control − 1), each with a two-sided (1 − α) CI.
The relative CI uses the delta method for a ratio of independent means:

    Var(m_t / m_c) ≈ Var(m_t) / m_c² + m_t² · Var(m_c) / m_c⁴

(GrowthBook, Eppo and Statsig use the same first-order approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from scipy import stats as _st

from promolab.errors import InputError
from promolab.stats.sufficient import JointStats, MeanStats

__all__ = [
    "LiftResult",
    "CupedResult",
    "proportion_test",
    "welch_test",
    "ratio_test",
    "cuped_test",
]


@dataclass(frozen=True)
class LiftResult:
    """Treatment vs control: point estimates, CIs, two-sided p-value."""

    control_mean: float
    treatment_mean: float
    absolute: float  # treatment_mean - control_mean
    abs_ci_low: float
    abs_ci_high: float
    relative: float  # treatment_mean / control_mean - 1
    ci_low: float  # CI of the relative lift (delta method)
    ci_high: float
    p_value: float  # two-sided
    statistic: float  # z or t
    se_absolute: float
    se_relative: float
    method: str


@dataclass(frozen=True)
class CupedResult:
    """CUPED-adjusted lift, the adjustment coefficient θ and the pooled variance reduction."""

    lift: LiftResult
    theta: float
    variance_reduction: float  # 1 - Var_adj / Var_raw, within-arm pooled variances


# --------------------------------------------------------------------------- validation
# (private helpers shared by the other stats modules)


def _check_alpha(alpha: object, field: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not (0.0 < float(alpha) < 1.0):
        raise InputError(field, alpha, "a number in (0, 1)")
    return float(alpha)


def _check_finite(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise InputError(field, value, "a finite number")
    return float(value)


def _check_n(n: object, field: str, minimum: int = 2) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or int(n) < minimum:
        raise InputError(field, n, f"an integer >= {minimum}")
    return int(n)


def _check_mean_stats(s: object, field: str) -> MeanStats:
    if not isinstance(s, MeanStats):
        raise InputError(field, s, "a MeanStats")
    _check_n(s.n, f"{field}.n")
    _check_finite(s.sum, f"{field}.sum")
    if _check_finite(s.sum_sq, f"{field}.sum_sq") < 0:
        raise InputError(f"{field}.sum_sq", s.sum_sq, "a number >= 0 (a sum of squares)")
    return s


def _check_joint_stats(s: object, field: str) -> JointStats:
    if not isinstance(s, JointStats):
        raise InputError(field, s, "a JointStats")
    _check_n(s.n, f"{field}.n")
    for name in ("sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy"):
        _check_finite(getattr(s, name), f"{field}.{name}")
    for name in ("sum_y2", "sum_x2"):
        if getattr(s, name) < 0:
            raise InputError(f"{field}.{name}", getattr(s, name), "a number >= 0 (a sum of squares)")
    return s


def _check_binomial(s: object, field: str) -> MeanStats:
    s = _check_mean_stats(s, field)
    if not (0.0 <= s.sum <= s.n):
        raise InputError(f"{field}.sum", s.sum, f"a count of successes in [0, n={s.n}]")
    return s


# --------------------------------------------------------------------------- core


def _lift(
    mc: float,
    mt: float,
    var_mc: float,
    var_mt: float,
    crit: float,
    statistic: float,
    p_value: float,
    method: str,
) -> LiftResult:
    """Assemble a LiftResult from two means and the variances of those means.

    ``crit`` is the critical value used for both CIs (z or t quantile at 1 − α/2). With a
    zero control mean (no conversions yet) the relative lift and its CI are NaN: undefined,
    while the absolute lift and the test stay valid.
    """
    diff = mt - mc
    se_abs = math.sqrt(var_mc + var_mt)
    if mc == 0.0:
        rel = se_rel = math.nan
    else:
        rel = mt / mc - 1.0
        se_rel = math.sqrt(var_mt / mc**2 + mt**2 * var_mc / mc**4)
    return LiftResult(
        control_mean=float(mc),
        treatment_mean=float(mt),
        absolute=float(diff),
        abs_ci_low=float(diff - crit * se_abs),
        abs_ci_high=float(diff + crit * se_abs),
        relative=float(rel),
        ci_low=float(rel - crit * se_rel),
        ci_high=float(rel + crit * se_rel),
        p_value=float(p_value),
        statistic=float(statistic),
        se_absolute=float(se_abs),
        se_relative=float(se_rel),
        method=method,
    )


def _degenerate(diff: float) -> tuple[float, float]:
    """Statistic and p-value when the standard error is exactly zero."""
    if diff == 0.0:
        return 0.0, 1.0
    return math.copysign(math.inf, diff), 0.0


def _z_p(diff: float, se: float) -> tuple[float, float]:
    if se == 0.0:
        return _degenerate(diff)
    z = diff / se
    return z, float(2.0 * _st.norm.sf(abs(z)))


def _welch(
    mc: float, vc: float, nc: int, mt: float, vt: float, nt: int, alpha: float, method: str
) -> LiftResult:
    """Welch t-test on two means with sample variances vc, vt (ddof=1)."""
    a, b = vc / nc, vt / nt
    se = math.sqrt(a + b)
    diff = mt - mc
    if se == 0.0:
        t, p = _degenerate(diff)
        crit = 0.0  # no sampling variability: the CI is the point
    else:
        df = (a + b) ** 2 / (a**2 / (nc - 1) + b**2 / (nt - 1))
        t = diff / se
        p = float(2.0 * _st.t.sf(abs(t), df))
        crit = float(_st.t.ppf(1.0 - alpha / 2.0, df))
    return _lift(mc, mt, a, b, crit, t, p, method)


# --------------------------------------------------------------------------- public tests


def proportion_test(control: MeanStats, treatment: MeanStats, alpha: float = 0.05) -> LiftResult:
    """Two-proportion z-test on 0/1 metrics (``sum`` = number of successes).

    * statistic, p-value: pooled z = (p_t − p_c) / sqrt(p̄(1 − p̄)(1/n_c + 1/n_t)),
      as ``statsmodels.stats.proportion.proportions_ztest``;
    * absolute CI and ``se_absolute``: unpooled Wald, sqrt(p_c(1−p_c)/n_c + p_t(1−p_t)/n_t),
      as ``confint_proportions_2indep(method="wald")``;
    * relative CI: delta method on p_t / p_c − 1 with the same binomial variances.

    Both CIs use the normal quantile z_{1−α/2}. If every user converted or none did
    (pooled p̄ ∈ {0, 1}) the z-test is undefined; statistic 0 and p-value 1 are returned.
    """
    alpha = _check_alpha(alpha)
    control = _check_binomial(control, "control")
    treatment = _check_binomial(treatment, "treatment")
    nc, nt = control.n, treatment.n
    pc, pt = control.sum / nc, treatment.sum / nt
    pooled = (control.sum + treatment.sum) / (nc + nt)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt))
    z, p = _z_p(pt - pc, se_pooled)
    crit = float(_st.norm.ppf(1.0 - alpha / 2.0))
    return _lift(pc, pt, pc * (1 - pc) / nc, pt * (1 - pt) / nt, crit, z, p, "two-proportion z-test")


def welch_test(control: MeanStats, treatment: MeanStats, alpha: float = 0.05) -> LiftResult:
    """Welch's unequal-variance t-test (``scipy.stats.ttest_ind(equal_var=False)``).

    t = (m_t − m_c) / sqrt(s_t²/n_t + s_c²/n_c) with Welch–Satterthwaite df
    ν = (s_t²/n_t + s_c²/n_c)² / ((s_t²/n_t)²/(n_t−1) + (s_c²/n_c)²/(n_c−1)).
    Both CIs use the t quantile t_{ν, 1−α/2} (as GrowthBook does); the relative CI
    uses Var(rel) ≈ s_t²/(n_t m_c²) + m_t² s_c²/(n_c m_c⁴).
    """
    alpha = _check_alpha(alpha)
    c = _check_mean_stats(control, "control")
    t = _check_mean_stats(treatment, "treatment")
    return _welch(c.mean, c.variance, c.n, t.mean, t.variance, t.n, alpha, "Welch t-test")


def _ratio_moments(s: JointStats, field: str) -> tuple[float, float]:
    """R = Σy/Σx and its delta-method variance (1/(n μx²))(σy² − 2Rσxy + R²σx²)."""
    if s.sum_x == 0.0:
        raise InputError(f"{field}.sum_x", s.sum_x, "a non-zero denominator total")
    r = s.sum_y / s.sum_x
    mu_x = s.sum_x / s.n
    var = (s.y.variance - 2.0 * r * s.covariance + r * r * s.x.variance) / (s.n * mu_x * mu_x)
    return r, max(var, 0.0)


def ratio_test(control: JointStats, treatment: JointStats, alpha: float = 0.05) -> LiftResult:
    """Ratio metric R = Σy / Σx per variant (e.g. revenue per order), delta method.

    Var(R) ≈ (1/(n μx²)) (σy² − 2R σxy + R² σx²)
    (Deng, Knoblich & Lu, "Applying the Delta Method in Metric Analytics", KDD 2018);
    z-test on R_t − R_c with se = sqrt(Var(R_t) + Var(R_c)); relative lift R_t/R_c − 1
    by the delta method. Both CIs use z_{1−α/2}.
    """
    alpha = _check_alpha(alpha)
    c = _check_joint_stats(control, "control")
    t = _check_joint_stats(treatment, "treatment")
    rc, vc = _ratio_moments(c, "control")
    rt, vt = _ratio_moments(t, "treatment")
    z, p = _z_p(rt - rc, math.sqrt(vc + vt))
    crit = float(_st.norm.ppf(1.0 - alpha / 2.0))
    return _lift(rc, rt, vc, vt, crit, z, p, "delta-method ratio")


def cuped_test(control: JointStats, treatment: JointStats, alpha: float = 0.05) -> CupedResult:
    """CUPED (Deng, Xu, Kohavi & Walker, WSDM 2013) with y the metric, x the pre-period covariate.

    θ = Cov(y, x) / Var(x) on both arms combined; y_adj = y − θ(x − x̄_pooled), so per arm
    m_adj = ȳ − θ(x̄ − x̄_pooled) and s²_adj = s_y² − 2θ s_xy + θ² s_x² (ddof=1).
    A Welch t-test (as :func:`welch_test`) is run on the adjusted means and variances;
    θ is treated as known. ``LiftResult.control_mean``/``treatment_mean`` are the
    adjusted means. ``variance_reduction`` = 1 − pooled s²_adj / pooled s²_y with
    within-arm pooling Σ(n_k − 1)s_k² / (N − 2); it estimates ρ² = corr(y, x)² (Deng et al.).
    A constant covariate gives θ = 0 (no adjustment).
    """
    alpha = _check_alpha(alpha)
    c = _check_joint_stats(control, "control")
    t = _check_joint_stats(treatment, "treatment")
    pooled = c + t
    var_x = pooled.x.variance
    theta = pooled.covariance / var_x if var_x > 0.0 else 0.0
    x_bar = pooled.sum_x / pooled.n

    def adjusted(s: JointStats) -> tuple[float, float, float, float]:
        """Adjusted mean and variance, raw variance, and the variance removed,
        2θ s_xy − θ² s_x² (computed directly: 1 − adj/raw cancels when the gain is small)."""
        m = s.y.mean - theta * (s.x.mean - x_bar)
        v_raw = s.y.variance
        removed = min(2.0 * theta * s.covariance - theta * theta * s.x.variance, v_raw)
        return m, v_raw - removed, v_raw, removed

    mc, vc, rc, dc = adjusted(c)
    mt, vt, rt, dt = adjusted(t)
    raw_pooled = (c.n - 1) * rc + (t.n - 1) * rt
    reduction = ((c.n - 1) * dc + (t.n - 1) * dt) / raw_pooled if raw_pooled > 0.0 else 0.0
    lift = _welch(mc, vc, c.n, mt, vt, t.n, alpha, "CUPED Welch")
    return CupedResult(lift=lift, theta=float(theta), variance_reduction=float(reduction))
