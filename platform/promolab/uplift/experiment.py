"""Uplift on a registry experiment: its analysed users, their attributes and outcomes, as the
table ``analyze_uplift`` takes, with the experiment's own randomisation and economics.

The rows are the report's analysed users (``analysis.dialect.analysed_users_ctes``); the
outcomes are the experiment's per-user metric columns; the features default to every user
attribute stored for them that is numeric (every stored value a number) or categorical with
at most ``MAX_CATEGORIES`` values (an id such as a device is left out);
the propensities are the spec's variant weights (the randomisation, not the realised shares)
and the reward's economics the spec's (``analysis.economics.experiment_config``). Only an
``ab`` experiment is randomised with fixed probabilities: bandit and contextual experiments
are refused (their logged propensities change per user; evaluate them off-policy instead),
and so is an A/B experiment whose split fails its sample-ratio check (its weights are then
not the assignment probabilities).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from typing import TYPE_CHECKING

import pandas as pd

from promolab.analysis.dialect import analysed_users_ctes
from promolab.analysis.economics import EconomicsConfig, experiment_config
from promolab.errors import InputError
from promolab.spec import Experiment
from promolab.spec.features import MAX_CATEGORIES
from promolab.stats.srm import srm_test
from promolab.store import Registry
from promolab.uplift.data import MAX_ROWS
from promolab.uplift.report import UpliftReport, analyze_uplift

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

TREATMENT = "variant"


def experiment_table(registry: Registry, key: str) -> pd.DataFrame:
    """One row per analysed user of ``key``: user_id, variant, the metric columns, then one
    column per stored attribute (NaN where a user has none): the numbers of an attribute
    whose every stored value is a number, else its texts (a number written as text). DuckDB
    pivots the attributes, one row per user, rather than pandas half a million (user,
    attribute) rows."""
    ctes = analysed_users_ctes(registry, key)
    (n,) = registry.query(f"{ctes}SELECT COUNT(*) AS n FROM analysis_users")["n"]
    if n > MAX_ROWS:
        raise InputError("experiment", f"{key}: {n:,} analysed users", f"at most {MAX_ROWS:,} users")
    users = registry.query(f"{ctes}SELECT * FROM analysis_users ORDER BY user_id")
    stored = "FROM user_attributes a JOIN analysis_users u ON u.user_id = a.user_id"
    kinds = registry.query(f"{ctes}SELECT a.attribute, bool_and(a.value_text IS NULL) AS numeric {stored} "
                           "GROUP BY 1 ORDER BY 1")
    attributes = [(str(a), bool(numeric)) for a, numeric in zip(kinds["attribute"], kinds["numeric"])
                  if a not in users.columns]
    if not attributes:
        return users
    value = {True: "a.value_num", False: "COALESCE(a.value_text, CAST(a.value_num AS VARCHAR))"}
    # positional aliases, named in pandas: SQL names are case-insensitive ("Tier" and "tier" are two attributes)
    columns = ", ".join(f"MAX(CASE WHEN a.attribute = ? THEN {value[numeric]} END) AS c{i}"
                        for i, (_, numeric) in enumerate(attributes))
    wide = registry.query(f"{ctes}SELECT a.user_id, {columns} {stored} GROUP BY a.user_id",
                          [name for name, _ in attributes])
    wide.columns = ["user_id", *(name for name, _ in attributes)]
    for i, (_, numeric) in enumerate(attributes, start=1):
        wide.isetitem(i, wide.iloc[:, i].astype(float if numeric else object))
    return users.join(wide.set_index("user_id"), on="user_id")


def _usable(column: pd.Series) -> bool:
    """A default feature: numeric, or with at most ``MAX_CATEGORIES`` categories (not an id)."""
    return column.dtype.kind in "iuf" or column.nunique() <= MAX_CATEGORIES


def _outcomes(experiment: Experiment, table: pd.DataFrame) -> list[str]:
    return [m.key for m in (*experiment.metrics, *experiment.guardrails) if m.key in table.columns]


def experiment_uplift(registry: Registry, key: str, *, features: Sequence[str] = (), outcomes: Sequence[str] = (),
                      economics: EconomicsConfig | None = None, learners: Sequence[str] = ("x",),
                      model: str | BaseEstimator = "hgb", folds: int = 5, seed: int = 0, share: float | None = None,
                      users: Collection[str] | None = None) -> UpliftReport:
    """``analyze_uplift`` on ``key``'s analysed users (arms = variant keys, the control first;
    ``users``: only these). ``features`` default to every stored attribute that is numeric or has at most
    ``MAX_CATEGORIES`` categories (an id is not a feature), ``outcomes`` to
    the experiment's metrics, ``economics`` to the spec's (or the primary metric, no costs)."""
    experiment = registry.get_experiment(key)
    if experiment.kind != "ab":
        raise InputError("experiment", key, f"an A/B experiment (fixed randomisation); it is {experiment.kind}: "
                         "evaluate its policy off-policy (promolab replay) instead")
    table = experiment_table(registry, key)
    weights = dict(zip(experiment.variant_keys, experiment.weights))
    counts = table["variant"].value_counts()
    srm = srm_test({k: int(counts.get(k, 0)) for k in weights}, weights, experiment.plan.srm_threshold)
    if not srm.ok:
        raise InputError("experiment", key, f"a randomised split: its sample ratio check fails (p = {srm.p_value:.2g} "
                         f"< {srm.threshold:g}), so the variant weights are not the assignment probabilities")
    if users is not None:
        table = table[table["user_id"].isin(users)].reset_index(drop=True)
    outcome_names = list(outcomes) or _outcomes(experiment, table)
    for name in outcome_names:
        if name not in table.columns:
            raise InputError("outcome", name, "a metric of the experiment: " + ", ".join(_outcomes(experiment, table)))
    attributes = [c for c in table.columns if c not in {"user_id", TREATMENT, "exposed_at"}
                  and c not in _outcomes(experiment, table) and not c.startswith("__")]
    feature_names = list(features) or [a for a in attributes if _usable(table[a])]
    for name in feature_names:
        if name not in attributes:
            raise InputError("features", name, "a stored user attribute: " + (", ".join(attributes) or "none stored"))
    econ = economics or experiment_config(experiment) or EconomicsConfig(outcome_names[0])
    return analyze_uplift(table, treatment=TREATMENT, control=experiment.control, outcomes=outcome_names,
                          features=feature_names, economics=econ, learners=learners, model=model, folds=folds,
                          seed=seed, share=share, propensity=weights)
