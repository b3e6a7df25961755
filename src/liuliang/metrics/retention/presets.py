"""Specs that reproduce each tool's default retention insight. Each takes field overrides (a new spec is returned).

What each sets, and the tool behaviour it follows:

PostHog (``posthog/hogql_queries/insights/retention/``; docs "Retention insights"):
    - ``cohorting="first_time"``: "First time" retention anchors a user at the first occurrence of the start event
      that matches the filters; ``first_matching`` is PostHog's "first-ever occurrence" (the first-ever start event
      must itself match the filters). "Recurring" is ``recurring``.
    - calendar periods in the project time zone (``timeWindowMode`` defaults to calendar; "24_hour_windows" is
      opt-in), ``period="day"``.
    - ``periods=7``: close to the runner's ``DEFAULT_TOTAL_INTERVALS = 7`` (PostHog counts period 0 among them,
      so PostHog shows offsets 0..6; pass ``periods=6`` for the exact grid).
    - ``criterion="on"`` ("on period N"); ``cumulative=True`` in PostHog is ``on_or_after`` here: a user counts in
      every period up to their last return.
    - ``period_zero="cohort"``: period 0 shows the cohort itself; a return in the start period is not a return.
    - ``denominator="cohort"``: every cell divides by the cohort size; unfinished periods are shown and marked.
    - returns are followed with all data after the date range (PostHog users ask for this in issue 23355; PostHog
      itself stops at the range end).

Amplitude (docs "How time works in Retention Analysis", "Retention Analysis"):
    - ``window="rolling"``: a day is a rolling 24-hour window from each user's start, computed on whole hours
      (timestamps truncated to the hour); weeks are 7 days and months 30 days, computed on days.
    - ``cohorting="first_time"`` (start event "New User"), ``criterion="on"`` (N-day retention; "unbounded" is
      ``on_or_after``, "bracket" is ``brackets``).
    - ``denominator="observed"``: users whose day N has not elapsed are left out of day N.
    - ``period_zero="cohort"``: day 0 is 100%.

Mixpanel (docs "Retention", Query API ``/retention``):
    - ``cohorting="first_time"`` (``retention_type=birth``; ``compounded`` is ``recurring``).
    - ``criterion="on_or_after"``: the Retention report counts a user retained in a bucket if they did the return
      event in that bucket or any later one ("On or After" is the default retention criterion).
    - ``period_zero="returns_after_start"``: the query API's interval 0 counts users who did the return event
      within the first interval after the birth event (it is not the cohort size).
    - calendar days in the project time zone (the UI's default); the query API's 24-hour intervals are
      ``window="rolling"`` (Mixpanel counts exact 24 h, liuliang whole hours).
"""

from __future__ import annotations

from typing import Any

from liuliang.metrics.retention.spec import RetentionSpec

_POSTHOG: dict[str, Any] = {
    "cohorting": "first_time",
    "period": "day",
    "window": "calendar",
    "periods": 7,
    "criterion": "on",
    "period_zero": "cohort",
    "denominator": "cohort",
    "reference": "cohort",
    "min_occurrences": 1,
}
_AMPLITUDE: dict[str, Any] = {
    "cohorting": "first_time",
    "period": "day",
    "window": "rolling",
    "periods": 7,
    "criterion": "on",
    "period_zero": "cohort",
    "denominator": "observed",
    "reference": "cohort",
}
_MIXPANEL: dict[str, Any] = {
    "cohorting": "first_time",
    "period": "day",
    "window": "calendar",
    "periods": 7,
    "criterion": "on_or_after",
    "period_zero": "returns_after_start",
    "denominator": "cohort",
    "reference": "cohort",
}


def posthog(**overrides: Any) -> RetentionSpec:
    """PostHog's default retention insight (first time, daily, calendar, on period N)."""
    return RetentionSpec(**{**_POSTHOG, **overrides})


def amplitude(**overrides: Any) -> RetentionSpec:
    """Amplitude's default N-day retention (rolling 24-hour days, observed users only)."""
    return RetentionSpec(**{**_AMPLITUDE, **overrides})


def mixpanel(**overrides: Any) -> RetentionSpec:
    """Mixpanel's default retention report (first time, on or after)."""
    return RetentionSpec(**{**_MIXPANEL, **overrides})


PRESETS = {"posthog": posthog, "amplitude": amplitude, "mixpanel": mixpanel}
