"""Couriers: the supply side of the subsidy war, with multi-homing and transfer bonuses planted as truth.

Why a separate population: courier retention is a different question from consumer retention. Couriers
rarely churn; they *move*. A rival pays a transfer bonus (¥2,888 to join and ride 6 weeks; ¥3,000 to ride 4
consecutive weeks plus ¥1,000 to the referrer), some couriers switch, and many flow back to their home
platform once the bonus is paid. Couriers in their first year chase bonuses more. Meanwhile multi-homing
(being online on several apps) grows quickly: 250k → 2.088M couriers in a year (``shared/domain.md``).
A platform-share or "flow-back" metric must recover exactly these planted switches, so each courier's home
platform, switch day, payout and flow-back day are written to ``truth/couriers.parquet``.

Events per courier, active day and platform: one ``online`` then ``delivery`` events (``amount`` = the
courier's fee, ≈ ¥5-8, more during the festival). Platforms have neutral names ``app_a``, ``app_b``, ``app_c``.
Everything is vectorised over a block of couriers × days; the block's random stream comes from the seed and
the block index only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from liuliang.simulate.arrays import NULL_TS, float_array, id_strings, ts_array
from liuliang.simulate.clock import HourProfile, LocalClock
from liuliang.simulate.params import Beta
from liuliang.simulate.schemas import EVENT_SCHEMA, INCENTIVES_SCHEMA
from liuliang.simulate.vocabulary import INCENTIVE_KINDS

#: Couriers per random-stream block (fixed: output never depends on chunking).
BLOCK_COURIERS = 250
PLATFORMS = ("app_a", "app_b", "app_c")
COURIER_EVENTS = ("online", "delivery")
_NEVER = np.iinfo(np.int32).max

#: Couriers work the meal peaks harder than consumers browse them.
COURIER_HOURS = HourProfile(
    (
        *(0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 2.5, 3.0, 4.5, 8.0),  # 00-11h
        *(9.0, 6.0, 3.5, 3.0, 3.5, 6.0, 8.5, 8.0, 6.0, 4.0, 2.0, 0.8),  # 12-23h
    )
)

COURIER_USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("signup_ts", pa.timestamp("us", tz="UTC")),
        ("home_platform", pa.string()),
        ("new_courier", pa.bool_()),
    ]
)
COURIER_TRUTH_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("home_platform", pa.string()),
        ("second_platform", pa.string()),
        ("new_courier", pa.bool_()),
        ("start_day", pa.int32()),
        ("p_active", pa.float64()),
        ("deliveries_mean", pa.float64()),
        ("fee_mean", pa.float64()),
        ("multihome_day", pa.int32()),
        ("multihoming", pa.bool_()),
        ("bonus_campaign", pa.string()),
        ("rival_platform", pa.string()),
        ("switch_day", pa.int32()),
        ("completed", pa.bool_()),
        ("bonus_end_day", pa.int32()),
        ("flow_back_day", pa.int32()),
        ("referrer_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class BonusOffer:
    """A rival's transfer bonus: join ``platform`` and ride ``ride_days`` to be paid ``value``.

    ``window`` is when the offer is open, as fractions of the observed window ("limited places").
    """

    campaign: str
    platform: int
    value: float
    ride_days: int
    window: tuple[float, float]
    referral: float = 0.0


@dataclass(frozen=True)
class CourierParams:
    """Every true parameter of the courier model (written to ``truth/params.json``)."""

    home_share: tuple[float, ...] = (0.5, 0.3, 0.2)
    new_share: float = 0.35  # couriers within their first year
    new_join_later: float = 0.5  # of new couriers, share who start inside the window (uniform day)
    activity: Beta = field(default_factory=lambda: Beta(8.0, 3.0))  # P(working on a day)
    deliveries_min: float = 20.0  # courier's mean deliveries per working day ~ U(min, max)
    deliveries_max: float = 50.0
    fee_mean: float = 6.5
    fee_courier_sd: float = 0.4
    fee_delivery_sd: float = 0.5
    fee_festival_surcharge: float = 1.5
    multihome_start_share: float = 0.10
    multihome_growth_per_year: float = 2.088 / 0.25  # 250k → 2.088M couriers in a year
    multihome_day_prob: float = 0.6  # an adopter is also online on a second app on this share of work days
    main_share_when_multi: float = 0.6
    second_share_when_multi: float = 0.5
    offers: tuple[BonusOffer, ...] = (
        BonusOffer("transfer_6w_2888", platform=1, value=2888.0, ride_days=42, window=(0.10, 0.50)),
        BonusOffer("transfer_4w_3000", platform=2, value=3000.0, ride_days=28, window=(0.25, 0.65), referral=1000.0),
    )
    take_prob_new: float = 0.30
    take_prob_experienced: float = 0.06
    complete_prob: float = 0.85
    ride_activity: float = 0.95  # riding for a bonus means (almost) every day
    flow_back_prob: float = 0.7
    flow_back_delay_max: int = 6
    referral_prob: float = 0.5
    payout_hour: int = 10  # local time the bonus is paid / granted


@dataclass(frozen=True)
class CourierBlock:
    events: pa.Table
    users: pa.Table
    incentives: pa.Table
    truth: pa.Table


def _nullable_int(x: np.ndarray) -> pa.Array:
    x = np.asarray(x)
    return pa.array(x.astype(np.int32), mask=x == _NEVER)


@dataclass(frozen=True)
class _Couriers:
    """One block's couriers: latent parameters and the transfer-bonus story (truth)."""

    home: np.ndarray
    second: np.ndarray  # the app a multi-homer also uses (never the home app)
    new: np.ndarray
    start_day: np.ndarray
    p_act: np.ndarray
    deliv_mean: np.ndarray
    fee: np.ndarray
    adopt: np.ndarray  # first day of multi-homing (_NEVER: not in the window)
    offer: np.ndarray  # index into params.offers (meaningful for takers only)
    taker: np.ndarray
    rival: np.ndarray
    switch: np.ndarray  # _NEVER for non-takers
    completed: np.ndarray
    end: np.ndarray  # switch + ride days: the payout day
    ride_end: np.ndarray  # riding (exclusive): end if completed, else the drop-out day
    back: np.ndarray  # flow-back day: on the rival in [switch, back); _NEVER: stays or never left
    referrer: np.ndarray  # index in the block of the referring courier, -1: none


def _draw_couriers(rng: np.random.Generator, p: CourierParams, n: int, n_days: int) -> _Couriers:
    n_plat = len(PLATFORMS)
    home = np.minimum(np.searchsorted(np.cumsum(p.home_share), rng.random(n) * sum(p.home_share)), n_plat - 1)
    second = (home + 1 + rng.integers(0, n_plat - 1, n)) % n_plat
    new = rng.random(n) < p.new_share
    late = new & (rng.random(n) < p.new_join_later)
    start_day = np.where(late, rng.integers(0, n_days, n), 0)
    p_act = p.activity.draw(rng, n)
    deliv_mean = p.deliveries_min + (p.deliveries_max - p.deliveries_min) * rng.random(n)
    fee = np.clip(p.fee_mean + p.fee_courier_sd * rng.standard_normal(n), 5.0, 8.0)
    # multi-homing share grows as start_share * growth^(day/365); a courier adopts once it exceeds q
    q = rng.random(n)
    with np.errstate(divide="ignore"):
        adopt_f = np.ceil(365.0 * np.log(q / p.multihome_start_share) / np.log(p.multihome_growth_per_year))
    adopt = np.where(q < p.multihome_start_share, 0, adopt_f)
    adopt = np.where(adopt >= n_days, _NEVER, adopt).astype(np.int64)

    # transfer bonuses: new couriers chase them more; one offer among those of rivals, open at the time
    take = rng.random(n) < np.where(new, p.take_prob_new, p.take_prob_experienced)
    u_offer, u_switch = rng.random(n), rng.random(n)
    windows = [(int(o.window[0] * n_days), int(o.window[1] * n_days)) for o in p.offers]
    eligible = np.stack(
        [(home != o.platform) & (hi > lo) for o, (lo, hi) in zip(p.offers, windows, strict=True)], axis=1
    )
    n_elig = eligible.sum(axis=1)
    pick = np.minimum((u_offer * n_elig).astype(np.int64), np.maximum(n_elig - 1, 0))
    offer = np.argmax(np.cumsum(eligible, axis=1) > pick[:, None], axis=1)  # the pick-th eligible offer
    lo = np.array([w[0] for w in windows])[offer]
    hi = np.array([w[1] for w in windows])[offer]
    switch = lo + (u_switch * np.maximum(hi - lo, 0)).astype(np.int64)
    taker = take & (n_elig > 0) & (switch >= start_day)
    ride_days = np.array([o.ride_days for o in p.offers])[offer]
    completed = rng.random(n) < p.complete_prob
    drop = switch + (rng.random(n) * ride_days).astype(np.int64)
    end = switch + ride_days
    goes_back = rng.random(n) < p.flow_back_prob
    delay = rng.integers(0, p.flow_back_delay_max + 1, n)
    back = np.where(completed, np.where(goes_back, end + delay, _NEVER), drop)
    referred = rng.random(n) < p.referral_prob
    u_ref = rng.random(n)
    has_referral = np.array([o.referral > 0 for o in p.offers])[offer] & taker & referred
    referrer = np.full(n, -1)
    for o_i, o in enumerate(p.offers):  # a courier of the rival platform, in the same block
        cand = np.nonzero(home == o.platform)[0]
        m = has_referral & (offer == o_i)
        if len(cand) and m.any():
            referrer[m] = cand[(u_ref[m] * len(cand)).astype(np.int64)]
    return _Couriers(
        home=home,
        second=second,
        new=new,
        start_day=start_day,
        p_act=p_act,
        deliv_mean=deliv_mean,
        fee=fee,
        adopt=adopt,
        offer=offer,
        taker=taker,
        rival=np.array([o.platform for o in p.offers])[offer],
        switch=np.where(taker, switch, _NEVER),
        completed=completed,
        end=end,
        ride_end=np.where(taker, np.where(completed, end, drop), 0),
        back=np.where(taker, back, _NEVER),
        referrer=referrer,
    )


@dataclass(frozen=True)
class _Timeline:
    active: np.ndarray  # (couriers × days) working at all
    multi: np.ndarray  # also online on a second app
    main: np.ndarray  # platform of the main session
    second_now: np.ndarray  # platform of the second session


def _timeline(rng: np.random.Generator, c: _Couriers, p: CourierParams, n_days: int) -> _Timeline:
    d = np.arange(n_days)[None, :]
    on_rival = (d >= c.switch[:, None]) & (d < c.back[:, None])
    main = np.where(on_rival, c.rival[:, None], c.home[:, None])
    riding = (d >= c.switch[:, None]) & (d < c.ride_end[:, None])
    u_act = rng.random(main.shape)
    active = (d >= c.start_day[:, None]) & (u_act < np.where(riding, p.ride_activity, c.p_act[:, None]))
    active[np.arange(len(c.home)), c.start_day] = True
    u_multi = rng.random(main.shape)
    multi = active & (d >= c.adopt[:, None]) & ~riding & (u_multi < p.multihome_day_prob)
    second_now = np.where(c.second[:, None] == main, c.home[:, None], c.second[:, None])
    return _Timeline(active, multi, main, second_now)


def _events(
    rng: np.random.Generator,
    c: _Couriers,
    tl: _Timeline,
    p: CourierParams,
    *,
    n_days: int,
    festival: tuple[int, int],
    clock: LocalClock,
    user_ids: pa.Array,
    block: int,
) -> tuple[pa.Table, np.ndarray]:
    """Events sorted by courier, day, session (main before second); returns them and each courier's first ts."""
    mc, md = np.nonzero(tl.active)
    sc, sd = np.nonzero(tl.multi)
    g_c = np.concatenate([mc, sc])
    g_d = np.concatenate([md, sd])
    g_plat = np.concatenate([tl.main[mc, md], tl.second_now[sc, sd]])
    scale = np.concatenate(
        [np.where(tl.multi[mc, md], p.main_share_when_multi, 1.0), np.full(len(sc), p.second_share_when_multi)]
    )
    slot = np.concatenate([np.zeros(len(mc), dtype=np.int64), np.ones(len(sc), dtype=np.int64)])
    g_order = np.argsort((g_c * n_days + g_d) * 2 + slot, kind="stable")
    g_c, g_d, g_plat, scale = g_c[g_order], g_d[g_order], g_plat[g_order], scale[g_order]
    n_groups = len(g_c)
    size = 1 + rng.poisson(c.deliv_mean[g_c] * scale)
    row_g = np.repeat(np.arange(n_groups), size)
    is_online = np.zeros(len(row_g), dtype=bool)
    is_online[np.concatenate([[0], np.cumsum(size)[:-1]])] = True
    sec = COURIER_HOURS.sample_groups(rng, row_g, n_groups, is_online)
    row_d = g_d[row_g]
    ts = clock.utc_us(row_d, sec)
    in_fest = (row_d >= festival[0]) & (row_d <= festival[1])
    amount = c.fee[g_c[row_g]] + p.fee_delivery_sd * rng.standard_normal(len(row_g))
    amount = np.round(np.clip(amount + p.fee_festival_surcharge * in_fest, 3.0, 15.0), 2)
    amount[is_online] = np.nan
    n_rows = len(row_g)
    row_c = g_c[row_g]
    events = pa.table(
        {
            "event_id": id_strings(f"ce{block}-", 0, n_rows, 1),
            "user_id": user_ids.take(pa.array(row_c)),
            "ts": ts_array(ts),
            "event": pa.array(COURIER_EVENTS, type=pa.string()).take(pa.array((~is_online).astype(np.int64))),
            "amount": float_array(amount),
            "platform": pa.array(PLATFORMS, type=pa.string()).take(pa.array(g_plat[row_g].astype(np.int64))),
            "text": pa.nulls(n_rows, pa.string()),
        },
        schema=EVENT_SCHEMA,
    )
    # rows are sorted by courier and start_day is forced active, so every courier has a non-empty run
    first_ts = np.minimum.reduceat(ts, np.searchsorted(row_c, np.arange(len(c.home))))
    return events, first_ts


def _bonus_incentives(
    c: _Couriers, p: CourierParams, *, n_days: int, clock: LocalClock, user_ids: pa.Array
) -> pa.Table:
    """The promise is granted on the switch day; paid (``redeemed_ts``, cost) on completion inside the window.

    A referred taker's referrer gets ``referral`` on the same terms.
    """
    t_idx = np.nonzero(c.taker)[0]
    grant_sec = np.full(len(t_idx), p.payout_hour * 3600)
    grant = clock.utc_us(c.switch[t_idx], grant_sec)
    paid = c.completed[t_idx] & (c.end[t_idx] < n_days)
    payout = np.where(paid, clock.utc_us(np.minimum(c.end[t_idx], n_days - 1), grant_sec), NULL_TS)
    value = np.array([o.value for o in p.offers])[c.offer[t_idx]]
    expires = clock.end_of_day_us(c.end[t_idx] + p.flow_back_delay_max)
    campaigns = np.array([o.campaign for o in p.offers], dtype=object)[c.offer[t_idx]]
    r_sel = c.referrer[t_idx] >= 0
    r_value = np.array([o.referral for o in p.offers])[c.offer[t_idx]][r_sel]
    inc_user = np.concatenate([t_idx, c.referrer[t_idx][r_sel]])
    inc_ts = np.concatenate([grant, grant[r_sel]])
    inc_value = np.concatenate([value, r_value])
    inc_paid = np.concatenate([paid, paid[r_sel]])
    inc_red = np.concatenate([payout, payout[r_sel]])
    inc_exp = np.concatenate([expires, expires[r_sel]])
    inc_campaign = np.concatenate([campaigns, campaigns[r_sel] + "_referral"])
    order = np.lexsort((inc_value, inc_ts, inc_user))
    return pa.table(
        {
            "user_id": user_ids.take(pa.array(inc_user[order].astype(np.int64))),
            "ts": ts_array(inc_ts[order]),
            "kind": pa.array(np.full(len(order), INCENTIVE_KINDS[3]), type=pa.string()),
            "value": pa.array(inc_value[order].astype(np.float64)),
            "cost": pa.array(np.where(inc_paid, inc_value, 0.0)[order].astype(np.float64)),
            "campaign": pa.array(inc_campaign[order], type=pa.string()),
            "expires_ts": ts_array(inc_exp[order]),
            "redeemed_ts": ts_array(inc_red[order]),
        },
        schema=INCENTIVES_SCHEMA,
    )


def simulate_couriers(
    rng: np.random.Generator,
    params: CourierParams,
    *,
    block: int,
    first: int,
    n: int,
    n_days: int,
    festival: tuple[int, int],
    clock: LocalClock,
    id_width: int,
) -> CourierBlock:
    """Simulate couriers ``first .. first+n-1`` over the window. The order of the draws defines the output."""
    p = params
    c = _draw_couriers(rng, p, n, n_days)
    tl = _timeline(rng, c, p, n_days)
    user_ids = id_strings("c", first, n, id_width)
    events, first_ts = _events(
        rng, c, tl, p, n_days=n_days, festival=festival, clock=clock, user_ids=user_ids, block=block
    )
    plat = pa.array(PLATFORMS, type=pa.string())
    users = pa.table(
        {
            "user_id": user_ids,
            "signup_ts": ts_array(first_ts),
            "home_platform": plat.take(pa.array(c.home)),
            "new_courier": pa.array(c.new),
        },
        schema=COURIER_USERS_SCHEMA,
    )
    no_bonus = ~c.taker
    truth = pa.table(
        {
            "user_id": user_ids,
            "home_platform": plat.take(pa.array(c.home)),
            "second_platform": plat.take(pa.array(c.second)),
            "new_courier": pa.array(c.new),
            "start_day": pa.array(c.start_day.astype(np.int32)),
            "p_active": pa.array(c.p_act),
            "deliveries_mean": pa.array(c.deliv_mean),
            "fee_mean": pa.array(c.fee),
            "multihome_day": _nullable_int(c.adopt),
            "multihoming": pa.array(tl.multi.any(axis=1)),
            "bonus_campaign": pa.array(np.array([o.campaign for o in p.offers], dtype=object)[c.offer], mask=no_bonus),
            "rival_platform": pa.array(np.array(PLATFORMS, dtype=object)[c.rival], mask=no_bonus),
            "switch_day": _nullable_int(c.switch),
            "completed": pa.array(c.completed, mask=no_bonus),
            "bonus_end_day": pa.array(c.end.astype(np.int32), mask=no_bonus),
            "flow_back_day": _nullable_int(c.back),
            "referrer_id": user_ids.take(pa.array(np.maximum(c.referrer, 0), mask=c.referrer < 0)),
        },
        schema=COURIER_TRUTH_SCHEMA,
    )
    return CourierBlock(
        events=events,
        users=users,
        incentives=_bonus_incentives(c, p, n_days=n_days, clock=clock, user_ids=user_ids),
        truth=truth,
    )
