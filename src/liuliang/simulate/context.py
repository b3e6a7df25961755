"""What every block shares, resolved once from the config: the calendar's day indices and the local clock.

Why resolved once: blocks run in threads and must agree on every date. A frozen context passed down
(never a global) keeps them read-only and each block a function of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from liuliang.simulate.clock import LocalClock
from liuliang.simulate.config import WorldConfig
from liuliang.simulate.params import ConsumerParams


@dataclass(frozen=True)
class Calendar:
    """Day indices of the dated things in the world, resolved once from the config."""

    fest_lo: int
    fest_hi: int  # inclusive
    peak: int
    share_lo: int
    share_hi: int  # exclusive: the share campaign was restricted on this day
    exp_lo: int
    exp_hi: int  # exclusive
    card_expiries: tuple[int, ...]

    @classmethod
    def resolve(cls, cfg: WorldConfig, p: ConsumerParams) -> Calendar:
        fest_lo, fest_hi = cfg.day_index(cfg.festival_start), cfg.day_index(cfg.festival_end)
        year = cfg.festival_peak.year
        expiries = tuple(cfg.day_index(date(year, m, d)) for m, d in p.card_expiries)
        return cls(
            fest_lo=fest_lo,
            fest_hi=fest_hi,
            peak=cfg.day_index(cfg.festival_peak),
            share_lo=fest_lo,
            share_hi=fest_lo + len(p.share_launch),
            exp_lo=fest_hi,
            exp_hi=fest_hi + p.experiment_days,
            card_expiries=expiries,
        )


@dataclass(frozen=True)
class WorldContext:
    """Everything resolved once and shared read-only by all blocks."""

    config: WorldConfig
    params: ConsumerParams
    calendar: Calendar
    clock: LocalClock
    id_width: int

    @classmethod
    def build(cls, config: WorldConfig, params: ConsumerParams) -> WorldContext:
        """Resolve the calendar, and build a clock that also covers card expiries after the window."""
        cal = Calendar.resolve(config, params)
        used_expiries = [e for e in cal.card_expiries if 0 <= e < config.days + 3]
        horizon = max([config.days + params.card_fallback_days, *[e + 1 for e in used_expiries]]) + 60
        clock = LocalClock.build(config.start, horizon, config.tz)
        return cls(config, params, cal, clock, id_width=max(7, len(str(config.n_users - 1))))
