"""Metrics stage: numbers computed in the warehouse from the rollups, returned as typed results."""

from liuliang.metrics.day_n import DayNRetention, day_n_retention

__all__ = ["DayNRetention", "day_n_retention"]
