"""Metrics stage: numbers computed in the warehouse from the rollups, returned as typed results."""

from liuliang.metrics.day_n import DayNRetention, day_n_retention
from liuliang.metrics.retention import RetentionSpec, RetentionTable, amplitude, mixpanel, posthog, retention

__all__ = [
    "DayNRetention",
    "RetentionSpec",
    "RetentionTable",
    "amplitude",
    "day_n_retention",
    "mixpanel",
    "posthog",
    "retention",
]
