"""Retention: a :class:`RetentionSpec` in, a :class:`RetentionTable` out (PostHog / Amplitude / Mixpanel knobs)."""

from liuliang.metrics.retention.engine import RetentionRunner, retention
from liuliang.metrics.retention.filters import Condition
from liuliang.metrics.retention.presets import amplitude, mixpanel, posthog
from liuliang.metrics.retention.result import RetentionTable
from liuliang.metrics.retention.spec import RetentionSpec, RetentionSpecError

__all__ = [
    "Condition",
    "RetentionRunner",
    "RetentionSpec",
    "RetentionSpecError",
    "RetentionTable",
    "amplitude",
    "mixpanel",
    "posthog",
    "retention",
]
