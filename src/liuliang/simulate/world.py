"""The festival world: a synthetic consumer population with planted, exactly known ground truth.

Why: every estimator in liuliang (retention curves, shifted-beta-geometric fits, uplift on an experiment)
needs data where the right answer is known *exactly*, not re-estimated from the same sample. The world
mirrors the 2026 Spring Festival subsidy war (``shared/domain.md``): cash red packets, free-order cards
that expire on 28 Feb and 30 Apr, a share-link campaign stopped after 3 days, and a post-festival
"7-day AI life challenge" experiment.

The consumer model (see ``truth/params.json`` for every number):

- Acquisition: per local day and channel, a deterministic intensity (organic steady with weekly
  seasonality; red_packet and free_order spikes peaking on New Year's Eve; social_share for 3 days).
- Each user is a ``hunter`` (incentive hunter) or ``task`` user (uses the assistant to do things); some
  task users are ``habitual`` (hazard 0: the habit floor). Daily churn hazard ``h ~ Beta`` by type, so the
  aggregate curve is shifted-beta-geometric: power-law decay with a floor. While alive (days 0..D-1,
  ``D ~ Geometric(h)``) the user is active on a day with probability ``lam ~ Beta``.
- A free-order card holder whose plan is to use the card at the deadline shows up on one of the last three
  days before expiry with known probabilities ``b_u(k)``, independently of everything else, even if churned.
- Hence, exactly: ``P(active on day k>0) = 1 - (1 - S_u(k)·lam_u)·(1 - b_u(k))`` with
  ``S_u(k) = (1 - h_u·(1 - e_u·treated_u))^k``, and day 0 is always active. ``truth/channel_retention`` is the
  mean of these probabilities, and ``truth/users`` holds each user's parameters and true treatment effect.

Incentives and extra events (red packets, card redemptions, coupons, points) are only emitted on days the
model already made active, so they never perturb the exact activity law.

Determinism: every random stream is derived from ``seed`` and a fixed-size block of users
(:data:`BLOCK_USERS`), and blocks are simulated and written in order, so the content of every file is a
function of the config alone; ``chunk_users`` only decides how many blocks share one events part file.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from liuliang.errors import LiuliangError
from liuliang.simulate.texts import sample_text_indices, text_pools

#: Users per random-stream block. Fixed, so no output depends on how users are grouped into chunks.
BLOCK_USERS = 2_000
#: Threads simulating blocks ahead of the writer (output does not depend on it).
WORKERS = 2
#: Sentinel for a null timestamp in int64 microsecond arrays.
NULL_TS = np.iinfo(np.int64).min

CHANNELS = ("organic", "red_packet", "free_order", "social_share")
ORGANIC, RED_PACKET, FREE_ORDER, SOCIAL_SHARE = range(4)
CAMPAIGNS = ("organic", "cny2026_red_packet", "cny2026_treat_you", "cny2026_share")
EVENT_KINDS = ("app_open", "ask", "order", "redeem_red_packet", "share")
EV_OPEN, EV_ASK, EV_ORDER, EV_REDEEM, EV_SHARE = range(5)
INCENTIVE_KINDS = ("red_packet", "coupon", "free_order", "transfer_bonus", "points", "other")
INC_RED_PACKET, INC_COUPON, INC_FREE_ORDER, INC_TRANSFER, INC_POINTS, INC_OTHER = range(6)
CARD_PLANS = ("immediate", "deadline", "organic")
COUPON_CAMPAIGN = "first_order_off"

_STREAM_SCHEDULE, _STREAM_CONSUMERS, _STREAM_COURIERS = 0, 1, 2
T = TypeVar("T")
R = TypeVar("R")
_TS = pa.timestamp("us", tz="UTC")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("ts", _TS),
        ("event", pa.string()),
        ("amount", pa.float64()),
        ("platform", pa.string()),
        ("text", pa.string()),
    ]
)
USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("signup_ts", _TS),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("acquisition_cost", pa.float64()),
    ]
)
INCENTIVES_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("ts", _TS),
        ("kind", pa.string()),
        ("value", pa.float64()),
        ("cost", pa.float64()),
        ("campaign", pa.string()),
        ("expires_ts", _TS),
        ("redeemed_ts", _TS),
    ]
)
ASSIGNMENTS_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("experiment", pa.string()), ("variant", pa.string()), ("ts", _TS)]
)
TRUTH_USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("channel", pa.string()),
        ("type", pa.string()),
        ("habitual", pa.bool_()),
        ("hazard", pa.float64()),
        ("lam", pa.float64()),
        ("mu", pa.float64()),
        ("hazard_reduction", pa.float64()),
        ("treated", pa.bool_()),
        ("effect_d7", pa.float64()),
        ("effect_d30", pa.float64()),
        ("acq_day", pa.int32()),
        ("card_expiry_day", pa.int32()),
        ("card_plan", pa.string()),
    ]
)
RETENTION_SCHEMA = pa.schema(
    [
        ("channel", pa.string()),
        ("day", pa.int32()),
        ("expected_share", pa.float64()),
        ("n_observable", pa.int64()),
        ("expected_share_all", pa.float64()),
        ("n_users", pa.int64()),
    ]
)


# ----------------------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------------------
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
    chunk_users : users per events part file (rounded down to whole blocks of :data:`BLOCK_USERS`, at
        least one block). Memory is bounded by the block, and no file's *content* depends on this value.
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


@dataclass(frozen=True)
class Beta:
    """Beta(a, b) distribution of a per-user probability."""

    a: float
    b: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.a, self.b, n)


@dataclass(frozen=True)
class Gamma:
    """Gamma(shape, scale) distribution of a per-user Poisson rate."""

    shape: float
    scale: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, n)


@dataclass(frozen=True)
class ConsumerParams:
    """Every true parameter of the consumer model; tuples are indexed by :data:`CHANNELS`.

    Calibrated (by the exact formula, not by simulation) so the channels' day-7/day-30 retention lands
    where the press put it: red_packet D7 ≈ 17%, D30 ≈ 11%; free_order D7 ≈ 27%; organic D7 ≈ 37%;
    social_share D7 ≈ 11%, D30 ≈ 4%. Hunters' hazard Beta(1, 2) gives the power-law tail, habitual task
    users (hazard 0) the floor.
    """

    # acquisition intensity (relative users per local day)
    organic_daily: float = 1.0
    organic_weekend_lift: float = 0.15
    organic_festival_lift: float = 0.25
    red_packet_peak: float = 25.0
    red_packet_decay_days: float = 3.0
    free_order_peak: float = 6.0
    free_order_decay_days: float = 5.0
    free_order_tail_daily: float = 0.4
    free_order_tail_days: int = 28
    share_launch: tuple[float, ...] = (10.0, 12.0, 6.0)  # festival_start + 0, 1, 2; restricted on day 3
    # latent types
    hunter_share: tuple[float, ...] = (0.20, 0.72, 0.45, 0.88)
    habit_share_of_task: tuple[float, ...] = (0.45, 0.45, 0.40, 0.15)
    hazard_hunter: Beta = Beta(1.0, 2.0)
    hazard_task: Beta = Beta(1.2, 14.0)
    activity_hunter: Beta = Beta(2.0, 4.0)
    activity_task: Beta = Beta(5.0, 4.0)
    events_hunter: Gamma = Gamma(2.0, 1.0)  # extra events per active day: 1 + Poisson(mu)
    events_task: Gamma = Gamma(2.0, 3.2)
    order_share_hunter: float = 0.03
    order_share_task: float = 0.08
    task_text_share_hunter: float = 0.15
    task_text_share_task: float = 0.80
    script_mix: tuple[float, ...] = (0.75, 0.10, 0.15)  # zh-Hans, zh-Hant, en (a fixed script per user)
    # order amounts (CNY): food mostly, some tickets
    food_median: float = 35.0
    food_sigma: float = 0.35
    ticket_share: float = 0.12
    ticket_median: float = 180.0
    ticket_sigma: float = 0.6
    # acquisition cost per user (CNY): mean by channel, lognormal noise
    cac_mean: tuple[float, ...] = (2.0, 12.0, 25.0, 6.0)
    cac_sigma: float = 0.25
    # red packets
    red_packet_min: float = 0.5
    red_packet_max: float = 8.88
    red_packet_jackpot_prob: float = 0.03
    festival_packet_prob: float = 0.5  # per active festival day of a red_packet user after day 0
    share_packet_max: float = 3.0
    shares_per_day: float = 1.5  # 1 + Poisson(shares_per_day) shares per active campaign day
    share_after_restriction_prob: float = 0.05
    # free-order cards ("treat you"): value uniform in [min, max] yuan; expire at local end of day
    card_value_min: int = 15
    card_value_max: int = 30
    card_expiries: tuple[tuple[int, int], ...] = ((2, 28), (4, 30))  # (month, day) in the festival's year
    card_first_expiry_prob: float = 0.5  # when both expiries are possible
    card_fallback_days: int = 30  # expiry after acquisition when no listed date is at least 3 days ahead
    card_plan_probs: tuple[float, ...] = (0.45, 0.35, 0.20)  # immediate, deadline, organic (first visit)
    bump_probs: tuple[float, ...] = (0.45, 0.25, 0.15)  # deadline plan: back on expiry day, -1, -2
    # "first order of the day ¥X off" after the festival
    coupon_prob: float = 0.08
    coupon_use_prob: float = 0.6
    coupon_values: tuple[float, ...] = (3.0, 4.0, 5.0)
    # the experiment
    experiment_name: str = "challenge7"
    experiment_days: int = 28  # acquisitions in [festival_end, festival_end + experiment_days) take part
    treatment_share: float = 0.5
    effect_hunter: float = 0.05  # treated hazard = h * (1 - effect)
    effect_task: float = 0.35
    challenge_days: int = 7  # treated users get a points grant on each active day k < challenge_days
    points_min: float = 1.0
    points_max: float = 5.0


# ----------------------------------------------------------------------------------------------------------
# local time
# ----------------------------------------------------------------------------------------------------------
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


#: Consumers: night lull, lunch peak (11-13h) and evening peak (18-21h).
CONSUMER_HOURS = HourProfile(
    (
        *(1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4.0, 4.5, 6.0),  # 00-11h
        *(7.0, 5.5, 4.0, 3.8, 4.0, 5.0, 6.5, 7.5, 7.5, 6.5, 4.5, 2.5),  # 12-23h
    )
)


def _rng(seed: int, stream: int, block: int) -> np.random.Generator:
    """Independent stream per (seed, purpose, block): the same users always get the same draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, block)))


def id_strings(prefix: str, first: int, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded integers ``first .. first+n-1``, built in Arrow (no Python loop)."""
    nums = pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width=width, padding="0"), "")


def ts_array(us: np.ndarray) -> pa.Array:
    """int64 UTC microseconds (``NULL_TS`` for null) → Arrow ``timestamp[us, UTC]``."""
    us = np.asarray(us, dtype=np.int64)
    mask = us == NULL_TS
    return pa.array(us, type=pa.int64(), mask=mask if mask.any() else None).cast(_TS)


def float_array(x: np.ndarray) -> pa.Array:
    """float64 with NaN → null."""
    x = np.asarray(x, dtype=np.float64)
    mask = np.isnan(x)
    return pa.array(x, type=pa.float64(), mask=mask if mask.any() else None)


def _codes(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(names, type=pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


# ----------------------------------------------------------------------------------------------------------
# calendar of the world
# ----------------------------------------------------------------------------------------------------------
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
    rng = _rng(cfg.seed, _STREAM_SCHEDULE, 0)
    counts = rng.multinomial(cfg.n_users, w.ravel() / w.sum())
    cells = np.arange(w.size)
    day = np.repeat(cells // w.shape[1], counts).astype(np.int32)
    channel = np.repeat(cells % w.shape[1], counts).astype(np.int8)
    order = np.lexsort((rng.random(cfg.n_users), day))
    return day[order], channel[order]


# ----------------------------------------------------------------------------------------------------------
# exact probabilities
# ----------------------------------------------------------------------------------------------------------
def bump_prob(
    k: np.ndarray, acq_day: np.ndarray, bump_base: np.ndarray, deadline: np.ndarray, bump_probs: tuple
) -> np.ndarray:
    """``b_u(k)``: probability a deadline-plan card holder comes back on relative day ``k`` (broadcasts)."""
    b = np.zeros(np.broadcast_shapes(np.shape(k), np.shape(acq_day)))
    for j, pj in enumerate(bump_probs):
        b = b + pj * (deadline & (k == bump_base - j - acq_day) & (k > 0))
    return b


def active_prob(k: np.ndarray, hazard: np.ndarray, lam: np.ndarray, bump: np.ndarray) -> np.ndarray:
    """Exact ``P(active on relative day k)``; ``hazard`` already includes any treatment effect."""
    surv = np.exp(k * np.log1p(-hazard))
    p = 1.0 - (1.0 - surv * lam) * (1.0 - bump)
    return np.where(k == 0, 1.0, p)


# ----------------------------------------------------------------------------------------------------------
# one block of consumers
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorldContext:
    """Everything resolved once and shared read-only by all blocks."""

    config: WorldConfig
    params: ConsumerParams
    calendar: Calendar
    clock: LocalClock
    id_width: int


@dataclass(frozen=True)
class ConsumerBlock:
    """Tables of one block plus its contribution to the retention truth (sums, merged in block order)."""

    events: pa.Table
    users: pa.Table
    incentives: pa.Table
    assignments: pa.Table
    truth: pa.Table
    p_obs_sum: np.ndarray  # (channels, days) Σ P over users observable on relative day k
    n_obs: np.ndarray  # (channels, days)
    p_all_sum: np.ndarray  # (channels, days) Σ P over all users
    n_users: np.ndarray  # (channels,)


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
                "kind": _codes(INCENTIVE_KINDS, c["kind"][order]),
                "value": float_array(c["value"][order]),
                "cost": float_array(c["cost"][order]),
                "campaign": pa.array(c["campaign"][order], type=pa.string()),
                "expires_ts": ts_array(c["exp"][order]),
                "redeemed_ts": ts_array(c["red"][order]),
            },
            schema=INCENTIVES_SCHEMA,
        )


def _first_per_user(ud_idx: np.ndarray, users_of_ud: np.ndarray) -> np.ndarray:
    """Among user-day indices (sorted by user then day), the first one of each user."""
    if len(ud_idx) == 0:
        return ud_idx
    u = users_of_ud[ud_idx]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = u[1:] != u[:-1]
    return ud_idx[keep]


def _order_amounts(rng: np.random.Generator, n: int, p: ConsumerParams) -> np.ndarray:
    ticket = rng.random(n) < p.ticket_share
    z = rng.standard_normal(n)
    amount = np.where(ticket, p.ticket_median * np.exp(p.ticket_sigma * z), p.food_median * np.exp(p.food_sigma * z))
    return np.round(amount, 2)


@dataclass(frozen=True)
class _Users:
    """One block's users: acquisition, latent type and parameters, experiment arm, free-order card."""

    acq: np.ndarray  # local day index
    ch: np.ndarray  # channel code
    hunter: np.ndarray
    habitual: np.ndarray
    hazard: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
    script: np.ndarray  # index into texts.SCRIPTS
    cac: np.ndarray
    in_exp: np.ndarray
    treated: np.ndarray
    reduction: np.ndarray  # treated hazard = hazard * (1 - reduction)
    hazard_eff: np.ndarray  # the hazard the user actually lives with
    has_card: np.ndarray
    expiry: np.ndarray  # card expiry day index (-1 without a card)
    plan: np.ndarray  # index into CARD_PLANS (-1 without a card)
    bump_day: np.ndarray  # deadline plan: the day the user comes back to redeem (-1: does not)

    @property
    def deadline(self) -> np.ndarray:
        return self.plan == 1


def _choice(rng: np.random.Generator, probs: tuple[float, ...], n: int) -> np.ndarray:
    """Categorical draws with (normalised) ``probs``."""
    idx = np.searchsorted(np.cumsum(probs), rng.random(n) * sum(probs), side="right")
    return np.minimum(idx, len(probs) - 1)


def _card_expiry(acq: np.ndarray, has_card: np.ndarray, u: np.ndarray, cal: Calendar, p: ConsumerParams) -> np.ndarray:
    """Each listed expiry at least 3 days after acquisition is taken with ``card_first_expiry_prob``, the last
    one always; a card acquired too late for all of them expires ``card_fallback_days`` after acquisition."""
    expiry = np.full(len(acq), -1, dtype=np.int64)
    pending = has_card.copy()
    for i, e in enumerate(cal.card_expiries):
        ok = pending & (acq + 3 <= e)
        if i < len(cal.card_expiries) - 1:
            ok &= u < p.card_first_expiry_prob
        expiry = np.where(ok, e, expiry)
        pending &= ~ok
    return np.where(pending, acq + p.card_fallback_days, expiry)


def _draw_users(rng: np.random.Generator, ctx: WorldContext, acq_day: np.ndarray, channel: np.ndarray) -> _Users:
    cfg, p, cal = ctx.config, ctx.params, ctx.calendar
    n = len(acq_day)
    acq = acq_day.astype(np.int64)
    ch = channel.astype(np.int64)
    hunter = rng.random(n) < np.asarray(p.hunter_share)[ch]
    habitual = ~hunter & (rng.random(n) < np.asarray(p.habit_share_of_task)[ch])
    hazard = np.where(hunter, p.hazard_hunter.draw(rng, n), p.hazard_task.draw(rng, n))
    hazard = np.where(habitual, 0.0, np.minimum(hazard, 1.0 - 1e-9))
    lam = np.where(hunter, p.activity_hunter.draw(rng, n), p.activity_task.draw(rng, n))
    mu = np.where(hunter, p.events_hunter.draw(rng, n), p.events_task.draw(rng, n))
    script = _choice(rng, p.script_mix, n)
    z = rng.standard_normal(n)
    cac = np.round(np.asarray(p.cac_mean)[ch] * np.exp(p.cac_sigma * z - p.cac_sigma**2 / 2), 2)

    in_exp = cfg.experiment & (acq >= cal.exp_lo) & (acq < cal.exp_hi)
    treated = in_exp & (rng.random(n) < p.treatment_share)
    reduction = np.where(hunter, p.effect_hunter, p.effect_task)

    has_card = ch == FREE_ORDER
    expiry = _card_expiry(acq, has_card, rng.random(n), cal, p)
    plan = np.where(has_card, _choice(rng, p.card_plan_probs, n), -1)
    bump_j = np.searchsorted(np.cumsum(p.bump_probs), rng.random(n), side="right")  # == len: not back
    bump_day = np.where((plan == 1) & (bump_j < len(p.bump_probs)), expiry - bump_j, -1)
    return _Users(
        acq=acq,
        ch=ch,
        hunter=hunter,
        habitual=habitual,
        hazard=hazard,
        lam=lam,
        mu=mu,
        script=script,
        cac=cac,
        in_exp=in_exp,
        treated=treated,
        reduction=reduction,
        hazard_eff=np.where(treated, hazard * (1.0 - reduction), hazard),
        has_card=has_card,
        expiry=expiry,
        plan=plan,
        bump_day=bump_day,
    )


@dataclass(frozen=True)
class _ExactTruth:
    p_obs_sum: np.ndarray
    n_obs: np.ndarray
    p_all_sum: np.ndarray
    n_users: np.ndarray
    effect_d7: np.ndarray
    effect_d30: np.ndarray


def _exact_truth(u: _Users, p: ConsumerParams, n_days: int) -> _ExactTruth:
    """Per-channel sums of the exact activity probabilities, and each user's true treatment effect."""
    k = np.arange(n_days)[None, :]
    bump = bump_prob(k, u.acq[:, None], u.expiry[:, None], u.deadline[:, None], p.bump_probs)
    prob = active_prob(k, u.hazard_eff[:, None], u.lam[:, None], bump)
    observable = (u.acq[:, None] + k) < n_days
    p_obs = prob * observable
    n_ch = len(CHANNELS)
    p_obs_sum, p_all_sum = np.zeros((n_ch, n_days)), np.zeros((n_ch, n_days))
    n_obs, n_users = np.zeros((n_ch, n_days), dtype=np.int64), np.zeros(n_ch, dtype=np.int64)
    for c in range(n_ch):
        m = u.ch == c
        p_obs_sum[c] = p_obs[m].sum(axis=0)
        p_all_sum[c] = prob[m].sum(axis=0)
        n_obs[c] = observable[m].sum(axis=0)
        n_users[c] = m.sum()
    effects = []
    for day in (7, 30):
        kv = np.full(len(u.acq), day)
        b = bump_prob(kv, u.acq, u.expiry, u.deadline, p.bump_probs)
        effects.append(active_prob(kv, u.hazard * (1 - u.reduction), u.lam, b) - active_prob(kv, u.hazard, u.lam, b))
    return _ExactTruth(p_obs_sum, n_obs, p_all_sum, n_users, effects[0], effects[1])


def _realise_activity(rng: np.random.Generator, u: _Users, n_days: int) -> np.ndarray:
    """Boolean (users × local days) activity drawn from exactly the law in :func:`active_prob`.

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


@dataclass(frozen=True)
class _Rows:
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


def _build_rows(rng: np.random.Generator, ctx: WorldContext, u: _Users, act: np.ndarray) -> _Rows:
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
    return _Rows(
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


def _events_table(rows: _Rows, user_ids: pa.Array, block: int) -> pa.Table:
    """Rows grouped by user-day (user, then day), ``app_open`` first in each; ids ``e{block}-{n}``."""
    order = np.argsort(rows.ud, kind="stable")
    n_rows = len(order)
    text_idx = rows.text_idx[order]
    return pa.table(
        {
            "event_id": id_strings(f"e{block}-", 0, n_rows, 1),
            "user_id": user_ids.take(pa.array(rows.uu[rows.ud[order]])),
            "ts": ts_array(rows.ts[order]),
            "event": _codes(EVENT_KINDS, rows.kind[order]),
            "amount": float_array(rows.amount[order]),
            "platform": pa.nulls(n_rows, pa.string()),
            "text": text_pools().texts.take(pa.array(np.maximum(text_idx, 0), mask=text_idx < 0)),
        },
        schema=EVENT_SCHEMA,
    )


def _incentives_table(
    rng: np.random.Generator, ctx: WorldContext, u: _Users, rows: _Rows, signup_ts: np.ndarray, user_ids: pa.Array
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


def simulate_consumers(ctx: WorldContext, block: int, acq_day: np.ndarray, channel: np.ndarray) -> ConsumerBlock:
    """Simulate one block of users over the whole window, exactly and vectorised.

    The order of the random draws (the call order below) is part of the output's definition.
    """
    rng = _rng(ctx.config.seed, _STREAM_CONSUMERS, block)
    n_days = ctx.config.days
    u = _draw_users(rng, ctx, acq_day, channel)
    exact = _exact_truth(u, ctx.params, n_days)
    act = _realise_activity(rng, u, n_days)
    rows = _build_rows(rng, ctx, u, act)
    del act
    n = len(u.acq)
    user_ids = id_strings("u", block * BLOCK_USERS, n, ctx.id_width)
    signup_ts = rows.open_ts[np.searchsorted(rows.uu, np.arange(n))]  # day 0 is each user's first active day
    incentives = _incentives_table(rng, ctx, u, rows, signup_ts, user_ids)

    users = pa.table(
        {
            "user_id": user_ids,
            "signup_ts": ts_array(signup_ts),
            "channel": _codes(CHANNELS, u.ch),
            "campaign": _codes(CAMPAIGNS, u.ch),
            "acquisition_cost": pa.array(u.cac, type=pa.float64()),
        },
        schema=USERS_SCHEMA,
    )
    exp_idx = np.nonzero(u.in_exp)[0]
    assignments = pa.table(
        {
            "user_id": user_ids.take(pa.array(exp_idx)),
            "experiment": pa.array(np.full(len(exp_idx), ctx.params.experiment_name), type=pa.string()),
            "variant": _codes(("control", "treatment"), u.treated[exp_idx].astype(np.int64)),
            "ts": ts_array(signup_ts[exp_idx]),
        },
        schema=ASSIGNMENTS_SCHEMA,
    )
    truth = pa.table(
        {
            "user_id": user_ids,
            "channel": _codes(CHANNELS, u.ch),
            "type": _codes(("task", "hunter"), u.hunter.astype(np.int64)),
            "habitual": pa.array(u.habitual),
            "hazard": pa.array(u.hazard),
            "lam": pa.array(u.lam),
            "mu": pa.array(u.mu),
            "hazard_reduction": pa.array(u.reduction.astype(np.float64)),
            "treated": pa.array(u.treated, mask=~u.in_exp),
            "effect_d7": pa.array(exact.effect_d7),
            "effect_d30": pa.array(exact.effect_d30),
            "acq_day": pa.array(u.acq.astype(np.int32)),
            "card_expiry_day": pa.array(u.expiry.astype(np.int32), mask=~u.has_card),
            "card_plan": pa.array(np.asarray(CARD_PLANS, dtype=object)[np.maximum(u.plan, 0)], mask=~u.has_card),
        },
        schema=TRUTH_USERS_SCHEMA,
    )
    return ConsumerBlock(
        events=_events_table(rows, user_ids, block),
        users=users,
        incentives=incentives,
        assignments=assignments,
        truth=truth,
        p_obs_sum=exact.p_obs_sum,
        n_obs=exact.n_obs,
        p_all_sum=exact.p_all_sum,
        n_users=exact.n_users,
    )


# ----------------------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------------------
def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """zstd; dictionary encoding only for repetitive strings (a unique ``event_id`` or a timestamp gains
    nothing from a dictionary, and trying one costs a third of the write time)."""
    repetitive = [f.name for f in schema if pa.types.is_string(f.type) and f.name != "event_id"]
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=repetitive)


class _FileSink:
    """One Parquet file, written block by block; row groups are cut at a fixed row count.

    Why buffer: a block of 2,000 users makes tiny tables (users, incentives), and thousands of tiny row
    groups slow every reader down. The cut points depend only on the row stream, never on chunking.
    """

    def __init__(self, path: Path, schema: pa.Schema, rows_per_group: int = 1_000_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.rows = path, 0
        self._writer = _parquet_writer(path, schema)
        self._pending: list[pa.Table] = []
        self._pending_rows, self._rows_per_group = 0, rows_per_group

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self._rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if self._pending_rows:
            table = pa.concat_tables(self._pending).combine_chunks()
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class _PartSink:
    """``part-NNNNN.parquet`` files of ``blocks_per_part`` blocks each, one row group per block."""

    def __init__(self, directory: Path, schema: pa.Schema, blocks_per_part: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("part-*.parquet"):  # a previous run's parts would join the dataset
            stale.unlink()
        self.directory, self.schema, self.blocks_per_part = directory, schema, blocks_per_part
        self.paths: list[Path] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, block: int, table: pa.Table) -> None:
        part = block // self.blocks_per_part
        if part == len(self.paths):
            self.close()
            path = self.directory / f"part-{part:05d}.parquet"
            self.paths.append(path)
            self._writer = _parquet_writer(path, self.schema)
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> None:
        """Close; with no rows at all (no couriers), still write one empty part so the dataset reads."""
        if not self.paths:
            self.write(0, self.schema.empty_table())
        self.close()


# ----------------------------------------------------------------------------------------------------------
# orchestration
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorldManifest:
    """What :func:`generate_world` wrote: paths and row counts, plus the config that produced them."""

    config: WorldConfig
    out_dir: Path
    events: tuple[Path, ...]
    users: Path
    incentives: Path
    assignments: Path
    courier_events: tuple[Path, ...]
    courier_users: Path
    courier_incentives: Path
    truth_users: Path
    truth_channel_retention: Path
    truth_couriers: Path
    truth_params: Path
    n_events: int
    n_users: int
    n_incentives: int
    n_assignments: int
    n_courier_events: int
    n_couriers: int
    n_courier_incentives: int


def _blocks(n: int, size: int) -> Iterator[tuple[int, int, int]]:
    for b in range(math.ceil(n / size)):
        yield b, b * size, min((b + 1) * size, n)


def _ordered_map(fn: Callable[[T], R], items: Iterable[T], pool: ThreadPoolExecutor, ahead: int) -> Iterator[R]:
    """``map(fn, items)`` on a thread pool, results in input order, at most ``ahead`` blocks in flight.

    Why threads: NumPy and Arrow release the GIL for the heavy work, so the next block is simulated while
    the current one is encoded to Parquet. Why ordered and bounded: files are written in block order
    (determinism) and memory stays at a few blocks.
    """
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _retention_table(p_obs: np.ndarray, n_obs: np.ndarray, p_all: np.ndarray, n_users: np.ndarray) -> pa.Table:
    """``truth/channel_retention``: per channel (and "all") and relative day k.

    ``expected_share`` is the mean exact P(active on day k) over the ``n_observable`` users whose day
    ``acq + k`` is inside the window: directly comparable with what an analyst can measure (null when no user
    is observable). ``expected_share_all`` is the same mean over all ``n_users`` of the channel, the
    population curve regardless of where the window ends.
    """
    names = (*CHANNELS, "all")
    p_obs = np.vstack([p_obs, p_obs.sum(axis=0)])
    n_obs = np.vstack([n_obs, n_obs.sum(axis=0)])
    p_all = np.vstack([p_all, p_all.sum(axis=0)])
    n_users = np.append(n_users, n_users.sum())
    n_days = p_obs.shape[1]
    n_rep = np.repeat(n_users, n_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (p_obs / n_obs).ravel()
        share_all = (p_all / n_users[:, None]).ravel()
    return pa.table(
        {
            "channel": pa.array(np.repeat(np.asarray(names, dtype=object), n_days), type=pa.string()),
            "day": pa.array(np.tile(np.arange(n_days, dtype=np.int32), len(names))),
            "expected_share": pa.array(share, mask=n_obs.ravel() == 0),
            "n_observable": pa.array(n_obs.ravel().astype(np.int64)),
            "expected_share_all": pa.array(share_all, mask=n_rep == 0),
            "n_users": pa.array(n_rep.astype(np.int64)),
        },
        schema=RETENTION_SCHEMA,
    )


def generate_world(
    config: WorldConfig,
    out_dir: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> WorldManifest:
    """Generate the festival world under ``out_dir`` and return what was written.

    Memory is bounded by one block of users (:data:`BLOCK_USERS`) and one of couriers, whatever
    ``n_users`` is. Files this function owns are overwritten; stale ``part-*.parquet`` files in the two
    events directories are removed first so an earlier, larger run cannot leak into the dataset.

    ``progress(done, total)`` is called after each block (consumer and courier blocks both count).
    """
    from liuliang.simulate import couriers as cm  # couriers builds on this module's clock and helpers

    cfg = config
    out = Path(out_dir)
    p, cp = ConsumerParams(), cm.CourierParams()
    cal = Calendar.resolve(cfg, p)
    used_expiries = [e for e in cal.card_expiries if 0 <= e < cfg.days + 3]
    horizon = max([cfg.days + p.card_fallback_days, *[e + 1 for e in used_expiries]]) + 60
    clock = LocalClock.build(cfg.start, horizon, cfg.tz)
    ctx = WorldContext(cfg, p, cal, clock, id_width=max(7, len(str(cfg.n_users - 1))))
    weights = acquisition_weights(cfg, p, cal)
    acq_day, channel = acquisition_schedule(cfg, weights)

    n_couriers = round(cfg.n_users * cfg.courier_share)
    c_width = max(6, len(str(max(n_couriers - 1, 0))))
    n_blocks = math.ceil(cfg.n_users / BLOCK_USERS)
    n_c_blocks = math.ceil(n_couriers / cm.BLOCK_COURIERS)
    total, done = n_blocks + n_c_blocks, 0
    truth_dir = out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)

    n_ch = len(CHANNELS)
    p_obs, p_all = np.zeros((n_ch, cfg.days)), np.zeros((n_ch, cfg.days))
    n_obs, n_users = np.zeros((n_ch, cfg.days), dtype=np.int64), np.zeros(n_ch, dtype=np.int64)
    with ExitStack() as stack:
        events = _PartSink(out / "events", EVENT_SCHEMA, max(1, cfg.chunk_users // BLOCK_USERS))
        stack.callback(events.close)
        sinks: dict[str, _FileSink] = {}
        for name, path, schema in (
            ("users", out / "users.parquet", USERS_SCHEMA),
            ("incentives", out / "incentives.parquet", INCENTIVES_SCHEMA),
            ("assignments", out / "assignments.parquet", ASSIGNMENTS_SCHEMA),
            ("truth", truth_dir / "users.parquet", TRUTH_USERS_SCHEMA),
            ("c_users", out / "couriers" / "users.parquet", cm.COURIER_USERS_SCHEMA),
            ("c_incentives", out / "couriers" / "incentives.parquet", INCENTIVES_SCHEMA),
            ("c_truth", truth_dir / "couriers.parquet", cm.COURIER_TRUTH_SCHEMA),
        ):
            sinks[name] = _FileSink(path, schema)
            stack.callback(sinks[name].close)

        pool = stack.enter_context(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="liuliang-world"))

        def consumers(block: tuple[int, int, int]) -> ConsumerBlock:
            b, lo, hi = block
            return simulate_consumers(ctx, b, acq_day[lo:hi], channel[lo:hi])

        blocks = _blocks(cfg.n_users, BLOCK_USERS)
        for b, res in enumerate(_ordered_map(consumers, blocks, pool, ahead=WORKERS + 1)):
            events.write(b, res.events)
            sinks["users"].write(res.users)
            sinks["incentives"].write(res.incentives)
            sinks["assignments"].write(res.assignments)
            sinks["truth"].write(res.truth)
            p_obs += res.p_obs_sum
            p_all += res.p_all_sum
            n_obs += res.n_obs
            n_users += res.n_users
            done += 1
            if progress is not None:
                progress(done, total)
        events.finish()

        c_events = _PartSink(
            out / "couriers" / "events",
            EVENT_SCHEMA,
            max(1, int(cfg.chunk_users * cfg.courier_share) // cm.BLOCK_COURIERS),
        )
        stack.callback(c_events.close)

        def couriers(block: tuple[int, int, int]) -> cm.CourierBlock:
            b, lo, hi = block
            return cm.simulate_couriers(
                _rng(cfg.seed, _STREAM_COURIERS, b),
                cp,
                block=b,
                first=lo,
                n=hi - lo,
                n_days=cfg.days,
                festival=(cal.fest_lo, cal.fest_hi),
                clock=clock,
                id_width=c_width,
            )

        c_blocks = _blocks(n_couriers, cm.BLOCK_COURIERS)
        for b, cres in enumerate(_ordered_map(couriers, c_blocks, pool, ahead=WORKERS + 1)):
            c_events.write(b, cres.events)
            sinks["c_users"].write(cres.users)
            sinks["c_incentives"].write(cres.incentives)
            sinks["c_truth"].write(cres.truth)
            done += 1
            if progress is not None:
                progress(done, total)
        c_events.finish()
        rows = {name: sink.rows for name, sink in sinks.items()}

    retention_path = truth_dir / "channel_retention.parquet"
    pq.write_table(_retention_table(p_obs, n_obs, p_all, n_users), retention_path, compression="zstd")
    params_path = truth_dir / "params.json"
    params = {
        "config": cfg.to_json(),
        "block_users": BLOCK_USERS,
        "block_couriers": cm.BLOCK_COURIERS,
        "channels": list(CHANNELS),
        "campaigns": dict(zip(CHANNELS, CAMPAIGNS, strict=True)),
        "calendar": asdict(cal),
        "acquisition_counts": {c: int(x) for c, x in zip(CHANNELS, n_users, strict=True)},
        "n_couriers": n_couriers,
        "consumers": asdict(p),
        "couriers": asdict(cp),
        "model": (
            "P(active on day k>0) = 1 - (1 - S(k)*lam)*(1 - b(k)), S(k) = (1 - h*(1 - e*treated))^k; "
            "day 0 always active; b(k) = bump_probs[j] on k = card_expiry_day - j - acq_day for deadline-plan "
            "card holders; free-order card and coupon cost = value if redeemed inside the window, else 0"
        ),
    }
    params_path.write_text(json.dumps(params, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return WorldManifest(
        config=cfg,
        out_dir=out,
        events=tuple(events.paths),
        users=out / "users.parquet",
        incentives=out / "incentives.parquet",
        assignments=out / "assignments.parquet",
        courier_events=tuple(c_events.paths),
        courier_users=out / "couriers" / "users.parquet",
        courier_incentives=out / "couriers" / "incentives.parquet",
        truth_users=truth_dir / "users.parquet",
        truth_channel_retention=retention_path,
        truth_couriers=truth_dir / "couriers.parquet",
        truth_params=params_path,
        n_events=events.rows,
        n_users=rows["users"],
        n_incentives=rows["incentives"],
        n_assignments=rows["assignments"],
        n_courier_events=c_events.rows,
        n_couriers=rows["c_users"],
        n_courier_incentives=rows["c_incentives"],
    )
