"""Plan → SQL where the data lives → sufficient statistics → ``stats`` → one typed report.

``run(plan, source)`` (``promolab.analysis.pipeline``) is the only way a report is made;
``analyze_experiment`` and ``analyze_table`` build the plan and call it.
"""

from promolab.analysis.metrics import ColumnMetric, Margin
from promolab.analysis.pipeline import (
    RegistrySource,
    StatsSource,
    TableSource,
    analyze_experiment,
    analyze_table,
    run,
)
from promolab.analysis.plan import ReportPlan, plan_for_experiment, plan_for_table
from promolab.analysis.report import Report
from promolab.analysis.results import Lift, MetricResult, VariantResult, Verdict
from promolab.analysis.sufficient import VariantStats, stats_from_frame

__all__ = [
    "ColumnMetric", "Lift", "Margin", "MetricResult", "RegistrySource", "Report", "ReportPlan", "StatsSource",
    "TableSource", "VariantResult", "VariantStats", "Verdict", "analyze_experiment", "analyze_table",
    "plan_for_experiment", "plan_for_table", "run", "stats_from_frame",
]
