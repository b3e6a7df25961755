"""Local time: local day + second of day → UTC, and at what time of day things happen.

Why: users live in a zone (possibly with DST) and the model thinks in local days, but files store UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np


@dataclass(frozen=True)
class LocalClock:
    """Local day + second-of-day → UTC microseconds, for a zone with or without DST.

    Why a table: converting 100M timestamps one by one through zoneinfo is far too slow, but a zone's
    UTC offset only changes at a handful of instants. The offset is looked up per (local day, local hour)
    with zoneinfo once, then applied to whole arrays. A wall time that does not exist (spring-forward gap)
    takes the offset before the change, which moves it forward within the same local day.
    """

    start: date
    tz: str
    epoch_day: np.ndarray  # days since 1970-01-01 of local day index i
    offset_s: np.ndarray  # (n_days, 24) UTC offset in seconds at local hour h of day i

    @classmethod
    def build(cls, start: date, n_days: int, tz: str) -> LocalClock:
        zone = ZoneInfo(tz)
        offsets = np.empty((n_days, 24), dtype=np.int64)
        for i in range(n_days):
            d = start + timedelta(days=i)
            for h in range(24):
                off = datetime(d.year, d.month, d.day, h, tzinfo=zone).utcoffset()
                offsets[i, h] = int(off.total_seconds()) if off is not None else 0
        first = (start - date(1970, 1, 1)).days
        return cls(start, tz, np.arange(first, first + n_days, dtype=np.int64), offsets)

    def utc_us(self, day: np.ndarray, sec: np.ndarray) -> np.ndarray:
        """UTC microseconds of local ``sec`` (0..86399) on local day index ``day``."""
        day = np.asarray(day, dtype=np.int64)
        sec = np.asarray(sec, dtype=np.int64)
        utc_s = self.epoch_day[day] * 86_400 + sec - self.offset_s[day, sec // 3600]
        return utc_s * 1_000_000

    def end_of_day_us(self, day: np.ndarray) -> np.ndarray:
        """Last microsecond of local day ``day`` (expiry "at local end of day")."""
        day = np.asarray(day, dtype=np.int64)
        return self.utc_us(day, np.full(day.shape, 86_399)) + 999_999


@dataclass(frozen=True)
class HourProfile:
    """Relative activity by local hour; time of day is drawn from it, piecewise uniform within an hour."""

    weights: tuple[float, ...]

    def _cdf(self) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(self.weights, dtype=np.float64)
        w = w / w.sum()
        return np.concatenate([[0.0], np.cumsum(w)]), w

    def seconds(self, p: np.ndarray) -> np.ndarray:
        """Inverse CDF: probability level → integer second of the day (monotone in ``p``)."""
        cum, w = self._cdf()
        hour = np.clip(np.searchsorted(cum, p, side="right") - 1, 0, 23)
        sec = np.floor((hour + (p - cum[hour]) / w[hour]) * 3600.0)
        return np.clip(sec, 0, 86_399).astype(np.int64)

    def sample_groups(
        self, rng: np.random.Generator, group: np.ndarray, n_groups: int, first: np.ndarray
    ) -> np.ndarray:
        """Seconds of day for rows grouped by ``group``; the ``first`` row of each group is the earliest.

        Why not sort: the group's first event (``app_open`` / ``online``) is drawn directly from the law of
        the minimum of ``n`` draws, ``F⁻¹(1 - (1-u)^(1/n))``, and the others from the profile conditioned on
        being later, ``F⁻¹(F(t0) + v·(1 - F(t0)))``. Same distribution as sorting ``n`` iid draws, no sort.
        """
        counts = np.bincount(group, minlength=n_groups)
        u0 = rng.random(n_groups)
        p0 = -np.expm1(np.log1p(-u0) / np.maximum(counts, 1))
        v = rng.random(len(group))
        pg = p0[group]
        p = np.where(first, pg, pg + v * (1.0 - pg))
        return self.seconds(p)
