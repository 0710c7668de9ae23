"""Abuse and bot filtering: transparent per-experiment rules, flags computed in SQL.

Rules (``[filtering]`` in the spec, ``FilterRules``), each on when its threshold is set:

* ``events_per_day``: more than ``max_events_per_day`` events (of ``rate_events``, default
  all) on any calendar day;
* ``order_burst``: ``burst_orders`` orders within ``burst_seconds`` (the k-th order after
  another is at most that many seconds later: ``LAG(ts, k − 1)``);
* ``refunds_after_coupon``: at least that many refunds at or after the user's first coupon use;
* ``shared_<attribute>``: the user's device / payment fingerprint attribute is shared by
  more than ``max_accounts`` accounts (skipped, with a note, when nobody has it);
* ``activity_outlier``: the robust z-score of a = ln(1 + events) above ``outlier_z``:
  z = (a − median) / scale, scale = max(1.4826·MAD, 1.2533·mean |a − median|, 0.5), median
  and MAD over the exposed users with any event. 1.4826·MAD is Iglewicz & Hoaglin's modified
  z; the mean-deviation term covers MAD = 0, and the floor of 0.5 on the log scale (a factor
  of 1.65 in activity) keeps discrete counts — most buyers order once — from making every
  repeat buyer an outlier.

Rules look at all of a user's events, before exposure too: behaviour after exposure alone
could be caused by the treatment. Still, a rule can depend on the treatment (only coupon
variants can use a coupon), and excluding users unevenly biases the comparison, so the
report tests whether the share excluded differs between variants (Pearson chi-square on
the variants × {excluded, kept} table) and raises an alert below ``IMBALANCE_THRESHOLD``.

All SQL is portable (CTEs, CASE, LAG, PERCENTILE_CONT … WITHIN GROUP, INTERVAL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from promolab.analysis.sql import literal, per_user_ctes, quote
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.model import FilterRules
from promolab.stats.contingency import chi2_independence

IMBALANCE_THRESHOLD = 0.01
MAX_ACCOUNTS = 1_000_000  # accounts allowed per shared device / payment value
EXCLUDED = "__excluded"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    cte: str  # name of a CTE listing flagged user_ids ("" for column rules)
    flag: str = ""  # SQL expression 0/1 for column rules


# --------------------------------------------------------------------------- registry SQL


MIN_SCALE = 0.5


def _scale(alias: str) -> str:
    """The robust scale of ln(1 + activity): max(1.4826·MAD, 1.2533·mean |dev|, MIN_SCALE)."""
    return (f"GREATEST(1.4826 * COALESCE({alias}.mad, 0), 1.2533 * COALESCE({alias}.meanad, 0), "
            f"{MIN_SCALE!r})")


def _value_text(alias: str) -> str:
    return f"COALESCE({alias}.value_text, CAST({alias}.value_num AS VARCHAR))"


def _rules(experiment: Experiment, rules: FilterRules) -> tuple[list[str], list[Rule]]:
    """CTE definitions and the rules they implement, for a registry experiment."""
    ctes = [
        f"flt_exposed AS (\n  SELECT user_id, variant_key FROM exposures WHERE experiment_key = {literal(experiment.key)}\n)",
        "flt_events AS (\n  SELECT e.user_id, e.event, e.ts FROM events e JOIN flt_exposed x ON x.user_id = e.user_id\n)",
    ]
    out: list[Rule] = []
    if rules.max_events_per_day is not None:
        which = (f" WHERE event IN ({', '.join(literal(e) for e in rules.rate_events)})" if rules.rate_events else "")
        ctes.append(
            "flt_rate AS (\n  SELECT user_id FROM (\n    SELECT user_id, CAST(ts AS DATE) AS day, COUNT(*) AS c "
            f"FROM flt_events{which}\n    GROUP BY user_id, CAST(ts AS DATE)\n  ) d GROUP BY user_id "
            f"HAVING MAX(c) > {int(rules.max_events_per_day)}\n)")
        what = ", ".join(rules.rate_events) or "events"
        out.append(Rule("events_per_day", f"more than {rules.max_events_per_day} {what} on one day", "flt_rate"))
    if rules.burst_orders is not None:
        k, secs = int(rules.burst_orders), int(rules.burst_seconds)
        ctes.append(
            "flt_burst AS (\n  SELECT DISTINCT user_id FROM (\n    SELECT user_id, ts, "
            f"LAG(ts, {k - 1}) OVER (PARTITION BY user_id ORDER BY ts) AS prev\n    FROM flt_events WHERE event = "
            f"{literal(rules.order_event)}\n  ) o WHERE prev IS NOT NULL AND ts <= prev + INTERVAL '{secs}' SECOND\n)")
        out.append(Rule("order_burst", f"{k} {rules.order_event}s within {secs} s", "flt_burst"))
    if rules.refunds_after_coupon is not None:
        ctes.append(
            "flt_coupon_refunds AS (\n  SELECT r.user_id FROM flt_events r JOIN (\n    SELECT user_id, MIN(ts) AS "
            f"first_coupon FROM flt_events WHERE event = {literal(rules.coupon_event)} GROUP BY user_id\n  ) c "
            f"ON c.user_id = r.user_id AND r.ts >= c.first_coupon\n  WHERE r.event = {literal(rules.refund_event)} "
            f"GROUP BY r.user_id HAVING COUNT(*) >= {int(rules.refunds_after_coupon)}\n)")
        out.append(Rule("refunds_after_coupon",
                        f"{rules.refunds_after_coupon}+ {rules.refund_event}s after using a {rules.coupon_event}",
                        "flt_coupon_refunds"))
    for i, attribute in enumerate(rules.shared_attributes):
        name = f"flt_shared_{i}"
        ctes.append(
            f"{name} AS (\n  SELECT a.user_id FROM user_attributes a JOIN (\n    SELECT {_value_text('b')} AS v "
            f"FROM user_attributes b WHERE b.attribute = {literal(attribute)}\n    GROUP BY {_value_text('b')} "
            f"HAVING COUNT(DISTINCT b.user_id) > {int(rules.max_accounts)}\n  ) s ON {_value_text('a')} = s.v\n"
            f"  WHERE a.attribute = {literal(attribute)}\n)")
        out.append(Rule(f"shared_{attribute}", f"{attribute} shared by more than {rules.max_accounts} accounts", name))
    if rules.outlier_z is not None:
        ctes += [
            "flt_activity AS (\n  SELECT x.user_id, LN(1 + COUNT(e.user_id)) AS a FROM flt_exposed x\n"
            "  LEFT JOIN flt_events e ON e.user_id = x.user_id GROUP BY x.user_id\n)",
            "flt_center AS (\n  SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY a) AS med FROM flt_activity WHERE a > 0\n)",
            "flt_spread AS (\n  SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY ABS(f.a - c.med)) AS mad,\n"
            "    AVG(ABS(f.a - c.med)) AS meanad\n  FROM flt_activity f CROSS JOIN flt_center c WHERE f.a > 0\n)",
            "flt_outlier AS (\n  SELECT f.user_id FROM flt_activity f CROSS JOIN flt_center c CROSS JOIN flt_spread s\n"
            f"  WHERE (f.a - c.med) / {_scale('s')} > {float(rules.outlier_z)!r}\n)",
        ]
        out.append(Rule("activity_outlier", f"robust z of ln(1 + events) above {rules.outlier_z:g}", "flt_outlier"))
    flags = [f"CASE WHEN r{i}.user_id IS NULL THEN 0 ELSE 1 END AS {quote(r.name)}" for i, r in enumerate(out)]
    joins = "".join(f"\n  LEFT JOIN (SELECT DISTINCT user_id FROM {r.cte}) r{i} ON r{i}.user_id = x.user_id"
                    for i, r in enumerate(out))
    anyone = " OR ".join(f"r{i}.user_id IS NOT NULL" for i in range(len(out))) or "1 = 0"
    select = ",\n    ".join(["x.user_id", f"x.variant_key AS {quote('variant')}"] + flags
                            + [f"CASE WHEN {anyone} THEN 1 ELSE 0 END AS {quote(EXCLUDED)}"])
    ctes.append(f"flt_flags AS (\n  SELECT\n    {select}\n  FROM flt_exposed x{joins}\n)")
    return ctes, out


def analysis_ctes(experiment: Experiment, rules: FilterRules | None, window_days: int | None = None,
                  exclude_conflicts: bool = False) -> tuple[str, list[Rule]]:
    """``WITH`` clauses ending in ``analysis_users``: the per-user table minus flagged users
    (and minus users exposed to several variants, with ``exclude_conflicts``)."""
    base = per_user_ctes(experiment, window_days, exclude_conflicts).rstrip()
    if rules is None:
        return base + ",\nanalysis_users AS (SELECT * FROM per_user_table)\n", []
    ctes, found = _rules(experiment, rules)
    return (base + ",\n" + ",\n".join(ctes) + ",\nanalysis_users AS (\n  SELECT p.* FROM per_user_table p "
            f"JOIN flt_flags f ON f.user_id = p.user_id WHERE f.{quote(EXCLUDED)} = 0\n)\n"), found


def counts_sql(ctes: str, rules: Sequence[Rule]) -> str:
    """Per variant: exposed users, users flagged by each rule, users excluded (any rule)."""
    sums = "".join(f", SUM({quote(r.name)}) AS {quote(r.name)}" for r in rules)
    return (f"{ctes}SELECT CAST({quote('variant')} AS VARCHAR) AS {quote('variant')}, COUNT(*) AS n{sums}, "
            f"SUM({quote(EXCLUDED)}) AS {quote(EXCLUDED)} FROM flt_flags GROUP BY CAST({quote('variant')} AS VARCHAR) "
            f"ORDER BY 1")


def registry_presence_sql(rules: FilterRules) -> str | None:
    if not rules.shared_attributes:
        return None
    names = ", ".join(literal(a) for a in rules.shared_attributes)
    return (f"SELECT attribute, COUNT(*) AS n FROM user_attributes WHERE attribute IN ({names}) "
            "GROUP BY attribute")


# --------------------------------------------------------------------------- per-user tables


@dataclass(frozen=True)
class TableFilters:
    """Rules on columns of a per-user table (``analyze-table``).

    flags: 0/1 columns, 1 = exclude (e.g. a fraud system's verdict); outliers: robust z of
    ln(1 + column) above ``outlier_z`` (as ``activity_outlier``); shared: columns whose value
    (device, payment fingerprint) more than ``max_accounts`` rows share.
    """

    flags: tuple[str, ...] = ()
    outliers: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()
    outlier_z: float = 5.0
    max_accounts: int = 3

    def __post_init__(self) -> None:
        z = self.outlier_z
        if isinstance(z, bool) or not isinstance(z, (int, float)) or not (math.isfinite(z) and z > 0):
            raise InputError("filters.outlier_z", z, "a finite number > 0")
        n = self.max_accounts
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ACCOUNTS:
            raise InputError("filters.max_accounts", n, f"an integer in [1, {MAX_ACCOUNTS}]")

    @property
    def active(self) -> bool:
        return bool(self.flags or self.outliers or self.shared)

    def columns(self) -> tuple[str, ...]:
        return self.flags + self.outliers + self.shared


def table_ctes(relation: str, filters: TableFilters | None, base: Sequence[str] = ()) -> tuple[str, list[Rule]]:
    """``WITH`` clauses over a per-user relation, ending in ``analysis_users`` (and ``flt_flags``).

    ``base``: CTE definitions placed first (``relation`` may name one of them)."""
    if filters is None or not filters.active:
        return "WITH " + ",\n".join([*base, f"analysis_users AS (SELECT * FROM {quote(relation)})"]) + "\n", []
    ctes, rules, joins = list(base), [], []
    for col in filters.flags:
        rules.append(Rule(f"flag_{col}", f"{col} = 1", "", f"CASE WHEN CAST(r.{quote(col)} AS DOUBLE) = 1 THEN 1 ELSE 0 END"))
    for i, col in enumerate(filters.outliers):
        a = f"LN(1 + GREATEST(CAST({quote(col)} AS DOUBLE), 0))"
        ctes += [
            f"flt_c{i} AS (SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {a}) AS med FROM {quote(relation)} "
            f"WHERE {quote(col)} > 0)",
            f"flt_s{i} AS (SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY ABS({a} - c.med)) AS mad, "
            f"AVG(ABS({a} - c.med)) AS meanad FROM {quote(relation)} CROSS JOIN flt_c{i} c WHERE {quote(col)} > 0)",
        ]
        joins.append(f"CROSS JOIN flt_c{i} c{i} CROSS JOIN flt_s{i} s{i}")
        ar = f"LN(1 + GREATEST(CAST(r.{quote(col)} AS DOUBLE), 0))"
        z = f"({ar} - c{i}.med) / {_scale(f's{i}')}"
        rules.append(Rule(f"outlier_{col}", f"robust z of ln(1 + {col}) above {filters.outlier_z:g}", "",
                          f"CASE WHEN {z} > {float(filters.outlier_z)!r} THEN 1 ELSE 0 END"))
    for i, col in enumerate(filters.shared):
        ctes.append(f"flt_h{i} AS (SELECT {quote(col)} AS v FROM {quote(relation)} WHERE {quote(col)} IS NOT NULL "
                    f"GROUP BY {quote(col)} HAVING COUNT(*) > {int(filters.max_accounts)})")
        joins.append(f"LEFT JOIN flt_h{i} h{i} ON h{i}.v = r.{quote(col)}")
        rules.append(Rule(f"shared_{col}", f"{col} shared by more than {filters.max_accounts} rows", "",
                          f"CASE WHEN h{i}.v IS NULL THEN 0 ELSE 1 END"))
    flags = [f"{r.flag} AS {quote(r.name)}" for r in rules]
    anyone = " OR ".join(f"({r.flag}) = 1" for r in rules)
    ctes.append(f"flt_flags AS (\n  SELECT r.*, {', '.join(flags)},\n    CASE WHEN {anyone} THEN 1 ELSE 0 END AS "
                f"{quote(EXCLUDED)}\n  FROM {quote(relation)} r {' '.join(joins)}\n)")
    ctes.append(f"analysis_users AS (SELECT * FROM flt_flags WHERE {quote(EXCLUDED)} = 0)")
    return "WITH " + ",\n".join(ctes) + "\n", rules


def table_counts_sql(ctes: str, variant: str, rules: Sequence[Rule]) -> str:
    sums = "".join(f", SUM({quote(r.name)}) AS {quote(r.name)}" for r in rules)
    return (f"{ctes}SELECT CAST({quote(variant)} AS VARCHAR) AS {quote('variant')}, COUNT(*) AS n{sums}, "
            f"SUM({quote(EXCLUDED)}) AS {quote(EXCLUDED)} FROM flt_flags WHERE {quote(variant)} IS NOT NULL "
            f"GROUP BY CAST({quote(variant)} AS VARCHAR) ORDER BY 1")


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class RuleCount:
    rule: str
    description: str
    flagged: dict[str, int]
    p_value: float  # chi-square test of equal flagged shares across variants


@dataclass(frozen=True)
class FilteringSummary:
    """How many users each rule flagged per variant, and whether exclusions are balanced."""

    exposed: dict[str, int]
    excluded: dict[str, int]
    rules: tuple[RuleCount, ...]
    statistic: float
    p_value: float
    threshold: float = IMBALANCE_THRESHOLD
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def alert(self) -> bool:
        return self.p_value < self.threshold

    @property
    def kept(self) -> dict[str, int]:
        return {v: self.exposed[v] - self.excluded[v] for v in self.exposed}

    def alert_text(self) -> str:
        shares = ", ".join(f"{v} {self.excluded[v] / max(self.exposed[v], 1):.2%}" for v in self.exposed)
        return (f"Exclusions are imbalanced between variants (chi-square p = {self.p_value:.2g} < "
                f"{self.threshold:g}): {shares}. The filter removes different users from each arm, so the "
                "filtered comparison may be biased; check which rule depends on the treatment.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "exposed": self.exposed, "excluded": self.excluded, "kept": self.kept,
            "rules": [{"rule": r.rule, "description": r.description, "excluded": r.flagged, "p_value": r.p_value}
                      for r in self.rules],
            "imbalance": {"test": "Pearson chi-square, variants x {excluded, kept}", "statistic": self.statistic,
                          "p_value": self.p_value, "threshold": self.threshold, "alert": self.alert},
            "alert": self.alert_text() if self.alert else None,
            "notes": list(self.notes),
        }


def imbalance_test(flagged: Mapping[str, int], exposed: Mapping[str, int]) -> tuple[float, float]:
    """(X², p) of Pearson's chi-square test of independence on variants × {flagged, not flagged}
    (``promolab.stats.contingency``); (0, 1) when no user or every user is flagged."""
    stat, _, p = chi2_independence(np.array([[flagged[v], exposed[v] - flagged[v]] for v in exposed]))
    return stat, p


def summarise(frame: pd.DataFrame, rules: Sequence[Rule], notes: Sequence[str] = ()) -> FilteringSummary:
    """The counts query's rows → a FilteringSummary with the imbalance tests."""
    rows = {str(r["variant"]): r for r in frame.to_dict("records")}
    exposed = {v: int(r["n"]) for v, r in rows.items()}
    excluded = {v: int(r[EXCLUDED] or 0) for v, r in rows.items()}
    counts = []
    for rule in rules:
        flagged = {v: int(r[rule.name] or 0) for v, r in rows.items()}
        counts.append(RuleCount(rule.name, rule.description, flagged, imbalance_test(flagged, exposed)[1]))
    stat, p = imbalance_test(excluded, exposed)
    return FilteringSummary(exposed, excluded, tuple(counts), stat, p, notes=tuple(notes))


def filter_experiment(experiment: Experiment, rules: FilterRules, query: Callable[[str], pd.DataFrame],
                      window_days: int | None = None, exclude_conflicts: bool = False
                      ) -> tuple[str, FilteringSummary]:
    """(``WITH`` clauses ending in ``analysis_users``, the filtering summary) for a registry experiment.

    ``query`` runs SQL where the data lives and returns a DataFrame.
    """
    ctes, found = analysis_ctes(experiment, rules, window_days, exclude_conflicts)
    notes = []
    presence = registry_presence_sql(rules)
    if presence is not None:
        present = set(query(presence)["attribute"].astype(str))
        notes += [f"shared_{a}: no user has attribute {a!r}; rule inactive" for a in rules.shared_attributes
                  if a not in present]
    flags_only, _ = _rules(experiment, rules)
    summary = summarise(query("WITH " + ",\n".join(flags_only) + "\n" + counts_sql("", found)), found, notes)
    return ctes, summary
