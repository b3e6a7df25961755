"""The incentive-hunter (红包党) score: which users come only for the money, and leave when it stops?

A subsidy war buys two kinds of visit: a habit that outlives the red packet, and a hunter's trip to collect it.
This module scores every user on how much their activity looks like the second kind, from the warehouse's
``user_day`` / ``user_day_event`` rollups and the ``incentives`` table (Ibis, so DuckDB and Spark alike; the
per-user counts come back as Arrow and the score is plain arithmetic on them, apart from the data fetching).

Definitions (all days are local days of the workspace's time zone; nothing after ``data_end`` counts)
-----------------------------------------------------------------------------------------------------
*Active day*: a day with at least one event at or before ``data_end`` (as in :mod:`liuliang.metrics.activity`).

*Redemption day*: a day with a redemption event (``redeem_events``, default ``redeem_red_packet``) or with an
incentive's ``redeemed_ts`` (granted and redeemed at or before ``data_end``; ``kinds`` restricts the incentives).

*Tied day*: an active day ``d`` with a redemption day ``r`` such that ``0 <= d - r <= tie_days``. With the default
``tie_days=0`` a day is tied only when the redemption happened that same day; a larger window also ties the
days right after a redemption (e.g. a coupon pulled into tomorrow's order). ``tied_share`` = tied days / active days.

*Incentive end*: an incentive ends when it is redeemed (``redeemed_ts``), else when it expires (``expires_ts``),
else at its grant (``ts``: paid out at once, like points). A redemption event is also an end. The user's *last
incentive day* ``L`` is the local day of their latest end. Users are then in one of four states (``drop_status``):

- ``no_incentive``: no incentive granted and no redemption by ``data_end`` — not a hunter by definition
  (score 0, no drop measured);
- ``running``: an incentive of theirs is still live at ``data_end`` (it ends after it), so it has not ended yet;
- ``not_observed``: the last end is past, but fewer than ``window`` whole days follow it (``L + W > end_day``);
- ``observed``: the ``W`` days after ``L`` are all observed.

*Activity drop* (observed users): ``rate_before`` = active days in ``[max(L - W + 1, first active day), L]``
divided by that window's length (so a user who signed up for the red packet is not diluted by days before they
existed); ``rate_after`` = active days in ``[L + 1, L + W]`` / ``W``; ``activity_drop`` =
``max(0, 1 - rate_after / rate_before)`` — the share of the user's activity that went away when the incentives did
(0 when ``rate_before`` is 0: nothing to lose).

*Uplift* (optional): predictions of an uplift model, an Arrow table ``user_id -> uplift`` (incremental retention
an incentive buys). A hunter's visits are bought, not built, so a *low* uplift is hunter-like. It enters as
``1 - percentile rank`` among the scored users that have a prediction (average ranks for ties; 0.5 for a single
user): a rank, so the score does not depend on the model's scale.

*Score* in ``[0, 1]``: the weighted mean of the components a user has — ``tied_share``, ``activity_drop``
(observed users only) and the uplift component (users with a prediction only) — with ``weights`` (default 0.4,
0.4, 0.2) renormalised over the components present. A user with ``no_incentive`` scores 0.

*incentive_only* flag: observed, ``tied_share >= flag_share`` (default 0.5: most active days were redemption
days) and no activity at all in the ``W`` days after the last incentive ended.

Breakdowns (:meth:`HunterScores.by`) read ``channel`` / ``campaign`` from the ``users`` table (the acquisition
channel and campaign); users without a row or a value are ``"(none)"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import LiuliangError
from liuliang.metrics.activity.base import Span, active_days, resolve
from liuliang.metrics.result import LongResult, spec_dict
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

NO_VALUE = "(none)"
BREAKDOWNS = ("channel", "campaign")
STATUSES = ("no_incentive", "running", "not_observed", "observed")

SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("active_days", pa.int64()),
        ("first_active", pa.date32()),
        ("last_active", pa.date32()),
        ("redemption_days", pa.int64()),
        ("tied_days", pa.int64()),
        ("tied_share", pa.float64()),
        ("last_incentive", pa.date32()),
        ("drop_status", pa.string()),
        ("rate_before", pa.float64()),
        ("rate_after", pa.float64()),
        ("activity_drop", pa.float64()),
        ("uplift", pa.float64()),
        ("score", pa.float64()),
        ("incentive_only", pa.bool_()),
    ]
)


class HunterSpecError(LiuliangError, ValueError):
    """A hunter-score option or input that cannot be used as given (names it, what is allowed, what it got)."""


@dataclass(frozen=True)
class HunterSpec:
    """What the hunter score measures; see the module docstring for every definition.

    Parameters
    ----------
    window : W, days compared before and after the last incentive ended (>= 1).
    tie_days : an active day up to this many days after a redemption day is tied to it (0: same day only).
    redeem_events : event names that are redemptions (empty: only the incentives table's ``redeemed_ts``).
    kinds : incentive kinds that count (None: all).
    weights : (tied share, activity drop, uplift) weights of the score, non-negative, not all zero.
    flag_share : smallest ``tied_share`` of an ``incentive_only`` user.
    """

    window: int = 7
    tie_days: int = 0
    redeem_events: tuple[str, ...] = ("redeem_red_packet",)
    kinds: tuple[str, ...] | None = None
    weights: tuple[float, float, float] = (0.4, 0.4, 0.2)
    flag_share: float = 0.5

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> HunterSpecError:
            return HunterSpecError(f"HunterSpec.{name} must be {allowed}; got {getattr(self, name)!r}")

        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise bad("window", "an integer >= 1")
        if isinstance(self.tie_days, bool) or not isinstance(self.tie_days, int) or self.tie_days < 0:
            raise bad("tie_days", "an integer >= 0")
        if isinstance(self.redeem_events, str) or not all(isinstance(e, str) and e for e in self.redeem_events):
            raise bad("redeem_events", "a tuple of event names")
        object.__setattr__(self, "redeem_events", tuple(self.redeem_events))
        if self.kinds is not None:
            if isinstance(self.kinds, str) or not self.kinds or not all(isinstance(k, str) for k in self.kinds):
                raise bad("kinds", "None or a non-empty tuple of incentive kinds")
            object.__setattr__(self, "kinds", tuple(self.kinds))
        w = tuple(float(x) for x in self.weights)
        if len(w) != 3 or not all(np.isfinite(x) and x >= 0 for x in w) or sum(w) <= 0:
            raise bad("weights", "three non-negative numbers (tied share, drop, uplift), not all zero")
        object.__setattr__(self, "weights", w)
        if not 0.0 <= float(self.flag_share) <= 1.0:
            raise bad("flag_share", "a number in [0, 1]")


@dataclass(frozen=True)
class HunterSummary(LongResult):
    """Hunter scores summarised by a breakdown: one row per value (users, flagged, share flagged, means)."""

    breakdown: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "breakdown": self.breakdown}


@dataclass(frozen=True)
class HunterScores(LongResult):
    """One row per active user (columns in :data:`SCHEMA`), sorted by score (highest first), then user id.

    ``end_day`` is the local day of ``data_end``. :meth:`by` summarises by channel or campaign, :meth:`top`
    lists the most hunter-like users.
    """

    end_day: int | None = None

    def by(self, breakdown: str | None = "channel") -> HunterSummary:
        """Per ``channel`` or ``campaign`` (None: everyone as ``"all"``): users, flagged users, share flagged,
        mean score, mean tied share, users with an observed drop and their mean activity drop."""
        if breakdown is not None and breakdown not in BREAKDOWNS:
            raise HunterSpecError(f"breakdown must be None or one of {', '.join(BREAKDOWNS)}; got {breakdown!r}")
        t = self.table
        key = t[breakdown] if breakdown is not None else pa.array(["all"] * t.num_rows, pa.string())
        observed = pc.equal(t["drop_status"], "observed")
        work = pa.table(
            {
                "breakdown": key,
                "flag": pc.cast(t["incentive_only"], pa.int64()),
                "score": t["score"],
                "tied_share": t["tied_share"],
                "observed": pc.cast(observed, pa.int64()),
                "activity_drop": t["activity_drop"],
            }
        )
        agg = work.group_by("breakdown").aggregate(
            [
                ("flag", "count"),
                ("flag", "sum"),
                ("score", "mean"),
                ("tied_share", "mean"),
                ("observed", "sum"),
                ("activity_drop", "mean"),
            ]
        )
        users = agg["flag_count"]
        flagged = agg["flag_sum"]
        out = pa.table(
            {
                "breakdown": agg["breakdown"],
                "users": pc.cast(users, pa.int64()),
                "flagged": pc.cast(flagged, pa.int64()),
                "share_flagged": pc.divide(pc.cast(flagged, pa.float64()), pc.cast(users, pa.float64())),
                "mean_score": agg["score_mean"],
                "mean_tied_share": agg["tied_share_mean"],
                "observed": pc.cast(agg["observed_sum"], pa.int64()),
                "mean_activity_drop": agg["activity_drop_mean"],
            }
        )
        return HunterSummary(self.spec, out.sort_by("breakdown"), self.data_end, breakdown)

    def top(self, n: int = 20) -> pa.Table:
        """The ``n`` most hunter-like users (the table is already sorted by score)."""
        return self.table.slice(0, max(int(n), 0))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "end_day": self.end_day}

    def _repr_html_(self) -> str:
        from liuliang._display import html_fields, html_result, html_table

        fields = [*spec_dict(self.spec).items(), ("data_end", self.data_end), ("end_day", self.end_day)]
        summary = html_table(self.by("channel").table, caption="by channel") if self.table.num_rows else ""
        top = html_table(self.table, caption="top users", max_rows=20)
        return html_result("HunterScores", html_fields(fields), summary, top)


# -- the warehouse part ---------------------------------------------------------------------------------------------
def _key_days(t: ir.Table, day: ir.Value) -> ir.Table:
    return t.select(user_key=t.user_key.cast("int64"), day=day.cast("int64"))


def _incentives(ws: Workspace, spec: HunterSpec, span: Span) -> ir.Table | None:
    if not ws.has_table(T.INCENTIVES):
        return None
    inc = ws.table(T.INCENTIVES)
    inc = inc.filter(inc.ts <= span.data_end)
    if spec.kinds is not None:
        inc = inc.filter(inc.kind.isin(list(spec.kinds)))
    return inc


def user_features(ws: Workspace, spec: HunterSpec, span: Span) -> ir.Table:
    """Build (and run one small range query for) the per-user counts: one row per active user with ``user_id``,
    ``channel``, ``campaign``, ``active_days``, ``first_day``, ``last_day``, ``redemption_days``, ``tied_days``,
    ``anchor`` (L), ``running``, ``n_before``, ``n_after``."""
    act = active_days(ws, None, span)
    parts: list[ir.Table] = []
    if spec.redeem_events and ws.has_table(T.USER_DAY_EVENT):
        parts.append(active_days(ws, spec.redeem_events, span))
    inc = _incentives(ws, spec, span)
    ends: ir.Table | None = None
    if inc is not None:
        end_ts = inc.redeemed_ts.coalesce(inc.expires_ts, inc.ts)
        lo = ws.engine.to_arrow(inc.filter(end_ts <= span.data_end).aggregate(lo=end_ts.min()))["lo"][0].as_py()
        last = inc.group_by(user_key=inc.user_key.cast("int64")).aggregate(last_end=end_ts.max())
        if lo is None:  # no incentive has ended by data_end: every holder is still running
            ends = last.select("user_key", day=ibis.null("int64"), running=ibis.literal(1, "int64"))
        else:
            segments = ws.offset_segments(lo, span.data_end)
            redeemed = inc.filter(inc.redeemed_ts.notnull() & (inc.redeemed_ts <= span.data_end))
            parts.append(_key_days(redeemed, periods.local_day(redeemed.redeemed_ts, segments)))
            ended = last.last_end <= span.data_end
            day = periods.local_day(last.last_end, segments).cast("int64")
            ends = last.select(
                "user_key",
                day=ibis.ifelse(ended, day, ibis.null("int64")),
                running=ibis.ifelse(ended, 0, 1).cast("int64"),
            )

    per_user = act.group_by("user_key").aggregate(
        active_days=act.day.count(), first_day=act.day.min(), last_day=act.day.max()
    )
    if parts:
        red = parts[0]
        for p in parts[1:]:
            red = red.union(p, distinct=False)
        red = red.distinct()
        red_n = red.group_by("user_key").aggregate(redemption_days=red.day.count(), red_last=red.day.max())
        if spec.tie_days > 0:
            offsets = ibis.memtable({"k": list(range(spec.tie_days + 1))}, schema={"k": "int64"})
            grid = red.cross_join(offsets)
            red = grid.select("user_key", day=grid.day + grid.k).distinct()
        marked = red.mutate(hit=ibis.literal(1, "int64"))
        j = act.left_join(marked, ["user_key", "day"])
        tied = j.group_by(user_key=j.user_key).aggregate(tied_days=j.hit.sum())
        anchor_rows = red_n.select("user_key", day=red_n.red_last, running=ibis.literal(0, "int64"))
    else:
        red_n = tied = anchor_rows = None
    if ends is not None:
        anchor_rows = ends if anchor_rows is None else anchor_rows.union(ends, distinct=False)

    out = per_user
    if red_n is not None:
        out = out.left_join(red_n.select("user_key", "redemption_days"), "user_key").select(
            *out.columns, "redemption_days"
        )
        out = out.left_join(tied, "user_key").select(*out.columns, "tied_days")
    if anchor_rows is not None:
        anchors = anchor_rows.group_by("user_key").aggregate(
            anchor=anchor_rows.day.max(), running=anchor_rows.running.max()
        )
        w = spec.window
        ja = act.join(anchors, "user_key")
        ja = ja.select(
            "user_key",
            before=((ja.day >= ja.anchor - (w - 1)) & (ja.day <= ja.anchor)).cast("int64"),
            after=((ja.day > ja.anchor) & (ja.day <= ja.anchor + w)).cast("int64"),
        )
        counts = ja.group_by("user_key").aggregate(n_before=ja.before.sum(), n_after=ja.after.sum())
        out = out.left_join(anchors, "user_key").select(*out.columns, "anchor", "running")
        out = out.left_join(counts, "user_key").select(*out.columns, "n_before", "n_after")
    keys = ws.table(T.USER_KEYS).select(user_key=ws.table(T.USER_KEYS).user_key.cast("int64"), user_id="user_id")
    out = out.join(keys, "user_key").select(*out.columns, "user_id")
    if ws.has_table(T.USERS):
        users = ws.table(T.USERS)
        attrs = {c: users[c].cast("string") if c in users.columns else ibis.null("string") for c in BREAKDOWNS}
        groups = users.select(user_key=users.user_key.cast("int64"), **attrs)
        out = out.left_join(groups, "user_key").select(*out.columns, *BREAKDOWNS)
    return out


def _fetch(ws: Workspace, spec: HunterSpec, span: Span) -> dict[str, np.ndarray | list]:
    raw = ws.engine.to_arrow(user_features(ws, spec, span))
    n = raw.num_rows

    def ints(name: str, fill: int = 0) -> np.ndarray:
        if name not in raw.column_names:
            return np.full(n, fill, dtype=np.int64)
        return np.asarray(raw[name].cast(pa.int64()).fill_null(fill).to_numpy(zero_copy_only=False), dtype=np.int64)

    def has(name: str) -> np.ndarray:
        if name not in raw.column_names:
            return np.zeros(n, dtype=bool)
        return np.asarray(raw[name].is_valid().to_numpy(zero_copy_only=False), dtype=bool)

    def strings(name: str) -> list[str]:
        if name not in raw.column_names:
            return [NO_VALUE] * n
        return [NO_VALUE if v is None else v for v in raw[name].to_pylist()]

    return {
        "user_id": raw["user_id"].to_pylist(),
        "channel": strings("channel"),
        "campaign": strings("campaign"),
        "active_days": ints("active_days"),
        "first_day": ints("first_day"),
        "last_day": ints("last_day"),
        "redemption_days": ints("redemption_days"),
        "tied_days": ints("tied_days"),
        "has_anchor_row": has("running"),
        "anchor": ints("anchor"),
        "has_anchor": has("anchor"),
        "running": ints("running"),
        "n_before": ints("n_before"),
        "n_after": ints("n_after"),
    }


# -- the arithmetic ---------------------------------------------------------------------------------------------------
def uplift_component(uplift: np.ndarray) -> np.ndarray:
    """``1 - percentile rank`` (average ranks, 0..1) of the finite values; NaN stays NaN (no prediction).

    Why a rank: uplift models disagree on scale (probability points, value, a transformed outcome), and the
    score should only learn *who* gains least from an incentive.
    """
    from scipy.stats import rankdata

    out = np.full(len(uplift), np.nan)
    ok = ~np.isnan(uplift)
    m = int(ok.sum())
    if m == 1:
        out[ok] = 0.5
    elif m > 1:
        out[ok] = 1.0 - (rankdata(uplift[ok], method="average") - 1.0) / (m - 1)
    return out


def _uplift_by_user(uplift: pa.Table | None, user_ids: list[str]) -> np.ndarray:
    if uplift is None:
        return np.full(len(user_ids), np.nan)
    if "user_id" not in uplift.column_names or "uplift" not in uplift.column_names:
        raise HunterSpecError(
            f"uplift must be an Arrow table with columns user_id and uplift; got {uplift.column_names}"
        )
    ids = [str(u) if u is not None else None for u in uplift["user_id"].to_pylist()]
    values = uplift["uplift"].cast(pa.float64()).to_pylist()
    lookup: dict[str, float] = {}
    for uid, v in zip(ids, values, strict=True):
        if uid is None:
            raise HunterSpecError("uplift has a row without user_id")
        if uid in lookup:
            raise HunterSpecError(f"uplift has user {uid!r} more than once")
        if v is not None and not np.isfinite(v):
            raise HunterSpecError(f"uplift of user {uid!r} is {v}; give a finite number or null")
        lookup[uid] = np.nan if v is None else float(v)
    return np.array([lookup.get(u, np.nan) for u in user_ids], dtype=np.float64)


def _score_table(f: dict[str, Any], spec: HunterSpec, end_day: int, uplift: np.ndarray) -> pa.Table:
    w = spec.window
    n_act = f["active_days"]
    tied_share = f["tied_days"] / np.maximum(n_act, 1)
    with_incentive = f["has_anchor_row"]
    running = with_incentive & (f["running"] > 0)
    anchor = f["anchor"]
    observed = with_incentive & ~running & (anchor + w <= end_day)
    status = np.where(
        ~with_incentive, "no_incentive", np.where(running, "running", np.where(observed, "observed", "not_observed"))
    )
    len_before = anchor - np.maximum(anchor - w + 1, f["first_day"]) + 1
    rate_before = np.where(len_before > 0, f["n_before"] / np.maximum(len_before, 1), 0.0)
    rate_after = f["n_after"] / w
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(rate_before > 0, np.maximum(0.0, 1.0 - rate_after / rate_before), 0.0)

    c_up = uplift_component(uplift)
    w_tied, w_drop, w_up = spec.weights
    num = w_tied * tied_share + np.where(observed, w_drop * drop, 0.0) + np.where(np.isnan(c_up), 0.0, w_up * c_up)
    den = w_tied + np.where(observed, w_drop, 0.0) + np.where(np.isnan(c_up), 0.0, w_up)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(den > 0, num / den, 0.0)
    score = np.where(with_incentive, np.clip(score, 0.0, 1.0), 0.0)
    flag = observed & (tied_share >= spec.flag_share) & (f["n_after"] == 0)

    def dates(days: np.ndarray, valid: np.ndarray) -> pa.Array:
        return pa.array(np.where(valid, days, 0).astype(np.int32), pa.int32(), mask=~valid).cast(pa.date32())

    everyone = np.ones(len(n_act), dtype=bool)
    ended = with_incentive & ~running
    table = pa.table(
        {
            "user_id": pa.array(f["user_id"], pa.string()),
            "channel": pa.array(f["channel"], pa.string()),
            "campaign": pa.array(f["campaign"], pa.string()),
            "active_days": pa.array(n_act, pa.int64()),
            "first_active": dates(f["first_day"], everyone),
            "last_active": dates(f["last_day"], everyone),
            "redemption_days": pa.array(f["redemption_days"], pa.int64()),
            "tied_days": pa.array(f["tied_days"], pa.int64()),
            "tied_share": pa.array(tied_share, pa.float64()),
            "last_incentive": dates(anchor, ended & f["has_anchor"]),
            "drop_status": pa.array(status.tolist(), pa.string()),
            "rate_before": pa.array(rate_before, pa.float64(), mask=~observed),
            "rate_after": pa.array(rate_after, pa.float64(), mask=~observed),
            "activity_drop": pa.array(drop, pa.float64(), mask=~observed),
            "uplift": pa.array(uplift, pa.float64(), mask=np.isnan(uplift)),
            "score": pa.array(score, pa.float64()),
            "incentive_only": pa.array(flag, pa.bool_()),
        },
        schema=SCHEMA,
    )
    return table.sort_by([("score", "descending"), ("user_id", "ascending")])


def hunter_scores(
    ws: Workspace,
    spec: HunterSpec | None = None,
    *,
    uplift: pa.Table | None = None,
    data_end: dt.datetime | None = None,
    **options: Any,
) -> HunterScores:
    """Score every user active by ``data_end`` (default: the last event) as an incentive hunter.

    ``uplift``: optional Arrow table ``user_id -> uplift`` from an uplift model (see the module docstring).
    ``options`` build a :class:`HunterSpec` when ``spec`` is not given (``window=14, tie_days=1`` ...).

    Examples
    --------
    >>> res = hunter_scores(ws, window=14)                    # doctest: +SKIP
    >>> res.by("channel").to_pandas()                         # doctest: +SKIP
    """
    if spec is None:
        spec = HunterSpec(**options)
    elif options:
        raise HunterSpecError(f"give either a HunterSpec or options, not both (got {sorted(options)})")
    span = resolve(ws, data_end)
    if span is None:
        return HunterScores(spec, SCHEMA.empty_table(), data_end, None)
    features = _fetch(ws, spec, span)
    up = _uplift_by_user(uplift, features["user_id"])
    return HunterScores(spec, _score_table(features, spec, span.end_day, up), span.data_end, span.end_day)
