"""The warehouse's tables and their core columns.

Names are plain (``events``, ``users`` …) so analysts can query a workspace directly. Columns starting with an
underscore are bookkeeping: ``_ingest`` is the id of the ingest that wrote the row (rows of an ingest that never
committed are removed on open), ``_dedup`` is the 63-bit key that makes re-ingesting idempotent.
"""

from __future__ import annotations

import ibis
import ibis.expr.schema as sch

EVENTS = "events"
USERS = "users"
INCENTIVES = "incentives"
ASSIGNMENTS = "assignments"
USER_KEYS = "user_keys"
QUARANTINE = "quarantine"
INGESTS = "ingests"
META = "meta"
USER_DAY = "user_day"
USER_DAY_EVENT = "user_day_event"

#: Tables whose rows carry ``_ingest`` and are filtered or repaired by it.
VERSIONED = (EVENTS, USERS, INCENTIVES, ASSIGNMENTS, USER_KEYS, QUARANTINE, USER_DAY, USER_DAY_EVENT)
#: Tables derived from ``events``; always rebuildable.
ROLLUPS = (USER_DAY, USER_DAY_EVENT)

SCHEMAS: dict[str, sch.Schema] = {
    EVENTS: ibis.schema(
        {
            "user_key": "int64",
            "ts": "timestamp",
            "day": "int32",
            "event": "string",
            "amount": "float64",
            "platform": "string",
            "text": "string",
            "event_id": "string",
            "_dedup": "int64",
            "_ingest": "int64",
        }
    ),
    USERS: ibis.schema(
        {
            "user_key": "int64",
            "signup_ts": "timestamp",
            "channel": "string",
            "campaign": "string",
            "acquisition_cost": "float64",
            "_dedup": "int64",
            "_ingest": "int64",
        }
    ),
    INCENTIVES: ibis.schema(
        {
            "user_key": "int64",
            "ts": "timestamp",
            "day": "int32",
            "kind": "string",
            "value": "float64",
            "cost": "float64",
            "campaign": "string",
            "expires_ts": "timestamp",
            "redeemed_ts": "timestamp",
            "_dedup": "int64",
            "_ingest": "int64",
        }
    ),
    ASSIGNMENTS: ibis.schema(
        {
            "user_key": "int64",
            "experiment": "string",
            "variant": "string",
            "ts": "timestamp",
            "_dedup": "int64",
            "_ingest": "int64",
        }
    ),
    USER_KEYS: ibis.schema({"user_key": "int64", "user_id": "string", "_ingest": "int64"}),
    QUARANTINE: ibis.schema(
        {
            "_ingest": "int64",
            "table_name": "string",
            "source": "string",
            "row": "int64",
            "column": "string",
            "reason": "string",
            "raw": "string",
        }
    ),
    INGESTS: ibis.schema(
        {
            "ingest_id": "int64",
            "table_name": "string",
            "sources": "string",
            "rows_read": "int64",
            "added": "int64",
            "duplicates": "int64",
            "rejected": "int64",
            "min_day": "int32",
            "max_day": "int32",
            # Time span of the events an ingest added: metrics read the data's span from this small log instead of
            # scanning ``events`` (events are append-only, so the log's min and max are the table's).
            "min_ts": "timestamp",
            "max_ts": "timestamp",
        }
    ),
    META: ibis.schema({"key": "string", "value": "string"}),
    USER_DAY: ibis.schema(
        {
            "user_key": "int64",
            "day": "int32",
            "events": "int64",
            "amount": "float64",
            "first_ts": "timestamp",
            "last_ts": "timestamp",
            "_ingest": "int64",
        }
    ),
    USER_DAY_EVENT: ibis.schema(
        {
            "user_key": "int64",
            "day": "int32",
            "event": "string",
            "events": "int64",
            "amount": "float64",
            "first_ts": "timestamp",
            "last_ts": "timestamp",
            "_ingest": "int64",
        }
    ),
}

#: Column names a source may not use for its own properties.
RESERVED = frozenset({"user_key", "day", "_dedup", "_ingest", "_row"})
