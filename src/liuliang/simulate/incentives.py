"""What consumers are given: red packets, free-order cards, coupons and challenge points.

Why apart from the events: incentives carry money (value, cost) and their own lifecycle (expiry,
redemption), but never add activity; each grant borrows the timestamp of an event the user already has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from liuliang.simulate.activity import EventRows
from liuliang.simulate.arrays import NULL_TS, decode, float_array, ts_array
from liuliang.simulate.context import WorldContext
from liuliang.simulate.population import Users
from liuliang.simulate.schemas import INCENTIVES_SCHEMA
from liuliang.simulate.vocabulary import (
    CAMPAIGNS,
    COUPON_CAMPAIGN,
    FREE_ORDER,
    INC_COUPON,
    INC_FREE_ORDER,
    INC_POINTS,
    INC_RED_PACKET,
    INCENTIVE_KINDS,
    SOCIAL_SHARE,
)


@dataclass
class _IncentiveRows:
    """Column lists of incentive rows, filled per incentive kind and concatenated once."""

    cols: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in ("user", "ts", "kind", "value", "cost", "campaign", "exp", "red")}
    )

    def add(
        self,
        user: np.ndarray,
        ts: np.ndarray,
        kind: int,
        value: np.ndarray,
        cost: np.ndarray,
        campaign: str | np.ndarray,
        expires: np.ndarray | None = None,
        redeemed: np.ndarray | None = None,
    ) -> None:
        n = len(user)
        null = np.full(n, NULL_TS, dtype=np.int64)
        for key, val in (
            ("user", user),
            ("ts", ts),
            ("kind", np.full(n, kind)),
            ("value", value),
            ("cost", cost),
            ("campaign", np.broadcast_to(np.asarray(campaign, dtype=object), (n,))),
            ("exp", null if expires is None else expires),
            ("red", null if redeemed is None else redeemed),
        ):
            self.cols[key].append(np.asarray(val))

    def table(self, user_ids: pa.Array) -> pa.Table:
        c = {k: np.concatenate(v) if v else np.empty(0) for k, v in self.cols.items()}
        user = c["user"].astype(np.int64)
        ts = c["ts"].astype(np.int64)
        order = np.lexsort((c["kind"].astype(np.int64), ts, user))
        return pa.table(
            {
                "user_id": user_ids.take(pa.array(user[order])),
                "ts": ts_array(ts[order]),
                "kind": decode(INCENTIVE_KINDS, c["kind"][order]),
                "value": float_array(c["value"][order]),
                "cost": float_array(c["cost"][order]),
                "campaign": pa.array(c["campaign"][order], type=pa.string()),
                "expires_ts": ts_array(c["exp"][order]),
                "redeemed_ts": ts_array(c["red"][order]),
            },
            schema=INCENTIVES_SCHEMA,
        )


def incentives_table(
    rng: np.random.Generator, ctx: WorldContext, u: Users, rows: EventRows, signup_ts: np.ndarray, user_ids: pa.Array
) -> pa.Table:
    """Red packets (paid at once), free-order cards and coupons (cost only if redeemed), challenge points.

    Every grant's timestamp is an event of the same user-day (its ``redeem_red_packet`` / ``order`` /
    ``app_open``), so incentives never add activity the exact law does not already contain.
    """
    p, clock = ctx.params, ctx.clock
    uu = rows.uu
    inc = _IncentiveRows()

    def packet_values(m: int, top: float) -> np.ndarray:
        v = p.red_packet_min + (top - p.red_packet_min) * rng.beta(1.1, 5.0, m)
        return np.round(np.where(rng.random(m) < p.red_packet_jackpot_prob, top, v), 2)

    for name in ("rp_signup", "rp_fest"):
        ud = rows.segments[name]
        v = packet_values(len(ud), p.red_packet_max)
        t = rows.seg_ts(name)
        inc.add(uu[ud], t, INC_RED_PACKET, v, v, np.asarray(CAMPAIGNS)[u.ch[uu[ud]]], redeemed=t)
    v = packet_values(len(rows.share_days), p.share_packet_max)
    t = rows.seg_ts("rp_share")
    inc.add(uu[rows.share_days], t, INC_RED_PACKET, v, v, CAMPAIGNS[SOCIAL_SHARE], redeemed=t)

    holders = np.nonzero(u.has_card)[0]
    card_value = rng.integers(p.card_value_min, p.card_value_max + 1, len(holders)).astype(np.float64)
    redeemed = np.full(len(u.acq), NULL_TS, dtype=np.int64)
    redeemed[uu[rows.segments["card"]]] = rows.seg_ts("card")
    red_h = redeemed[holders]
    inc.add(
        holders,
        signup_ts[holders],
        INC_FREE_ORDER,
        card_value,
        np.where(red_h != NULL_TS, card_value, 0.0),
        CAMPAIGNS[FREE_ORDER],
        expires=clock.end_of_day_us(u.expiry[holders]),
        redeemed=red_h,
    )

    coupon_ud, used = rows.coupon_ud, rows.coupon_used
    coupon_value = np.asarray(p.coupon_values)[rng.integers(0, len(p.coupon_values), len(coupon_ud))]
    coupon_red = np.full(len(coupon_ud), NULL_TS, dtype=np.int64)
    coupon_red[used] = rows.seg_ts("coupon")
    inc.add(
        uu[coupon_ud],
        rows.open_ts[coupon_ud],
        INC_COUPON,
        coupon_value,
        np.where(used, coupon_value, 0.0),
        COUPON_CAMPAIGN,
        expires=clock.end_of_day_us(rows.dd[coupon_ud]),
        redeemed=coupon_red,
    )

    points_ud = np.nonzero(u.treated[uu] & (rows.dd - u.acq[uu] < p.challenge_days))[0]
    pts = np.round(p.points_min + (p.points_max - p.points_min) * rng.random(len(points_ud)), 2)
    inc.add(uu[points_ud], rows.open_ts[points_ud], INC_POINTS, pts, pts, p.experiment_name)
    return inc.table(user_ids)
