"""Metrics stage: numbers computed in the warehouse from the rollups, returned as typed results."""

from liuliang.metrics.acquisition import (
    CacSpec,
    CacTable,
    CostPerRetainedSpec,
    CostPerRetainedTable,
    PaybackSpec,
    PaybackTable,
    cac,
    cost_per_retained,
    payback,
)
from liuliang.metrics.day_n import DayNRetention, day_n_retention
from liuliang.metrics.retention import RetentionSpec, RetentionTable, amplitude, mixpanel, posthog, retention
from liuliang.metrics.revenue import MoneySpecError, RevenueSpec, RevenueTable, cohort_revenue

__all__ = [
    "CacSpec",
    "CacTable",
    "CostPerRetainedSpec",
    "CostPerRetainedTable",
    "DayNRetention",
    "MoneySpecError",
    "PaybackSpec",
    "PaybackTable",
    "RetentionSpec",
    "RetentionTable",
    "RevenueSpec",
    "RevenueTable",
    "amplitude",
    "cac",
    "cohort_revenue",
    "cost_per_retained",
    "day_n_retention",
    "mixpanel",
    "payback",
    "posthog",
    "retention",
]
