"""Frequentist tests of a treatment against a control, from sufficient statistics.

Every test returns a :class:`LiftResult` with the absolute lift (treatment − control)
and the relative lift (treatment / control − 1), each with a two-sided (1 − α) CI.
Both CIs are built from the same critical value ``crit`` (z or t quantile at 1 − α/2)
and the same variances of the two means that the test uses, and the statistic is
always (m_t − m_c) / sqrt(Var(m_t) + Var(m_c)); so each CI excludes 0 exactly when
p < α.

The relative CI is Fieller's interval (Fieller 1954; Franz 2007, "Ratios: A short guide
to confidence limits and proper use") for ρ = m_t / m_c with independent arms:

    {ρ : (m_t − ρ m_c)² ≤ crit² (Var(m_t) + ρ² Var(m_c))},   relative CI = ρ-interval − 1.

At ρ = 1 the inequality is the unpooled test of m_t − m_c with the same ``crit``. When the
control mean is not distinguishable from 0 (m_c² ≤ crit² Var(m_c)) the set is unbounded:
a ray (the piece containing the point estimate) if the test rejects, else (−∞, +∞).
``se_relative`` stays the first-order delta-method standard error

    Var(m_t / m_c) ≈ Var(m_t) / m_c² + m_t² · Var(m_c) / m_c⁴

(used by confidence sequences and non-inferiority on the relative scale); it is not
the basis of ``ci_low``/``ci_high``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

from scipy import special as _sp

from promolab.errors import InputError
from promolab.stats.sufficient import JointStats, MeanStats
from promolab.stats.validation import _check_alpha, _check_finite  # noqa: F401 (used by other stats modules)

__all__ = [
    "two_sided_z",
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
    ci_low: float  # CI of the relative lift (Fieller; may be -inf)
    ci_high: float  # may be +inf
    p_value: float  # two-sided
    statistic: float  # z or t
    se_absolute: float
    se_relative: float  # delta method (not the basis of ci_low/ci_high)
    method: str


@dataclass(frozen=True)
class CupedResult:
    """CUPED-adjusted lift, the adjustment coefficient θ and the pooled variance reduction."""

    lift: LiftResult
    theta: float
    variance_reduction: float  # 1 - Var_adj / Var_raw, within-arm pooled variances


# --------------------------------------------------------------------------- validation
# (private helpers shared by the other stats modules)


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


def _fieller_relative(
    mc: float, mt: float, var_mc: float, var_mt: float, crit: float, statistic: float
) -> tuple[float, float]:
    """Fieller's (1 − α) interval for the relative lift λ = m_t / m_c − 1 (m_c ≠ 0).

    With ρ = 1 + λ and k = crit², the set {ρ : (m_t − ρ m_c)² ≤ k (v_t + ρ² v_c)} is, in λ,
    A λ² + 2β λ + C ≤ 0 with

        A = m_c² − k v_c,   β = −(d m_c + k v_c),   C = d² − k (v_c + v_t),   d = m_t − m_c,

    (the ρ-quadratic a ρ² + b ρ + c, a = A, b = −2 m_t m_c, c = m_t² − k v_t, shifted by 1).
    C ≤ 0 is the test's acceptance region at ρ = 1, so C is computed from the test's own
    statistic, C = (v_c + v_t)(|z| − crit)(|z| + crit): its sign is exactly that of
    |z| − crit, and 0 lies outside the interval exactly when |z| > crit. The discriminant
    β² − A C = k (m_t² v_c + A v_t) is non-negative whenever A > 0. Roots are taken in the
    cancellation-free form q = −(β + sign(β) √(β² − AC)), λ = q / A and λ = C / q.

    * A > 0: the bounded interval between the two roots (it contains m_t/m_c − 1);
    * A ≤ 0 (m_c not distinguishable from 0): the set is unbounded. If the test rejects
      (C > 0) the piece containing the point estimate is a ray that excludes 0; otherwise
      (−∞, +∞) is returned.
    """
    se2 = var_mc + var_mt
    if se2 == 0.0 or crit == 0.0 or not math.isfinite(statistic):
        point = mt / mc - 1.0  # no sampling variability: the CI is the point
        return point, point
    # ρ is scale-free: rescale means by s and variances by s² so no square under/overflows
    # (s a power of two: the rescaling is exact)
    s = math.ldexp(1.0, math.frexp(max(abs(mc), abs(mt), math.sqrt(se2)))[1])
    mc, mt, var_mc, var_mt = mc / s, mt / s, var_mc / s / s, var_mt / s / s
    diff, se2 = mt - mc, var_mc + var_mt
    k = crit * crit
    a = mc * mc - k * var_mc
    beta = -(diff * mc + k * var_mc)
    z = abs(statistic)
    c = se2 * (z - crit) * (z + crit)
    if a > 0.0:
        disc = k * (mt * mt * var_mc + a * var_mt)
    elif c > 0.0:
        disc = beta * beta - a * c  # both terms >= 0: no cancellation
    else:
        return -math.inf, math.inf
    q = -(beta + math.copysign(math.sqrt(max(disc, 0.0)), beta))
    if q == 0.0:  # beta = disc = 0: not reachable with c != 0; guard only
        point = mt / mc - 1.0
        return point, point
    r_c = c / q  # sign(r_c) = sign(c) · sign(q)
    if a > 0.0:
        r_a = q / a
        return min(r_a, r_c), max(r_a, r_c)
    # a ≤ 0 < c: unbounded, and 0 is excluded. a = 0: the inequality is linear, one ray
    # beyond r_c. a < 0: roots r_c and q/a have opposite signs; the estimate d/m_c lies
    # beyond the root on its own side, and that ray is reported.
    if a == 0.0:
        return (r_c, math.inf) if q > 0.0 else (-math.inf, r_c)
    r_a = q / a
    pos, neg = (r_c, r_a) if q > 0.0 else (r_a, r_c)
    if (diff > 0.0) == (mc > 0.0):
        return pos, math.inf
    return -math.inf, neg


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

    ``crit`` is the critical value used for both CIs (z or t quantile at 1 − α/2), and
    ``statistic`` must be the test's (m_t − m_c) / sqrt(var_mc + var_mt) with p-value
    p < α exactly when |statistic| > crit: then the absolute CI (d ± crit·se) and the
    relative CI (Fieller, :func:`_fieller_relative`) both exclude 0 exactly when p < α.
    ``se_relative`` is the delta-method standard error
    sqrt(var_mt / m_c² + m_t² var_mc / m_c⁴). With a zero control mean (no conversions
    yet) the relative lift, its CI and ``se_relative`` are NaN: undefined, while the
    absolute lift and the test stay valid.
    """
    diff = mt - mc
    se_abs = math.sqrt(var_mc + var_mt)
    if mc == 0.0:
        rel = se_rel = lo = hi = math.nan
    else:
        rel = mt / mc - 1.0
        ratio = mt / mc
        se_rel = math.sqrt(var_mt + ratio * ratio * var_mc) / abs(mc)  # no mc⁴ underflow
        lo, hi = _fieller_relative(mc, mt, var_mc, var_mt, crit, statistic)
    return LiftResult(
        control_mean=float(mc),
        treatment_mean=float(mt),
        absolute=float(diff),
        abs_ci_low=float(diff - crit * se_abs),
        abs_ci_high=float(diff + crit * se_abs),
        relative=float(rel),
        ci_low=float(lo),
        ci_high=float(hi),
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
    return z, float(2.0 * _sp.ndtr(-abs(z)))  # = 2·norm.sf(|z|)


def two_sided_z(alpha: float) -> float:
    """z₁₋α/₂ = Φ⁻¹(1 − α/2), the two-sided normal critical value (``scipy.stats.norm.ppf``)."""
    return float(_sp.ndtri(1.0 - alpha / 2.0))


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
        wa, wb = a / (a + b), b / (a + b)  # shares: (a + b)² / (a² + …) without under/overflow
        df = 1.0 / (wa * wa / (nc - 1) + wb * wb / (nt - 1))
        t = diff / se
        p = float(2.0 * _sp.stdtr(df, -abs(t)))  # = 2·t.sf(|t|, df)
        crit = float(_sp.stdtrit(df, 1.0 - alpha / 2.0))  # = t.ppf
    return _lift(mc, mt, a, b, crit, t, p, method)


# --------------------------------------------------------------------------- public tests


def proportion_test(control: MeanStats, treatment: MeanStats, alpha: float = 0.05) -> LiftResult:
    """Two-proportion Wald z-test (unpooled) on 0/1 metrics (``sum`` = number of successes).

    z = (p_t − p_c) / sqrt(p_c(1 − p_c)/n_c + p_t(1 − p_t)/n_t), two-sided p = 2 Φ(−|z|).
    Statistic and p-value equal
    ``statsmodels.stats.proportion.test_proportions_2indep(s_t, n_t, s_c, n_c,
    method="wald", compare="diff", correction=False)`` (statsmodels compares group 1 −
    group 2, so treatment is passed first). The absolute CI p_t − p_c ± z_{1−α/2} · se with
    the same unpooled se is ``confint_proportions_2indep(s_t, n_t, s_c, n_c,
    method="wald", compare="diff")``. The relative CI is Fieller's interval for p_t / p_c
    with the same binomial variances and z_{1−α/2} (see :func:`_lift`), so both CIs
    exclude 0 exactly when p < α.

    If both rates are in {0, 1} the unpooled se is 0: equal rates give statistic 0 and
    p-value 1, different rates ±inf and 0, and both CIs collapse to the point estimate.
    """
    alpha = _check_alpha(alpha)
    control = _check_binomial(control, "control")
    treatment = _check_binomial(treatment, "treatment")
    nc, nt = control.n, treatment.n
    pc, pt = control.sum / nc, treatment.sum / nt
    var_c, var_t = pc * (1.0 - pc) / nc, pt * (1.0 - pt) / nt
    z, p = _z_p(pt - pc, math.sqrt(var_c + var_t))
    crit = two_sided_z(alpha)
    return _lift(pc, pt, var_c, var_t, crit, z, p, "two-proportion z-test")


def welch_test(control: MeanStats, treatment: MeanStats, alpha: float = 0.05) -> LiftResult:
    """Welch's unequal-variance t-test (``scipy.stats.ttest_ind(equal_var=False)``).

    t = (m_t − m_c) / sqrt(s_t²/n_t + s_c²/n_c) with Welch–Satterthwaite df
    ν = (s_t²/n_t + s_c²/n_c)² / ((s_t²/n_t)²/(n_t−1) + (s_c²/n_c)²/(n_c−1)).
    Both CIs use the t quantile t_{ν, 1−α/2} (as GrowthBook does) with the variances
    s_c²/n_c, s_t²/n_t: the relative CI is Fieller's interval (see :func:`_lift`), so
    both CIs exclude 0 exactly when p < α. ``se_relative`` is the delta-method
    sqrt(s_t²/(n_t m_c²) + m_t² s_c²/(n_c m_c⁴)). If both sample variances are 0 the
    test is degenerate (t = 0, p = 1 or t = ±inf, p = 0) and both CIs are the point.
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
    with Fieller's interval on the same variances. Both CIs use z_{1−α/2}.
    """
    alpha = _check_alpha(alpha)
    c = _check_joint_stats(control, "control")
    t = _check_joint_stats(treatment, "treatment")
    rc, vc = _ratio_moments(c, "control")
    rt, vt = _ratio_moments(t, "treatment")
    z, p = _z_p(rt - rc, math.sqrt(vc + vt))
    crit = two_sided_z(alpha)
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
