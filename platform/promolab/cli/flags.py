"""Library errors name fields (``plan.looks``, ``metric revenue.cap``); a command that took
the value from a flag says the flag instead. Only the CLI knows its flags."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from promolab.errors import InputError

# field (or field prefix followed by a space) → the flag that set it
PLAN_FLAGS = {
    "plan.alpha": "--alpha", "plan.correction": "--correction", "plan.looks": "--looks",
    "plan.spending": "--spending", "plan.sequential": "--sequential", "plan.srm_threshold": "--srm-threshold",
    "plan.information_fraction": "--information-fraction", "plan.control": "--control", "plan.metrics": "--metric",
    "plan.segments": "--segment", "metric": "--metric", "guardrail": "--guardrail", "engine": "--engine",
    "spark_master": "--spark-master", "data": "--data",
}
TABLE_FLAGS = {**PLAN_FLAGS, "table": "FILE", "table.variant": "--variant", "table.user": "--user",
               "cost": "--cost", "filter column": "--flag/--outlier/--shared", "economics column": "--revenue/--orders",
               "filters.outlier_z": "--outlier-z", "filters.max_accounts": "--max-accounts",
               "economics.margin_rate": "--margin-rate", "table.exposure_ts": "--exposure-ts",
               "table.event_ts": "--event-ts", "table.window_hours": "--window-hours",
               "table.delay_hours": "--delay-hours"}
REPORT_FLAGS = {"plan.srm_threshold": "--srm-threshold", "plan.segments": "--segment", "engine": "--engine",
                "spark_master": "--spark-master", "data": "--data"}
STATS_FLAGS = {**PLAN_FLAGS, "stats file": "FILE"}
SEQUENTIAL_FLAGS = {"plan.looks": "--looks", "plan.spending": "--spending", "metric": "--metric"}
POWER_FLAGS = {"baseline": "--baseline", "mean": "--baseline", "mde_relative": "--mde", "n_per_variant": "--n",
               "variants": "--variants", "alpha": "--alpha", "power": "--power", "sd": "--sd"}
SQL_FLAGS = {"dialect": "--dialect", "schema": "--schema", "window_days": "--window-days"}


def flag_for(field: str, flags: Mapping[str, str]) -> str:
    """``metric revenue.cap`` → ``--metric revenue.cap``; ``plan.looks`` → ``--looks``."""
    if field in flags:
        return flags[field]
    head, sep, rest = field.partition(" ")
    return f"{flags[head]} {rest}" if sep and head in flags else field


@contextmanager
def flag_errors(flags: Mapping[str, str]) -> Iterator[None]:
    """Re-raise an InputError whose field a flag of this command set, naming the flag."""
    try:
        yield
    except InputError as exc:
        flag = flag_for(exc.field, flags)
        if flag == exc.field:
            raise
        raise InputError(flag, exc.value, exc.expected, source=exc.source) from exc
