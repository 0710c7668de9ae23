"""Bandit experiments in the registry: weight updates and sticky assignment."""

from promolab.adaptive.sticky import StickyAssignment, sticky_assign
from promolab.adaptive.update import WeightUpdate, update_weights

__all__ = ["StickyAssignment", "WeightUpdate", "sticky_assign", "update_weights"]
