"""The data contract: which columns each input table has, which are required, and what they mean.

Written down for people in ``docs/data-contract.md``; this module is the same contract as data, so the
validator, the warehouse schema and the documentation cannot drift apart silently (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from liuliang.errors import LiuliangError

Kind = Literal["string", "timestamp", "float", "enum"]

INCENTIVE_KINDS = ("red_packet", "coupon", "free_order", "transfer_bonus", "points", "other")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    allowed: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class TableContract:
    """One input table. ``id_column`` (when present and non-null) is the exact de-duplication key."""

    name: str
    columns: tuple[Column, ...]
    id_column: str | None = None
    #: Timestamp column whose local day is stored as ``day`` (so rollups and metrics bucket without work).
    day_of: str | None = None
    #: Users are immutable: a second, different row for the same user is quarantined instead of merged.
    one_row_per_user: bool = False

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


EVENTS = TableContract(
    "events",
    (
        Column("user_id", "string", True, doc="who did it (any string; numbers are read as text)"),
        Column("ts", "timestamp", True, doc="when; offsets honoured, stored as UTC"),
        Column("event", "string", True, doc="what, e.g. app_open, ask, order"),
        Column("amount", "float", doc="revenue of the event in the workspace currency"),
        Column("platform", "string", doc="which app the activity happened on (multi-homing users and couriers)"),
        Column("text", "string", doc="what the user typed, for habit signals"),
        Column("event_id", "string", doc="unique id; re-ingesting a known id on the same local day adds nothing"),
    ),
    id_column="event_id",
    day_of="ts",
)

USERS = TableContract(
    "users",
    (
        Column("user_id", "string", True),
        Column("signup_ts", "timestamp", doc="signup / acquisition time"),
        Column("channel", "string", doc="acquisition channel, e.g. organic, red_packet"),
        Column("campaign", "string", doc="acquisition campaign"),
        Column("acquisition_cost", "float", doc="what acquiring this user cost (CAC)"),
    ),
    one_row_per_user=True,
)

INCENTIVES = TableContract(
    "incentives",
    (
        Column("user_id", "string", True),
        Column("ts", "timestamp", True, doc="when the incentive was granted"),
        Column("kind", "enum", True, allowed=INCENTIVE_KINDS),
        Column("value", "float", doc="face value to the user"),
        Column("cost", "float", doc="what it cost the platform"),
        Column("campaign", "string"),
        Column("expires_ts", "timestamp"),
        Column("redeemed_ts", "timestamp"),
    ),
    day_of="ts",
)

ASSIGNMENTS = TableContract(
    "assignments",
    (
        Column("user_id", "string", True),
        Column("experiment", "string", True),
        Column("variant", "string", True),
        Column("ts", "timestamp", doc="when the user was assigned"),
    ),
)

CONTRACTS: dict[str, TableContract] = {c.name: c for c in (EVENTS, USERS, INCENTIVES, ASSIGNMENTS)}


def contract_for(table: str) -> TableContract:
    try:
        return CONTRACTS[table]
    except KeyError:
        raise LiuliangError(f"unknown table {table!r}; choose one of {', '.join(CONTRACTS)}") from None
