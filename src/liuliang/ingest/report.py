"""What an ingest did, as a typed result (the CLI prints it; tests assert on it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class IngestReport:
    """Counts of one ingest.

    ``rows_read = added + duplicates + rejected`` always holds. ``duplicates`` are rows already in the
    workspace (or repeated within the input); ``rejected`` rows are in the ``quarantine`` table; ``updated``
    counts users rows that replaced an earlier, different row for the same user.
    """

    ingest_id: int
    table: str
    sources: tuple[str, ...]
    rows_read: int
    added: int
    duplicates: int
    rejected: int
    new_users: int
    updated: int = 0
    min_day: int | None = None
    max_day: int | None = None
    min_ts: dt.datetime | None = None
    max_ts: dt.datetime | None = None
    rejects_sample: pa.Table | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("rejects_sample")
        out["sources"] = list(self.sources)
        for key in ("min_ts", "max_ts"):
            out[key] = out[key].isoformat(sep=" ") if out[key] is not None else None
        out["rejects_sample"] = self.rejects_sample.to_pylist() if self.rejects_sample is not None else []
        return out

    def summary(self) -> str:
        return (
            f"{self.table}: read {self.rows_read:,}, added {self.added:,}, duplicates {self.duplicates:,}, "
            f"rejected {self.rejected:,}, new users {self.new_users:,}"
        )
