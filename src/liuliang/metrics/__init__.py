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
from liuliang.metrics.activity import (
    ActiveUsers,
    ActiveUsersSpec,
    ActivitySpecError,
    FrequencyHistogram,
    FrequencySpec,
    Participation,
    ParticipationSpec,
    active_users,
    frequency,
    participation,
)
from liuliang.metrics.day_n import DayNRetention, day_n_retention
from liuliang.metrics.lifecycle import Lifecycle, LifecycleSpec, lifecycle
from liuliang.metrics.retention import RetentionSpec, RetentionTable, amplitude, mixpanel, posthog, retention
from liuliang.metrics.revenue import MoneySpecError, RevenueSpec, RevenueTable, cohort_revenue

__all__ = [
    "ActiveUsers",
    "ActiveUsersSpec",
    "ActivitySpecError",
    "CacSpec",
    "CacTable",
    "CostPerRetainedSpec",
    "CostPerRetainedTable",
    "DayNRetention",
    "FrequencyHistogram",
    "FrequencySpec",
    "Lifecycle",
    "LifecycleSpec",
    "MoneySpecError",
    "Participation",
    "ParticipationSpec",
    "PaybackSpec",
    "PaybackTable",
    "RetentionSpec",
    "RetentionTable",
    "RevenueSpec",
    "RevenueTable",
    "active_users",
    "amplitude",
    "cac",
    "cohort_revenue",
    "cost_per_retained",
    "day_n_retention",
    "frequency",
    "lifecycle",
    "mixpanel",
    "participation",
    "payback",
    "posthog",
    "retention",
]
