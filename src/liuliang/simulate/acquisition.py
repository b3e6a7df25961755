"""Who arrives when: acquisition intensity per local day and channel, and the schedule drawn from it.

Why one global draw: the schedule is small (a day and a channel per user) and comes from its own stream,
so each block simulates its slice of the same schedule whatever the chunking.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from liuliang.simulate.config import WorldConfig
from liuliang.simulate.context import Calendar
from liuliang.simulate.params import ConsumerParams
from liuliang.simulate.streams import STREAM_SCHEDULE, block_rng
from liuliang.simulate.vocabulary import CHANNELS, FREE_ORDER, ORGANIC, RED_PACKET, SOCIAL_SHARE


def acquisition_weights(cfg: WorldConfig, p: ConsumerParams, cal: Calendar) -> np.ndarray:
    """Relative acquisition intensity, shape (days, channels)."""
    d = np.arange(cfg.days)
    weekday = (np.array([(cfg.start + timedelta(days=int(i))).weekday() for i in d]) >= 5).astype(float)
    in_fest = (d >= cal.fest_lo) & (d <= cal.fest_hi)
    w = np.zeros((cfg.days, len(CHANNELS)))
    w[:, ORGANIC] = p.organic_daily * (1 + p.organic_weekend_lift * weekday) * (1 + p.organic_festival_lift * in_fest)
    w[:, RED_PACKET] = in_fest * p.red_packet_peak * np.exp(-np.abs(d - cal.peak) / p.red_packet_decay_days)
    tail = (d > cal.fest_hi) & (d <= cal.fest_hi + p.free_order_tail_days)
    w[:, FREE_ORDER] = (
        in_fest * p.free_order_peak * np.exp(-np.abs(d - cal.peak) / p.free_order_decay_days)
        + tail * p.free_order_tail_daily
    )
    for i, x in enumerate(p.share_launch):
        if 0 <= cal.share_lo + i < cfg.days:
            w[cal.share_lo + i, SOCIAL_SHARE] = x
    return w


def acquisition_schedule(cfg: WorldConfig, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition day and channel of every user, in user-index order (sorted by day).

    A multinomial over (day, channel) cells from one global stream, then a random channel order within each
    day. Cheap (O(n_users) small ints) and independent of any chunking.
    """
    rng = block_rng(cfg.seed, STREAM_SCHEDULE, 0)
    counts = rng.multinomial(cfg.n_users, w.ravel() / w.sum())
    cells = np.arange(w.size)
    day = np.repeat(cells // w.shape[1], counts).astype(np.int32)
    channel = np.repeat(cells % w.shape[1], counts).astype(np.int8)
    order = np.lexsort((rng.random(cfg.n_users), day))
    return day[order], channel[order]
