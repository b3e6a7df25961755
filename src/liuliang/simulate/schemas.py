"""Arrow schemas of the consumer-side files the world writes: the contract every reader relies on.

Why declared once: the generator, the ingest and the tests all agree on these column names and types;
couriers' own files (users, truth) declare theirs in :mod:`~liuliang.simulate.couriers`.
"""

from __future__ import annotations

import pyarrow as pa

#: Every timestamp column: microseconds, UTC (local time exists only inside the generator).
TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("ts", TIMESTAMP_UTC),
        ("event", pa.string()),
        ("amount", pa.float64()),
        ("platform", pa.string()),
        ("text", pa.string()),
    ]
)
USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("signup_ts", TIMESTAMP_UTC),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("acquisition_cost", pa.float64()),
    ]
)
INCENTIVES_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("ts", TIMESTAMP_UTC),
        ("kind", pa.string()),
        ("value", pa.float64()),
        ("cost", pa.float64()),
        ("campaign", pa.string()),
        ("expires_ts", TIMESTAMP_UTC),
        ("redeemed_ts", TIMESTAMP_UTC),
    ]
)
ASSIGNMENTS_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("experiment", pa.string()), ("variant", pa.string()), ("ts", TIMESTAMP_UTC)]
)
TRUTH_USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("channel", pa.string()),
        ("type", pa.string()),
        ("habitual", pa.bool_()),
        ("hazard", pa.float64()),
        ("lam", pa.float64()),
        ("mu", pa.float64()),
        ("hazard_reduction", pa.float64()),
        ("treated", pa.bool_()),
        ("effect_d7", pa.float64()),
        ("effect_d30", pa.float64()),
        ("acq_day", pa.int32()),
        ("card_expiry_day", pa.int32()),
        ("card_plan", pa.string()),
    ]
)
RETENTION_SCHEMA = pa.schema(
    [
        ("channel", pa.string()),
        ("day", pa.int32()),
        ("expected_share", pa.float64()),
        ("n_observable", pa.int64()),
        ("expected_share_all", pa.float64()),
        ("n_users", pa.int64()),
    ]
)
