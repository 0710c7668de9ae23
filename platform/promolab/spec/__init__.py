"""Experiment specs as code: TOML files validated into frozen dataclasses."""

from promolab.spec.dump import experiment_to_dict, experiment_to_toml
from promolab.spec.load import experiment_from_dict, load_experiment, parse_experiment
from promolab.spec.model import (
    AnalysisPlan,
    BanditConfig,
    ContextualConfig,
    Experiment,
    Layer,
    Metric,
    Safety,
    TargetRule,
    Variant,
)

__all__ = [
    "AnalysisPlan", "BanditConfig", "ContextualConfig", "Experiment", "Layer", "Metric", "Safety", "TargetRule", "Variant",
    "experiment_from_dict", "experiment_to_dict", "experiment_to_toml", "load_experiment", "parse_experiment",
]
