"""Metric definitions → SQL → sufficient statistics → ``stats`` → a report."""

from promolab.analysis.engine import analyze_experiment, analyze_table, stats_from_frame
from promolab.analysis.report import Lift, MetricResult, Report, VariantResult, VariantStats, Verdict, build_report
from promolab.analysis.sql import ColumnMetric

__all__ = [
    "ColumnMetric", "Lift", "MetricResult", "Report", "VariantResult", "VariantStats", "Verdict",
    "analyze_experiment", "analyze_table", "build_report", "stats_from_frame",
]
