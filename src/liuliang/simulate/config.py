"""What world to generate: :class:`WorldConfig`, the only thing a caller chooses.

Why apart from the model's parameters (:mod:`~liuliang.simulate.params`): the config says *which* world
(size, window, zone, seed) and is checked on construction; the parameters are fixed truth, written to
``truth/params.json``, never chosen by a caller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liuliang.errors import LiuliangError


@dataclass(frozen=True)
class WorldConfig:
    """What world to generate. Everything else (the model's parameters) is fixed and written to truth.

    Parameters
    ----------
    n_users : consumers; about 100 events each at the defaults (100k users ≈ 10M events).
    start : first acquisition day (local); the observed window is ``start .. start + days - 1``.
    days : length of the observed window in local days.
    tz : IANA zone the users live in. Events are generated in local time and stored in UTC.
    festival_start, festival_end : the subsidy campaigns' window (inclusive local days).
    festival_peak : New Year's Eve, the peak of red-packet acquisition (16 Feb 2026).
    courier_share : couriers generated per consumer.
    experiment : run the post-festival "challenge7" experiment.
    chunk_users : users per events part file (rounded down to whole blocks of
        :data:`~liuliang.simulate.consumers.BLOCK_USERS`, at least one block). Memory is bounded by the block,
        and no file's *content* depends on this value.
    seed : root of every random stream.
    """

    n_users: int = 20_000
    start: date = date(2026, 1, 19)
    days: int = 120
    tz: str = "Asia/Shanghai"
    festival_start: date = date(2026, 2, 10)
    festival_end: date = date(2026, 2, 24)
    festival_peak: date = date(2026, 2, 16)
    courier_share: float = 0.05
    experiment: bool = True
    chunk_users: int = 50_000
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("n_users", self.n_users >= 1, "an integer >= 1"),
            ("days", self.days >= 1, "an integer >= 1"),
            ("festival_end", self.festival_end >= self.festival_start, "on or after festival_start"),
            (
                "festival_peak",
                self.festival_start <= self.festival_peak <= self.festival_end,
                "between festival_start and festival_end",
            ),
            ("courier_share", 0.0 <= self.courier_share <= 10.0, "a number in [0, 10]"),
            ("chunk_users", self.chunk_users >= 1, "an integer >= 1"),
            ("seed", self.seed >= 0, "an integer >= 0"),
        )
        for name, ok, allowed in checks:
            if not ok:
                raise LiuliangError(f"WorldConfig.{name} must be {allowed}; got {getattr(self, name)!r}")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise LiuliangError(
                f"WorldConfig.tz must be an IANA zone such as 'Asia/Shanghai'; got {self.tz!r}"
            ) from exc

    def day_index(self, d: date) -> int:
        """Local day index of ``d`` in the window (may be negative or >= days)."""
        return (d - self.start).days

    def to_json(self) -> dict[str, object]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}
