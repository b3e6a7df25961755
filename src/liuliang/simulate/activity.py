"""What consumers do: the days each user is active, and the events of those days.

Why drawn from the exact law: activity follows precisely :func:`~liuliang.simulate.truth.active_prob`, and
every extra event (red packet, card redemption, coupon order, share) lands on a day already active, so the
realised data and the planted truth agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from liuliang.simulate.arrays import decode, float_array, id_strings, ts_array
from liuliang.simulate.clock import HourProfile
from liuliang.simulate.context import WorldContext
from liuliang.simulate.params import ConsumerParams
from liuliang.simulate.population import Users
from liuliang.simulate.schemas import EVENT_SCHEMA
from liuliang.simulate.texts import sample_text_indices, text_pools
from liuliang.simulate.vocabulary import (
    EV_ASK,
    EV_OPEN,
    EV_ORDER,
    EV_REDEEM,
    EV_SHARE,
    EVENT_KINDS,
    RED_PACKET,
    SOCIAL_SHARE,
)

#: Consumers: night lull, lunch peak (11-13h) and evening peak (18-21h).
CONSUMER_HOURS = HourProfile(
    (
        *(1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4.0, 4.5, 6.0),  # 00-11h
        *(7.0, 5.5, 4.0, 3.8, 4.0, 5.0, 6.5, 7.5, 7.5, 6.5, 4.5, 2.5),  # 12-23h
    )
)


def realise_activity(rng: np.random.Generator, u: Users, n_days: int) -> np.ndarray:
    """Boolean (users × local days) activity drawn from exactly the law in
    :func:`~liuliang.simulate.truth.active_prob`.

    Lifetime ``T = floor(log U / log(1-h))`` has ``P(T >= k) = (1-h)^k``: alive on relative days 0..T.
    """
    n = len(u.acq)
    u_life = 1.0 - rng.random(n)  # in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        lifetime = np.where(u.hazard_eff > 0, np.floor(np.log(u_life) / np.log1p(-u.hazard_eff)), np.inf)
    u_act = rng.random((n, n_days))
    rel = np.arange(n_days)[None, :] - u.acq[:, None]
    act = (rel >= 0) & (rel <= lifetime[:, None]) & (u_act < u.lam[:, None])
    rows = np.arange(n)
    act[rows, u.acq] = True
    back = (u.bump_day >= 0) & (u.bump_day < n_days)
    act[rows[back], u.bump_day[back]] = True
    return act


def _first_per_user(ud_idx: np.ndarray, users_of_ud: np.ndarray) -> np.ndarray:
    """Among user-day indices (sorted by user then day), the first one of each user."""
    if len(ud_idx) == 0:
        return ud_idx
    u = users_of_ud[ud_idx]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = u[1:] != u[:-1]
    return ud_idx[keep]


def _order_amounts(rng: np.random.Generator, n: int, p: ConsumerParams) -> np.ndarray:
    """Order amounts (CNY): lognormal around the food median, or with ``ticket_share`` the ticket median."""
    ticket = rng.random(n) < p.ticket_share
    z = rng.standard_normal(n)
    amount = np.where(ticket, p.ticket_median * np.exp(p.ticket_sigma * z), p.food_median * np.exp(p.food_sigma * z))
    return np.round(amount, 2)


@dataclass(frozen=True)
class EventRows:
    """Event rows of a block before sorting: each row belongs to a user-day (``ud``) and a kind.

    Base rows come first (each user-day's ``app_open`` at its start), then the special segments, whose
    row ranges are in ``seg_start``/``segments`` so incentives can take their timestamps from them.
    """

    uu: np.ndarray  # user of each user-day
    dd: np.ndarray  # local day of each user-day
    ud: np.ndarray  # user-day of each row
    kind: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    text_idx: np.ndarray  # -1: no text
    open_ts: np.ndarray  # app_open ts of each user-day
    segments: dict[str, np.ndarray]  # user-days of each special segment
    seg_start: dict[str, int]
    coupon_ud: np.ndarray  # user-days granted a coupon (used or not)
    coupon_used: np.ndarray
    share_days: np.ndarray  # user-days paid a red packet for sharing

    def seg_ts(self, name: str) -> np.ndarray:
        s = self.seg_start[name]
        return self.ts[s : s + len(self.segments[name])]


def build_event_rows(rng: np.random.Generator, ctx: WorldContext, u: Users, act: np.ndarray) -> EventRows:
    """Events of every active user-day: ``1 + Poisson(mu)`` base events plus campaign-driven ones."""
    p, cal = ctx.params, ctx.calendar
    uu, dd = np.nonzero(act)  # sorted by user then day
    n_ud = len(uu)
    ch_ud = u.ch[uu]
    day0 = dd == u.acq[uu]
    in_fest = (dd >= cal.fest_lo) & (dd <= cal.fest_hi)

    n_base = 1 + rng.poisson(u.mu[uu])
    base_ud = np.repeat(np.arange(n_ud), n_base)
    base_start = np.concatenate([[0], np.cumsum(n_base)[:-1]])
    base_first = np.zeros(len(base_ud), dtype=bool)
    base_first[base_start] = True
    order_share = np.where(u.hunter, p.order_share_hunter, p.order_share_task)
    is_order = rng.random(len(base_ud)) < order_share[uu[base_ud]]
    base_kind = np.where(base_first, EV_OPEN, np.where(is_order, EV_ORDER, EV_ASK))

    r_fest, r_late, r_coupon, r_use = (rng.random(n_ud) for _ in range(4))
    n_share_draw = rng.poisson(p.shares_per_day, n_ud)
    share_days = np.nonzero((ch_ud == SOCIAL_SHARE) & (dd >= cal.share_lo) & (dd < cal.share_hi))[0]
    late_share = (ch_ud == SOCIAL_SHARE) & (dd >= cal.share_hi) & (r_late < p.share_after_restriction_prob)
    card_now = np.nonzero(day0 & (u.plan[uu] == 0))[0]
    card_deadline = np.nonzero(u.deadline[uu] & (dd == u.bump_day[uu]))[0]
    card_visit = _first_per_user(np.nonzero((u.plan[uu] == 2) & ~day0 & (dd <= u.expiry[uu]))[0], uu)
    coupon_ud = np.nonzero((dd > cal.fest_hi) & (r_coupon < p.coupon_prob))[0]
    coupon_used = r_use[coupon_ud] < p.coupon_use_prob
    segments = {  # name: (user-days, event kind); one row per listed user-day
        "rp_signup": (np.nonzero(day0 & ((ch_ud == RED_PACKET) | (ch_ud == SOCIAL_SHARE)))[0], EV_REDEEM),
        "rp_fest": (
            np.nonzero((ch_ud == RED_PACKET) & ~day0 & in_fest & (r_fest < p.festival_packet_prob))[0],
            EV_REDEEM,
        ),
        "rp_share": (share_days, EV_REDEEM),
        "share": (
            np.concatenate([np.repeat(share_days, 1 + n_share_draw[share_days]), np.nonzero(late_share)[0]]),
            EV_SHARE,
        ),
        "card": (np.sort(np.concatenate([card_now, card_deadline, card_visit])), EV_ORDER),
        "coupon": (coupon_ud[coupon_used], EV_ORDER),
    }
    seg_start: dict[str, int] = {}
    row_ud, row_kind = [base_ud], [base_kind]
    offset = len(base_ud)
    for name, (ud, kind) in segments.items():
        seg_start[name] = offset
        row_ud.append(ud)
        row_kind.append(np.full(len(ud), kind))
        offset += len(ud)
    ud_all = np.concatenate(row_ud)
    kind_all = np.concatenate(row_kind)
    first = np.concatenate([base_first, np.zeros(offset - len(base_ud), dtype=bool)])

    sec = CONSUMER_HOURS.sample_groups(rng, ud_all, n_ud, first)
    ts = ctx.clock.utc_us(dd[ud_all], sec)
    amount = np.full(offset, np.nan)
    orders = kind_all == EV_ORDER
    amount[orders] = _order_amounts(rng, int(orders.sum()), p)
    asks = np.nonzero(kind_all == EV_ASK)[0]
    ask_user = uu[ud_all[asks]]
    task_text = rng.random(len(asks)) < np.where(u.hunter[ask_user], p.task_text_share_hunter, p.task_text_share_task)
    text_idx = np.full(offset, -1, dtype=np.int64)
    text_idx[asks] = sample_text_indices(rng, task_text, u.script[ask_user])
    return EventRows(
        uu=uu,
        dd=dd,
        ud=ud_all,
        kind=kind_all,
        ts=ts,
        amount=amount,
        text_idx=text_idx,
        open_ts=ts[base_start],
        segments={name: ud for name, (ud, _) in segments.items()},
        seg_start=seg_start,
        coupon_ud=coupon_ud,
        coupon_used=coupon_used,
        share_days=share_days,
    )


def events_table(rows: EventRows, user_ids: pa.Array, block: int) -> pa.Table:
    """Rows grouped by user-day (user, then day), ``app_open`` first in each; ids ``e{block}-{n}``."""
    order = np.argsort(rows.ud, kind="stable")
    n_rows = len(order)
    text_idx = rows.text_idx[order]
    return pa.table(
        {
            "event_id": id_strings(f"e{block}-", 0, n_rows, 1),
            "user_id": user_ids.take(pa.array(rows.uu[rows.ud[order]])),
            "ts": ts_array(rows.ts[order]),
            "event": decode(EVENT_KINDS, rows.kind[order]),
            "amount": float_array(rows.amount[order]),
            "platform": pa.nulls(n_rows, pa.string()),
            "text": text_pools().texts.take(pa.array(np.maximum(text_idx, 0), mask=text_idx < 0)),
        },
        schema=EVENT_SCHEMA,
    )
