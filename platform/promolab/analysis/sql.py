"""Metric definitions → portable SQL that computes per-variant sufficient statistics.

Two steps, both plain SQL (CASE, COALESCE, LEAST, SUM, COUNT, GROUP BY): an optional
per-user aggregation of exposures and events, then per-variant sums. The output has one
row per variant with columns ``n`` and, per metric ``m``: ``m__sum``, ``m__sum_sq`` and,
for ratio or CUPED metrics, ``m__sum_x``, ``m__sum_x2``, ``m__sum_xy``; a metric with a
conversion window also has ``m__n``, the users whose window has closed (the others are
left out of its sums; see ``promolab.analysis.windows``).
"""

from __future__ import annotations

from promolab.analysis.metrics import ColumnMetric, Margin
from promolab.errors import InputError
from promolab.spec import Experiment, Metric

AS_OF = "as_of"  # the clock's column: the analysis time conversion windows are closed against


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (standard SQL; sqlglot maps it to each dialect)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _value(column: str, cap: float | None) -> str:
    expr = f"COALESCE(CAST({quote(column)} AS DOUBLE), 0)"
    return f"LEAST({expr}, {float(cap)!r})" if cap is not None else expr


def sufficient_stats_sql(source: str, variant_column: str, metrics: list[ColumnMetric],
                         stratum: str | None = None) -> str:
    """Per-variant n, Σy, Σy² (and Σx, Σx², Σxy) over a per-user relation ``source``;
    with ``stratum``, per (stratum, variant)."""
    parts = [f"CAST({quote(variant_column)} AS VARCHAR) AS {quote('variant')}", f"COUNT(*) AS {quote('n')}"]
    if stratum is not None:
        parts.insert(0, f"{quote(stratum)} AS {quote('stratum')}")
    for m in metrics:
        if m.kind == "ratio":
            y, x = _value(m.numerator, m.cap), _value(m.denominator, None)
        else:
            y = _value(m.column, m.cap)
            x = _value(m.covariate, None) if m.covariate else None
        p = m.name
        if m.windowed:
            counted = " AND ".join(f"{quote(c)} IS NOT NULL" for c in m.columns)
            y = f"CASE WHEN {counted} THEN {y} ELSE 0 END"
            x = None if x is None else f"CASE WHEN {counted} THEN {x} ELSE 0 END"
            parts.append(f"SUM(CASE WHEN {counted} THEN 1 ELSE 0 END) AS {quote(p + '__n')}")
        parts += [f"SUM({y}) AS {quote(p + '__sum')}", f"SUM({y} * {y}) AS {quote(p + '__sum_sq')}"]
        if x is not None:
            parts += [
                f"SUM({x}) AS {quote(p + '__sum_x')}",
                f"SUM({x} * {x}) AS {quote(p + '__sum_x2')}",
                f"SUM({y} * {x}) AS {quote(p + '__sum_xy')}",
            ]
    select = ",\n  ".join(parts)
    group = f"CAST({quote(variant_column)} AS VARCHAR)"
    order = quote("variant")
    if stratum is not None:
        group, order = f"{quote(stratum)}, {group}", f"{quote('stratum')}, {order}"
    return (f"SELECT\n  {select}\nFROM {source}\nWHERE {quote(variant_column)} IS NOT NULL\n"
            f"GROUP BY {group}\nORDER BY {order}")


def hours_after(ts: str, hours: int) -> str:
    """``ts`` plus whole hours, as a plain timestamp range bound every engine evaluates alike."""
    return f"{ts} + INTERVAL '{int(hours)}' HOUR"


def _in_window(m: Metric) -> str:
    """The event-time condition of the metric's conversion window ('' without one)."""
    if m.window_end_hours is None:
        return ""
    start = f" AND e.ts >= {hours_after('x.first_exposed_at', m.delay_hours)}" if m.delay_hours else ""
    return f"{start} AND e.ts < {hours_after('x.first_exposed_at', m.window_end_hours)}"


def _event_column(m: Metric) -> str:
    """The per-user value of a base metric; NULL while the user's conversion window is open."""
    match = f"e.event = {literal(m.event or '')}{_in_window(m)}"
    if m.kind == "binomial":
        value = f"MAX(CASE WHEN {match} THEN 1 ELSE 0 END)"
    elif m.aggregate == "count":
        value = f"SUM(CASE WHEN {match} THEN 1 ELSE 0 END)"
    else:
        value = f"COALESCE(SUM(CASE WHEN {match} THEN e.value END), 0)"
    if m.window_end_hours is None:
        return value
    return f"CASE WHEN {hours_after('x.first_exposed_at', m.window_end_hours)} <= c.{quote(AS_OF)} THEN {value} END"


def clock_cte(experiment_key: str) -> str:
    """``clock``: the analysis time ``as_of`` of an experiment, the latest first exposure or
    event of its exposed users (see ``promolab.analysis.windows``)."""
    k = literal(experiment_key)
    return (f"clock AS (\n  SELECT MAX({quote('t')}) AS {quote(AS_OF)} FROM (\n"
            f"    SELECT first_exposed_at AS {quote('t')} FROM exposures WHERE experiment_key = {k}\n"
            f"    UNION ALL\n    SELECT ts AS {quote('t')} FROM events WHERE user_id IN "
            f"(SELECT user_id FROM exposures WHERE experiment_key = {k})\n  ) seen\n)")


def _window(window_days: int | None) -> str:
    """The optional end of the attribution window, as a plain timestamp range."""
    if window_days is None:
        return ""
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days <= 0:
        raise InputError("window_days", window_days, "a positive whole number of days")
    return f" AND e.ts < x.first_exposed_at + INTERVAL '{window_days}' DAY"


def per_user_ctes(experiment: Experiment, window_days: int | None = None, exclude_conflicts: bool = False) -> str:
    """``WITH`` clauses ending in ``per_user_table``: one row per exposed user with its
    variant, one column per base metric, and the CUPED covariates.

    Events count from the user's first exposure on (``e.ts >= x.first_exposed_at``) and,
    with ``window_days``, until that many days after it (``e.ts < first_exposed_at +
    INTERVAL 'N' DAY``): a plain timestamp range that every engine evaluates the same way
    (no date_diff, whose semantics differ between engines). A metric's own conversion
    window narrows that range (``window_hours``, ``delay_hours``) and leaves its column
    NULL for users whose window ends after the ``clock``'s ``as_of``. Every alias that a
    later step refers to is quoted, so case-folding engines (Snowflake, Postgres) resolve it.

    ``exclude_conflicts`` leaves out users recorded in ``exposure_conflicts`` (exposed to
    more than one variant of the experiment).
    """
    conflicts = (f"\n  AND user_id NOT IN (SELECT user_id FROM exposure_conflicts WHERE experiment_key = "
                 f"{literal(experiment.key)})" if exclude_conflicts else "")
    base = [m for m in experiment.metrics + experiment.guardrails if m.kind != "ratio"]
    covariates = sorted({m.covariate for m in base if m.covariate})
    cols = [f"{_event_column(m)} AS {quote(m.key)}" for m in base]
    user_metrics = ",\n    ".join(["x.user_id", f"x.variant_key AS {quote('variant')}",
                                     f"x.first_exposed_at AS {quote('exposed_at')}"] + cols)
    windowed = any(m.window_hours is not None for m in base)
    clock, cross, group = ((clock_cte(experiment.key) + ",\n", " CROSS JOIN clock c", f", c.{quote(AS_OF)}")
                           if windowed else ("", "", ""))
    sql = (
        f"WITH exposed AS (\n  SELECT user_id, variant_key, first_exposed_at FROM exposures\n"
        f"  WHERE experiment_key = {literal(experiment.key)}{conflicts}\n),\n{clock}"
        f"per_user AS (\n  SELECT\n    {user_metrics}\n  FROM exposed x{cross}\n"
        f"  LEFT JOIN events e ON e.user_id = x.user_id AND e.ts >= x.first_exposed_at{_window(window_days)}\n"
        f"  GROUP BY x.user_id, x.variant_key, x.first_exposed_at{group}\n)"
    )
    if not covariates:
        return sql + ",\nper_user_table AS (SELECT * FROM per_user)\n"
    cov_cols = [
        f"MAX(CASE WHEN a.attribute = {literal(c)} THEN a.value_num END) AS {quote(c)}" for c in covariates
    ]
    cov_select = ",\n    ".join(["user_id"] + cov_cols)
    return (
        sql + f",\ncovariates AS (\n  SELECT\n    {cov_select}\n  FROM user_attributes a\n"
        f"  WHERE a.attribute IN ({', '.join(literal(c) for c in covariates)})\n  GROUP BY user_id\n),\n"
        "per_user_table AS (\n  SELECT p.*, " + ", ".join(f"c.{quote(c)}" for c in covariates)
        + "\n  FROM per_user p LEFT JOIN covariates c ON c.user_id = p.user_id\n)\n"
    )


def experiment_metrics(experiment: Experiment, cuped: bool = True) -> list[ColumnMetric]:
    """Spec metrics and guardrails as columns of the per-user relation built by ``per_user_ctes``."""
    out = []
    guardrails = {m.key for m in experiment.guardrails}
    for m in experiment.metrics + experiment.guardrails:
        role = {"label": m.label, "direction": m.direction, "guardrail": m.key in guardrails,
                "margin": None if m.margin is None else Margin(m.margin, m.margin_type)}
        if m.kind == "ratio":
            num, den = experiment.metric(m.numerator), experiment.metric(m.denominator)
            out.append(ColumnMetric(m.key, "ratio", numerator=num.key, denominator=den.key, cap=num.cap,
                                    windowed=num.window_hours is not None or den.window_hours is not None, **role))
        else:
            out.append(ColumnMetric(m.key, m.kind, column=m.key, cap=m.cap,
                                    covariate=m.covariate if cuped else None, windowed=m.window_hours is not None,
                                    window_hours=m.window_hours, delay_hours=m.delay_hours, **role))
    return out


def experiment_stats_sql(experiment: Experiment, cuped: bool = True, window_days: int | None = None) -> str:
    """The whole report query for a registry experiment: per-user, then per-variant."""
    return per_user_ctes(experiment, window_days) + sufficient_stats_sql("per_user_table", "variant",
                                                                         experiment_metrics(experiment, cuped))


def period_stats_sql(ctes: str, experiment: Experiment, metrics: list[ColumnMetric]) -> str:
    """Sufficient statistics per (weight period, variant) of a bandit experiment over the
    ``analysis_users`` relation that ``ctes`` ends in.

    Period p of a user = the number of stored weight changes at or before their first
    exposure (0 = the configured split before the first update).
    """
    key = literal(experiment.key)
    periods = (
        f"weight_changes AS (\n  SELECT DISTINCT updated_at FROM bandit_weights WHERE experiment_key = {key}\n),\n"
        "per_user_period AS (\n  SELECT p.*, (SELECT COUNT(*) FROM weight_changes w "
        f"WHERE w.updated_at <= p.{quote('exposed_at')}) AS {quote('period')}\n  FROM analysis_users p\n)\n"
    )
    return ctes.rstrip().rstrip(",") + ",\n" + periods + sufficient_stats_sql("per_user_period", "variant", metrics,
                                                                            stratum="period")
