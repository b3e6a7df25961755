"""Aha signals: which early behaviours go with users still being here on day 30, *beyond* being active early on.

Growth teams look for the "aha moment" ("users who add 7 friends in 10 days stay") to steer onboarding and
incentives towards it. The naive version of the search always finds something: any behaviour that needs activity
("ordered 3 times in week one") is more common among users who are active anyway, and active users stay. A subsidy
war makes this worse — a red packet buys a burst of early visits, and every early behaviour then looks like a habit
signal. So each candidate here is reported twice: the raw difference, and the difference *within* users of the
same acquisition channel and the same overall early activity. A behaviour that only marks "was active" has an
adjusted effect near zero; one that adds something beyond activity keeps a positive one.

Definitions (``d`` = :attr:`AhaSpec.days`, ``N`` = :attr:`AhaSpec.horizon`, days are local days of the workspace
zone, offsets count from a user's **first active day** ``a``, the first local day with an event at or before
``data_end``):

- **Behaviour** ``(E, k)``: at least ``k`` events named ``E`` on offsets ``0 .. d-1`` (from the ``user_day_event``
  rollup). Candidates: every event name in :attr:`AhaSpec.events` (default: the :attr:`AhaSpec.max_events` names
  done early by the most users) times every threshold in :attr:`AhaSpec.thresholds`.
- **Feature set** ``S`` (only with :attr:`AhaSpec.sets` >= 2): *every* event named in ``S`` at least once on
  offsets ``0 .. d-1`` ("used search + 帮我 task within 7 days"). Candidates: every set of 2 (and, with
  ``sets=3``, 3) names among the first :attr:`AhaSpec.set_events` candidate events (default 6: the six names done
  early by the most users -> 15 pairs, + 20 triples), so the search stays a few dozen contrasts, not thousands.
  The flag is decided in the warehouse from the per-user early counts, like the single-event flags.
- **Early activity**: active days on offsets ``0 .. d-1`` (``1 .. d``; from the ``user_day`` rollup).
- **Channel**: ``users.channel`` (no row or no value: ``(none)``).
- **Retained** (``criterion="on"``, the default): active on offset ``N`` exactly — the "day-N, on" retention of
  :mod:`liuliang.metrics.day_n` and :mod:`liuliang.causal.experiment`. Chosen over ``"on_or_after"`` (active on some
  offset ``>= N`` up to ``data_end``) because "on" means the same for every user, while "on or after" gives users
  who arrived early a longer time to come back, which would tie the outcome to the arrival date. ``"on_or_after"``
  is available and says so in the result.
- **Observed**: day ``a + N`` has ended by ``data_end`` (``a + N <`` local day of ``data_end``). Users not yet
  observed are left out of every rate and counted (:attr:`AhaUsers.n_unobserved`); ``d <= N`` is required, so an
  observed user's early window is complete too.

Statistics (on the per-user rows pulled from the warehouse as Arrow, see :func:`analyze_aha`):

- coverage = share of observed users with the behaviour; ``rate_with`` / ``rate_without`` the day-N retention of
  users with / without it; ``difference`` with a Wald interval.
- ``adjusted`` (default ``adjust="stratified"``): post-stratification on channel x early activity (each active-day
  count its own stratum unless :attr:`AhaSpec.activity_bins` groups them). The within-stratum differences are
  averaged with weights proportional to stratum size over the strata where both groups have at least
  :attr:`AhaSpec.min_cell` users (the *overlap*; its share of users is reported, since the estimate speaks for that
  population only). The variance is the sum of squared weights times each stratum's Wald variance, computed with
  the Agresti–Caffo add-one rates ``(x+1)/(n+2)`` so that a small stratum where everyone (or no one) stayed does
  not claim zero variance. ``adjust="aipw"`` uses :class:`liuliang.causal.AIPWEstimator` on one-hot strata over
  the same overlap strata instead (slower; cross-fitted, its logistic models are mildly regularised).
- Behaviours whose coverage lies in ``[min_coverage, 1 - min_coverage]`` and whose overlap holds at least
  ``min_overlap`` of the users are *eligible* and ranked by the adjusted effect (largest first; or by its lower
  interval bound, ``rank_by="ci_lower"``); their adjusted p-values get a Benjamini–Hochberg ``q_value``, since
  dozens of candidates are searched. Feature sets are ranked, and their q-values adjusted, together with the
  single events: one search, one list. The one-line findings take the best-ranked threshold of each event (a
  feature set is its own entry, written only when it adds to its best member, below), ``top`` of them.

Feature sets and the adjustment. Using two features is itself a kind of "more activity": a user seen on six early
days has six chances to touch both ``search`` and ``ask``, one seen once has one, so a set's raw difference is
larger than its members' even when neither matters. The strata keep this honest because they hold the number of
early *active days* fixed: a set is credited only with what it adds among users of the same channel who came back
equally often. The tests plant such a confounded set (two events that fire at random on active days) and check
that its large raw difference is not reported as a discovery. Two residuals remain, shown rather than hidden:

1. Events per active day (intensity) are not a stratum, so a set of two markers of *heavy* use within a day can
   keep a small positive effect.
2. A set that contains a strong single event inherits its effect (``ask + browse`` is mostly ``ask``) and would
   crowd the top of the list with copies of it. So each set also gets ``best_member`` (the member whose "at
   least once" has the largest adjusted effect) and ``beyond_member``: the same adjusted difference among users
   who did the best member only — set users against best-member-only users, within channel x early activity,
   over strata with at least :data:`BEYOND_MIN_CELL` (5) users on each side (cells of 2 made it overconfident).
   A set is ranked either way, but gets a one-line finding only when ``beyond_member > 0`` with a
   Benjamini–Hochberg ``beyond_member_q <= alpha`` over the ranked sets (with a dozen sets, one unadjusted
   "beyond" interval above 0 is expected by chance; the planted log showed one).

A set held by exactly the users of a smaller behaviour (the dropped member is done by everyone who does the rest,
e.g. ``app_open + ask`` when every active day opens the app) is that behaviour renamed: status ``same users as
ask>=1``, not ranked; likewise a triple that is a pair renamed. Event variety (how many distinct events) is *not* a
stratum on purpose: holding it fixed would compare set users only with users who used two other features,
adjusting away the very behaviour being measured.

Adjustment removes confounding by the *measured* channel and early activity only: a behaviour that marks an
unmeasured kind of user (task users ask more, and task users stay) keeps its effect, and the finding is
associational ("users who ... stay"), not a promise that pushing the behaviour will move retention.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
from scipy import stats

from liuliang.errors import ModelInputError, WorkspaceError
from liuliang.metrics.result import LongResult
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

__all__ = [
    "RESULT_SCHEMA",
    "AhaSignals",
    "AhaSpec",
    "AhaUsers",
    "Behaviour",
    "StratifiedEffect",
    "activity_strata",
    "aha_signals",
    "aha_users",
    "analyze_aha",
    "stratified_difference",
]

NO_VALUE = "(none)"


# -- the spec ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AhaSpec:
    """What the aha search looks at (module docstring for the definitions).

    Parameters
    ----------
    days : d, the early window (offsets ``0 .. d-1`` from the first active day); ``1 <= d <= horizon``.
    thresholds : the k of "at least k events"; distinct integers >= 1.
    horizon : N, the retention day (default 30).
    criterion : ``"on"`` (active on day N; default) or ``"on_or_after"``.
    events : candidate event names (None: the ``max_events`` names done early by the most observed users).
    max_events : how many event names to try when ``events`` is None.
    sets : largest feature set to try: 0 (none, the default), 2 (pairs) or 3 (pairs and triples).
    set_events : sets are built from the first ``set_events`` candidate events (the most common early ones, or
        ``events`` in the order given): C(6, 2) = 15 pairs and C(6, 3) = 20 triples with the default 6.
    min_coverage : behaviours held by fewer than this share of users, or by more than ``1 - min_coverage``, are
        reported but not ranked (too few users on one side for a contrast).
    adjust : ``"stratified"`` (default) or ``"aipw"``.
    activity_bins : lower edges of early-activity strata, e.g. ``(1, 2, 4)`` -> 1, 2-3, 4+ (None: one stratum per
        active-day count).
    min_cell : a stratum enters the adjusted estimate when both groups have at least this many users.
    min_overlap : behaviours whose overlap strata hold less than this share of users are reported but not ranked
        (the adjusted estimate would speak for a small, unusual part of the users).
    rank_by : ``"adjusted"`` (the adjusted effect, default) or ``"ci_lower"`` (its lower interval bound: prefers
        effects that are both large and well measured over large, noisy ones).
    since : only users whose first active day is on or after this local date (logs that begin mid-life would
        otherwise count long-standing users as new).
    alpha : 1 - interval coverage. top : how many one-line findings.
    """

    days: int = 7
    thresholds: tuple[int, ...] = (1, 2, 3, 5, 7)
    horizon: int = 30
    criterion: Literal["on", "on_or_after"] = "on"
    events: tuple[str, ...] | None = None
    max_events: int = 20
    sets: int = 0
    set_events: int = 6
    min_coverage: float = 0.05
    adjust: Literal["stratified", "aipw"] = "stratified"
    activity_bins: tuple[int, ...] | None = None
    min_cell: int = 2
    min_overlap: float = 0.5
    rank_by: Literal["adjusted", "ci_lower"] = "adjusted"
    since: dt.date | None = None
    alpha: float = 0.05
    top: int = 5

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ModelInputError:
            return ModelInputError(f"AhaSpec.{name} must be {allowed}; got {getattr(self, name)!r}")

        def is_int(v: Any, lo: int) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= lo

        for name in ("days", "horizon", "max_events", "min_cell"):
            if not is_int(getattr(self, name), 1):
                raise bad(name, "an integer >= 1")
        if not is_int(self.top, 0):
            raise bad("top", "an integer >= 0")
        if not is_int(self.sets, 0) or self.sets not in (0, 2, 3):
            raise bad("sets", "0 (no feature sets), 2 (pairs) or 3 (pairs and triples)")
        if not is_int(self.set_events, 2):
            raise bad("set_events", "an integer >= 2")
        if self.days > self.horizon:
            raise bad("days", f"<= horizon ({self.horizon}), so the early window ends before the retention day")
        ks = (self.thresholds,) if isinstance(self.thresholds, int) else tuple(self.thresholds)
        if not ks or not all(is_int(k, 1) for k in ks) or len(set(ks)) != len(ks):
            raise bad("thresholds", "distinct integers >= 1")
        object.__setattr__(self, "thresholds", tuple(sorted(ks)))
        if self.events is not None:
            ev = (self.events,) if isinstance(self.events, str) else tuple(self.events)
            if not ev or len(set(ev)) != len(ev) or not all(isinstance(e, str) for e in ev):
                raise bad("events", "distinct event names")
            object.__setattr__(self, "events", ev)
        if self.criterion not in ("on", "on_or_after"):
            raise bad("criterion", "'on' or 'on_or_after'")
        if self.adjust not in ("stratified", "aipw"):
            raise bad("adjust", "'stratified' or 'aipw'")
        if self.rank_by not in ("adjusted", "ci_lower"):
            raise bad("rank_by", "'adjusted' or 'ci_lower'")
        if not 0 <= self.min_overlap <= 1:
            raise bad("min_overlap", "in [0, 1]")
        if not 0 <= self.min_coverage < 0.5:
            raise bad("min_coverage", "in [0, 0.5)")
        if not 0 < self.alpha < 1:
            raise bad("alpha", "in (0, 1)")
        if self.activity_bins is not None:
            b = tuple(self.activity_bins)
            if not b or b[0] != 1 or any(not is_int(x, 1) for x in b) or list(b) != sorted(set(b)) or b[-1] > self.days:
                raise bad("activity_bins", f"increasing integers starting at 1 and at most days ({self.days})")
            object.__setattr__(self, "activity_bins", b)
        if self.since is not None and not isinstance(self.since, dt.date):
            raise bad("since", "a date")


SET_JOIN = " + "
#: Smallest group in a stratum for the ``beyond_member`` estimate. Among best-member users the "without the rest"
#: side is small in every stratum; with cells of 2 users, 2 of 14 null "beyond" effects on 7 planted logs had
#: p <= 0.015 (a 0/2 cell weighted by its stratum's size), with 5 none had p < 0.05.
BEYOND_MIN_CELL = 5


@dataclass(frozen=True)
class Behaviour:
    """One candidate (per-user 0/1 column ``column``).

    A single event (``features`` empty): at least ``threshold`` events named ``event`` in the first ``days`` days.
    A feature set (``features`` = S, 2 or 3 names, see :meth:`feature_set`): every event of S at least once in the
    first ``days`` days; ``event`` is then the label ``"search + ask"`` and ``threshold`` is 1.
    """

    event: str
    threshold: int
    days: int
    features: tuple[str, ...] = ()

    @classmethod
    def feature_set(cls, events: Sequence[str], days: int) -> Behaviour:
        return cls(SET_JOIN.join(events), 1, days, tuple(events))

    @property
    def kind(self) -> str:
        return "set" if self.features else "event"

    @property
    def size(self) -> int:
        return len(self.features) or 1

    @property
    def column(self) -> str:
        return f"set:{self.event}" if self.features else f"{self.event}>={self.threshold}"

    def describe(self) -> str:
        if self.features:
            return f"used {self.event} in the first {self.days} days"
        noun = "event" if self.threshold == 1 else "events"
        return f"{self.threshold}+ {self.event} {noun} in the first {self.days} days"


def candidate_sets(events: Sequence[str], spec: AhaSpec) -> tuple[tuple[str, ...], ...]:
    """The feature sets to try: every combination of 2 .. ``spec.sets`` names among the first ``spec.set_events``
    of ``events`` (names within a set keep the candidate order, most common first)."""
    top = tuple(events[: spec.set_events])
    return tuple(c for r in range(2, spec.sets + 1) for c in itertools.combinations(top, r))


# -- the warehouse part -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AhaUsers:
    """One row per observed user, pulled from the warehouse.

    Attributes
    ----------
    table : ``user_id, first_day, channel, early_active_days, retained (0/1)``, then ``count:<event>`` (events of
        that name in the early window) per candidate event and one 0/1 column per behaviour
        (:attr:`Behaviour.column`: ``<event>>=<k>``, then ``set:<a> + <b>`` for feature sets); sorted by user_id.
    behaviours : the candidates, in column order. events : the candidate event names.
    n_users, n_unobserved : users with a first active day (after ``since``) and those whose day N has not ended.
    spec, data_end : what was measured and the "now" used.
    """

    table: pa.Table
    behaviours: tuple[Behaviour, ...]
    events: tuple[str, ...]
    n_users: int
    n_unobserved: int
    spec: AhaSpec
    data_end: dt.datetime

    @property
    def n_observed(self) -> int:
        return self.table.num_rows

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> Any:
        return self.table.to_pandas()

    def column(self, name: str) -> np.ndarray:
        return self.table[name].to_numpy(zero_copy_only=False)

    def strata(self) -> np.ndarray:
        """Integer stratum code per user: channel x early-activity bin (:func:`activity_strata`)."""
        return activity_strata(
            self.table["channel"].to_pylist(),
            self.column("early_active_days"),
            days=self.spec.days,
            activity_bins=self.spec.activity_bins,
        )

    def __repr__(self) -> str:
        return (
            f"AhaUsers(observed={self.n_observed:,}, unobserved={self.n_unobserved:,}, "
            f"behaviours={len(self.behaviours)}, data_end={self.data_end:%Y-%m-%d %H:%M})"
        )


def activity_strata(
    groups: Sequence[Any], early_active_days: Any, *, days: int, activity_bins: Sequence[int] | None = None
) -> np.ndarray:
    """Integer stratum code per user: group (the channel) x early active days (``1 .. days``, or the index of its
    bin when ``activity_bins`` gives lower edges). Public so that other signals (:mod:`liuliang.signals.habit`)
    adjust within exactly the strata the aha search uses."""
    activity = np.asarray(early_active_days).astype(np.int64)
    if activity_bins is not None:
        activity = np.searchsorted(np.asarray(activity_bins), activity, side="right")
    _, group = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
    return group.astype(np.int64).reshape(-1) * (days + 1) + activity


def _first_days(ws: Workspace, spec: AhaSpec, data_end: dt.datetime) -> tuple[ir.Table, ir.Table, int]:
    """(user_day up to ``data_end``, ``user_key, a`` of every user, the local day of ``data_end``)."""
    end_day = periods.day_of_instant(data_end, ws.settings.tz)
    ud = ws.user_day_until(data_end)
    first = ud.group_by("user_key").aggregate(a=ud.day.min().cast("int64"))
    if spec.since is not None:
        first = first.filter(first.a >= periods.day_number(spec.since))
    return ud, first, end_day


def _early_events(ws: Workspace, spec: AhaSpec, observed: ir.Table) -> ir.Table:
    """``user_key, a, event, events`` rows of observed users' early windows (before the retention day)."""
    ude = ws.user_day_event()
    j = ude.join(observed, "user_key")
    off = j.day.cast("int64") - j.a
    return j.filter((off >= 0) & (off < spec.days)).select("user_key", "event", "events")


def candidate_events(ws: Workspace, spec: AhaSpec, data_end: dt.datetime) -> tuple[str, ...]:
    """The event names to try: ``spec.events``, or those done early by the most observed users (ties: by name)."""
    if spec.events is not None:
        return spec.events
    _, first, end_day = _first_days(ws, spec, data_end)
    early = _early_events(ws, spec, first.filter(first.a + spec.horizon < end_day))
    top = early.group_by("event").aggregate(users=early.user_key.nunique())
    rows = ws.engine.to_arrow(top).to_pylist()
    rows.sort(key=lambda r: (-r["users"], r["event"]))
    return tuple(r["event"] for r in rows[: spec.max_events] if r["event"] is not None)


def aha_user_expr(ws: Workspace, spec: AhaSpec, events: Sequence[str], data_end: dt.datetime) -> ir.Table:
    """Build (not run) the per-user query for observed users; event and behaviour columns are positional
    (``c<i>``, ``f<i>_<k>``, ``s<j>`` for the j-th of :func:`candidate_sets`) so that any event name is a safe SQL
    identifier; :func:`aha_users` renames them."""
    n, d = spec.horizon, spec.days
    ud, first, end_day = _first_days(ws, spec, data_end)
    observed = first.filter(first.a + n < end_day)
    j = ud.join(observed, "user_key")
    off = j.day.cast("int64") - j.a
    hit = (off == n) if spec.criterion == "on" else (off >= n)
    per_user = j.group_by("user_key").aggregate(
        first_day=j.a.max(),
        early_active_days=((off >= 0) & (off < d)).cast("int64").sum(),
        retained=hit.cast("int64").max(),
    )
    if events:
        early = _early_events(ws, spec, observed)
        early = early.filter(early.event.isin(list(events)))
        counts = early.group_by("user_key").aggregate(
            **{
                f"c{i}": ibis.ifelse(early.event == e, early.events.cast("int64"), 0).sum()
                for i, e in enumerate(events)
            }
        )
        jj = per_user.left_join(counts, "user_key")
        per_user = jj.select(
            *[per_user[c] for c in per_user.columns],
            *[jj[f"c{i}"].fill_null(0).name(f"c{i}") for i in range(len(events))],
        )
    if ws.has_table(T.USERS) and "channel" in ws.table(T.USERS).columns:
        users = ws.table(T.USERS)
        users = users.select("user_key", channel=users.channel.cast("string"))
        users = users.group_by("user_key").aggregate(channel=users.channel.max())
        jj = per_user.left_join(users, "user_key")
        per_user = jj.select(*[per_user[c] for c in per_user.columns], channel=jj.channel.fill_null(NO_VALUE))
    else:
        per_user = per_user.mutate(channel=ibis.literal(NO_VALUE))
    keys = ws.table(T.USER_KEYS)
    keys = keys.select(user_key=keys.user_key.cast("int64"), user_id=keys.user_id)
    per_user = per_user.mutate(user_key=per_user.user_key.cast("int64"))
    jj = per_user.join(keys, "user_key")
    flags = {
        f"f{i}_{k}": (jj[f"c{i}"] >= k).cast("int8") for i in range(len(events)) for k in spec.thresholds
    }  # the behaviour held: decided in the warehouse, next to the counts it comes from
    index = {e: i for i, e in enumerate(events)}
    for j, s in enumerate(candidate_sets(events, spec)):  # "used every event of S": a product of presence flags
        used = [jj[f"c{index[e]}"] >= 1 for e in s]
        flags[f"s{j}"] = functools.reduce(operator.and_, used).cast("int8")
    return jj.select(
        "user_id",
        "first_day",
        "channel",
        "early_active_days",
        jj.retained.cast("int8").name("retained"),
        *[f"c{i}" for i in range(len(events))],
        **flags,
    )


def aha_users(ws: Workspace, spec: AhaSpec | None = None, *, data_end: dt.datetime | None = None) -> AhaUsers:
    """Run the warehouse part: the per-user behaviour flags, early activity, channel and day-N retention.

    ``data_end`` is "now" (naive UTC, or aware); default: the last event's time.
    """
    spec = spec or AhaSpec()
    end = ws.resolve_data_end(data_end, "looking for aha signals")
    if not ws.has_table(T.USER_DAY_EVENT):
        raise WorkspaceError("aha signals read the user_day_event rollup; ingest events first")
    events = candidate_events(ws, spec, end)
    _, first, end_day = _first_days(ws, spec, end)
    counts = ws.engine.to_arrow(
        first.aggregate(users=first.count(), observed=(first.a + spec.horizon < end_day).cast("int64").sum())
    ).to_pylist()[0]
    raw = ws.engine.to_arrow(aha_user_expr(ws, spec, events, end))
    sets = candidate_sets(events, spec)
    behaviours = tuple(Behaviour(e, k, spec.days) for e in events for k in spec.thresholds)
    behaviours += tuple(Behaviour.feature_set(s, spec.days) for s in sets)
    cols: dict[str, Any] = {
        "user_id": raw["user_id"],
        "first_day": raw["first_day"].cast(pa.int64()),
        "channel": raw["channel"].cast(pa.string()),
        "early_active_days": raw["early_active_days"].cast(pa.int64()),
        "retained": raw["retained"].cast(pa.int8()),
    }
    for i, e in enumerate(events):
        cols[f"count:{e}"] = raw[f"c{i}"].cast(pa.int64())
    for i, e in enumerate(events):
        for k in spec.thresholds:
            cols[Behaviour(e, k, spec.days).column] = raw[f"f{i}_{k}"].cast(pa.int8())
    for j, s in enumerate(sets):
        cols[Behaviour.feature_set(s, spec.days).column] = raw[f"s{j}"].cast(pa.int8())
    if len(cols) != 5 + len(events) + len(behaviours):  # a dict keeps one of two equal names: fail, not overwrite
        raise ModelInputError("aha: two columns share a name (event names with ' + ' or '>='?); pass AhaSpec.events")
    table = pa.table(cols).sort_by("user_id") if raw.num_rows else pa.table(cols)
    users = int(counts["users"] or 0)
    observed = int(counts["observed"] or 0)
    if observed != table.num_rows:  # the two queries read the same rows: a mismatch is a bug, not a data issue
        raise WorkspaceError(f"aha_users: {table.num_rows} per-user rows for {observed} observed users")
    return AhaUsers(table, behaviours, events, users, users - observed, spec, end)


# -- the statistics part ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StratifiedEffect:
    """Post-stratified difference of a 0/1 outcome between ``t == 1`` and ``t == 0`` (module docstring).

    ``effect`` is NaN when no stratum has both groups (``strata_used == 0``).
    """

    effect: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    overlap_share: float
    strata_used: int


def stratified_difference(y: Any, t: Any, strata: Any, *, alpha: float = 0.05, min_cell: int = 2) -> StratifiedEffect:
    """Average of within-stratum differences ``mean(y|t=1) - mean(y|t=0)``, weighted by stratum size over strata
    where both groups have ``>= min_cell`` users; Wald variance with add-one rates (module docstring)."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(t).astype(bool)
    s = np.asarray(strata, dtype=np.int64)
    if not (y.shape == t.shape == s.shape) or y.ndim != 1:
        raise ModelInputError("stratified_difference: y, t and strata need the same length")
    _, code = np.unique(s, return_inverse=True)
    m = int(code.max()) + 1 if code.size else 0
    n1 = np.bincount(code, weights=t, minlength=m)
    x1 = np.bincount(code, weights=y * t, minlength=m)
    n0 = np.bincount(code, weights=~t, minlength=m)
    x0 = np.bincount(code, weights=y * ~t, minlength=m)
    use = (n1 >= min_cell) & (n0 >= min_cell)
    if not use.any():
        nan = math.nan
        return StratifiedEffect(nan, nan, nan, nan, nan, 0.0, 0)
    n1, x1, n0, x0 = n1[use], x1[use], n0[use], x0[use]
    w = (n1 + n0) / (n1 + n0).sum()
    effect = float(np.sum(w * (x1 / n1 - x0 / n0)))
    q1, q0 = (x1 + 1) / (n1 + 2), (x0 + 1) / (n0 + 2)
    se = float(np.sqrt(np.sum(w**2 * (q1 * (1 - q1) / n1 + q0 * (1 - q0) / n0))))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return StratifiedEffect(
        effect=effect,
        se=se,
        ci_lower=effect - z * se,
        ci_upper=effect + z * se,
        p_value=float(2 * stats.norm.sf(abs(effect) / se)),
        overlap_share=float((n1 + n0).sum() / y.size),
        strata_used=int(use.sum()),
    )


def _aipw(
    users: AhaUsers, y: np.ndarray, t: np.ndarray, strata: np.ndarray, *, min_cell: int | None = None
) -> StratifiedEffect:
    """AIPW on one-hot strata, over the same overlap strata as the stratified estimate: outside them the
    propensity is 0 or 1 (``browse >= 3`` is impossible with 2 active days), which no clipping repairs."""
    from liuliang.causal.observational import AIPWEstimator

    min_cell = users.spec.min_cell if min_cell is None else min_cell
    _, code = np.unique(strata, return_inverse=True)
    n1 = np.bincount(code, weights=t)
    n0 = np.bincount(code, weights=~t)
    keep = ((n1 >= min_cell) & (n0 >= min_cell))[code]
    if not keep.any():
        nan = math.nan
        return StratifiedEffect(nan, nan, nan, nan, nan, 0.0, 0)
    _, kept = np.unique(code[keep], return_inverse=True)
    x = np.eye(int(kept.max()) + 1)[kept][:, 1:]  # one-hot strata (first dropped)
    r = AIPWEstimator(alpha=users.spec.alpha, random_state=0).fit(x, t[keep].astype(float), y[keep]).result_
    return StratifiedEffect(r.effect, r.se, r.ci_lower, r.ci_upper, r.p_value, float(keep.mean()), int(kept.max()) + 1)


RESULT_SCHEMA = pa.schema(
    [
        ("event", pa.string()),
        ("threshold", pa.int64()),
        ("days", pa.int64()),
        ("behaviour", pa.string()),
        ("n", pa.int64()),
        ("n_with", pa.int64()),
        ("coverage", pa.float64()),
        ("rate_with", pa.float64()),
        ("rate_without", pa.float64()),
        ("difference", pa.float64()),
        ("ci_lower", pa.float64()),
        ("ci_upper", pa.float64()),
        ("adjusted", pa.float64()),
        ("adjusted_se", pa.float64()),
        ("adjusted_ci_lower", pa.float64()),
        ("adjusted_ci_upper", pa.float64()),
        ("adjusted_p", pa.float64()),
        ("q_value", pa.float64()),
        ("overlap_share", pa.float64()),
        ("status", pa.string()),
        ("rank", pa.int64()),
        ("finding", pa.string()),
        ("kind", pa.string()),
        ("size", pa.int64()),
        ("best_member", pa.string()),
        ("beyond_member", pa.float64()),
        ("beyond_member_ci_lower", pa.float64()),
        ("beyond_member_ci_upper", pa.float64()),
        ("beyond_member_q", pa.float64()),
    ]
)


def _beyond_member(
    b: Behaviour,
    row: dict[str, Any],
    t: np.ndarray,
    y: np.ndarray,
    strata: np.ndarray,
    users: AhaUsers,
    present: dict[str, np.ndarray],
    adjust: Any,
    member_effect: dict[str, float],
) -> float:
    """Fill a feature set's ``best_member`` / ``beyond_member*``, unrank a set that is a smaller one renamed, and
    return the p-value of ``beyond_member`` (NaN when there is none).

    A set held by exactly the users of the set (or event) left when one member is dropped — the dropped member is
    done by everyone who does the rest, e.g. ``app_open`` — is that smaller behaviour under another name: status
    ``same users as ...``, not ranked. Otherwise the best member is the one whose "at least once" has the largest
    adjusted effect, and ``beyond_member`` is the adjusted difference between set users and the other users *who did
    the best member* — what the rest of the set adds.
    """
    for drop in reversed(b.features):  # the least common first: the likeliest to be done by everyone
        rest = tuple(e for e in b.features if e != drop)
        smaller = present[rest[0]] if len(rest) == 1 else users.column(Behaviour.feature_set(rest, b.days).column)
        if np.array_equal(t, np.asarray(smaller, dtype=bool)):
            label = f"{rest[0]}>=1" if len(rest) == 1 else SET_JOIN.join(rest)
            if row["status"] == "ok":
                row["status"] = f"same users as {label}"
            return math.nan
    for e in b.features:
        if e not in member_effect:
            eff = adjust(y, present[e], strata).effect if 0 < present[e].sum() < present[e].size else math.nan
            member_effect[e] = eff if math.isfinite(eff) else -math.inf
    best = max(b.features, key=lambda e: member_effect[e])  # ties: the first, i.e. the most common name
    row["best_member"] = best
    keep = present[best]
    if not 0 < t[keep].sum() < keep.sum():
        return math.nan
    inner = adjust(y[keep], t[keep], strata[keep], max(users.spec.min_cell, BEYOND_MIN_CELL))
    row.update(beyond_member=inner.effect, beyond_member_ci_lower=inner.ci_lower, beyond_member_ci_upper=inner.ci_upper)
    return inner.p_value


def _wald(y: np.ndarray, t: np.ndarray, z: float) -> tuple[float, float, float, float, float]:
    n1, n0 = int(t.sum()), int((~t).sum())
    p1 = float(y[t].mean()) if n1 else math.nan
    p0 = float(y[~t].mean()) if n0 else math.nan
    if not (n1 and n0):
        return p1, p0, math.nan, math.nan, math.nan
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1, p0, diff, diff - z * se, diff + z * se


def _finding(b: Behaviour, row: dict[str, Any], spec: AhaSpec) -> str:
    pts = lambda v: f"{100 * v:+.0f}"  # noqa: E731
    level = f"{100 * (1 - spec.alpha):.0f}%"
    text = (
        f"{b.describe()} -> D{spec.horizon} {row['rate_with']:.0%} vs {row['rate_without']:.0%}, "
        f"adjusted {pts(row['adjusted'])} pts ({level} CI {pts(row['adjusted_ci_lower'])} to "
        f"{pts(row['adjusted_ci_upper'])}; {row['coverage']:.0%} of users)"
    )
    if b.features:
        text = text[:-1] + f"; {pts(row['beyond_member'])} pts beyond {row['best_member']} alone)"
    if row["adjusted_ci_lower"] <= 0 <= row["adjusted_ci_upper"]:
        text += " - not distinguishable from no effect"
    return text


def analyze_aha(users: AhaUsers) -> AhaSignals:
    """The statistics part: per behaviour coverage, naive and adjusted differences, ranks and findings."""
    from liuliang.causal.multiple import adjust_pvalues

    spec = users.spec
    z = float(stats.norm.ppf(1 - spec.alpha / 2))
    y = users.column("retained").astype(float) if users.n_observed else np.empty(0)
    strata = users.strata() if users.n_observed else np.empty(0, dtype=np.int64)
    rows: list[dict[str, Any]] = []

    def adjust(y: np.ndarray, t: np.ndarray, strata: np.ndarray, min_cell: int = spec.min_cell) -> StratifiedEffect:
        if spec.adjust == "stratified":
            return stratified_difference(y, t, strata, alpha=spec.alpha, min_cell=min_cell)
        return _aipw(users, y, t, strata, min_cell=min_cell)

    present = {e: users.column(f"count:{e}") >= 1 for e in users.events} if users.n_observed else {}
    member_effect: dict[str, float] = {}  # adjusted effect of "did e at least once", computed when a set needs it
    beyond_p: dict[int, float] = {}  # row -> p-value of beyond_member
    for b in users.behaviours:
        t = users.column(b.column).astype(bool) if users.n_observed else np.empty(0, dtype=bool)
        n, n_with = int(t.size), int(t.sum())
        coverage = n_with / n if n else math.nan
        p1, p0, diff, lo, hi = _wald(y, t, z)
        row: dict[str, Any] = {
            "event": b.event,
            "threshold": b.threshold,
            "days": b.days,
            "behaviour": b.column,
            "n": n,
            "n_with": n_with,
            "coverage": coverage,
            "rate_with": p1,
            "rate_without": p0,
            "difference": diff,
            "ci_lower": lo,
            "ci_upper": hi,
            "adjusted": math.nan,
            "adjusted_se": math.nan,
            "adjusted_ci_lower": math.nan,
            "adjusted_ci_upper": math.nan,
            "adjusted_p": math.nan,
            "q_value": math.nan,
            "overlap_share": math.nan,
            "status": "ok",
            "rank": None,
            "finding": None,
            "kind": b.kind,
            "size": b.size,
            "best_member": None,
            "beyond_member": math.nan,
            "beyond_member_ci_lower": math.nan,
            "beyond_member_ci_upper": math.nan,
            "beyond_member_q": math.nan,
        }
        if not n:
            row["status"] = "no observed users"
        elif not spec.min_coverage <= coverage <= 1 - spec.min_coverage or not (n_with and n - n_with):
            row["status"] = f"coverage outside [{spec.min_coverage:g}, {1 - spec.min_coverage:g}]"
        else:
            adj = adjust(y, t, strata)
            row.update(
                adjusted=adj.effect,
                adjusted_se=adj.se,
                adjusted_ci_lower=adj.ci_lower,
                adjusted_ci_upper=adj.ci_upper,
                adjusted_p=adj.p_value,
                overlap_share=adj.overlap_share,
            )
            if not math.isfinite(adj.effect):
                row["status"] = "no stratum has users with and without the behaviour"
            elif adj.overlap_share < spec.min_overlap:
                row["status"] = f"overlap {adj.overlap_share:.0%} below min_overlap {spec.min_overlap:.0%}"
        if b.features and n:
            beyond_p[len(rows)] = _beyond_member(b, row, t, y, strata, users, present, adjust, member_effect)
        rows.append(row)

    ranked = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    first, second = (
        ("adjusted", "adjusted_ci_lower") if spec.rank_by == "adjusted" else ("adjusted_ci_lower", "adjusted")
    )
    ranked.sort(key=lambda i: (-rows[i][first], -rows[i][second], rows[i]["behaviour"]))
    for pos, i in enumerate(ranked, start=1):
        rows[i]["rank"] = pos
    pvals = [rows[i]["adjusted_p"] for i in ranked]
    if pvals and all(math.isfinite(p) for p in pvals):
        for i, q in zip(ranked, adjust_pvalues(pvals, "bh").adjusted, strict=True):
            rows[i]["q_value"] = q
    tested = [i for i in ranked if math.isfinite(beyond_p.get(i, math.nan))]
    if tested:  # as many "beyond" tests as ranked sets: the same false-discovery control as the main search
        for i, q in zip(tested, adjust_pvalues([beyond_p[i] for i in tested], "bh").adjusted, strict=True):
            rows[i]["beyond_member_q"] = q
    seen: set[str] = set()
    findings: list[str] = []
    for i in ranked:
        b = users.behaviours[i]
        if len(findings) >= spec.top or b.event in seen:
            continue
        if b.features and not (rows[i]["beyond_member"] > 0 and rows[i]["beyond_member_q"] <= spec.alpha):
            continue  # (NaN fails too) a set is written only when it adds to its best member
        seen.add(b.event)
        rows[i]["finding"] = _finding(b, rows[i], spec)
        findings.append(rows[i]["finding"])
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    base = float(y.mean()) if y.size else math.nan
    return AhaSignals(
        spec=spec,
        table=table,
        data_end=users.data_end,
        n_users=users.n_users,
        n_observed=users.n_observed,
        n_unobserved=users.n_unobserved,
        base_rate=base,
        findings=tuple(findings),
    )


# -- the result -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AhaSignals(LongResult):
    """Aha signals: one row per behaviour (:data:`RESULT_SCHEMA`), ranked ones first.

    Attributes
    ----------
    table : the long table (``rank`` null for behaviours not ranked; ``status`` says why). spec, data_end : what
    was measured and the "now" used. n_users, n_observed, n_unobserved : users with a first active day, those
    whose day N has ended (every rate is over them) and those left out. base_rate : day-N retention of the
    observed users. findings : one line per top behaviour (best threshold of each event), best first.

    Examples
    --------
    >>> res = aha_signals(ws, AhaSpec(days=7, thresholds=(1, 3, 5)), data_end=end)  # doctest: +SKIP
    >>> print("\\n".join(res.findings))  # doctest: +SKIP
    3+ ask events in the first 7 days -> D30 41% vs 9%, adjusted +12 pts (95% CI +8 to +16; 23% of users)
    """

    n_users: int
    n_observed: int
    n_unobserved: int
    base_rate: float
    findings: tuple[str, ...]

    def ranked(self) -> pa.Table:
        """The ranked behaviours only, best first."""
        t = self.table.filter(self.table["rank"].is_valid())
        return t.sort_by("rank")

    def row(self, event: str | Sequence[str], threshold: int = 1) -> dict[str, Any]:
        """The row of event ``event`` at ``threshold``, or of the feature set ``event`` (a tuple of names)."""
        kind = "event" if isinstance(event, str) else "set"
        if kind == "set":
            event = SET_JOIN.join(event)
        for r in self.table.to_pylist():
            if r["event"] == event and r["threshold"] == threshold and r["kind"] == kind:
                return r
        raise KeyError((event, threshold))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            n_users=self.n_users,
            n_observed=self.n_observed,
            n_unobserved=self.n_unobserved,
            base_rate=self.base_rate if math.isfinite(self.base_rate) else None,
            findings=list(self.findings),
        )
        for r in out["rows"]:
            for k, v in r.items():
                if isinstance(v, float) and not math.isfinite(v):
                    r[k] = None
        return out

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(f)}</li>" for f in self.findings) or "<li>no ranked behaviour</li>"
        head = (
            f"<p>{self.n_observed:,} users observed to day {self.spec.horizon} "
            f"(D{self.spec.horizon} {self.base_rate:.1%}); {self.n_unobserved:,} not yet observed, left out.</p>"
        )
        return head + f"<ul>{items}</ul>" + super()._repr_html_()

    def __repr__(self) -> str:
        return (
            f"AhaSignals(behaviours={self.table.num_rows}, ranked={self.ranked().num_rows}, "
            f"observed={self.n_observed:,}, unobserved={self.n_unobserved:,}, data_end={self.data_end:%Y-%m-%d %H:%M})"
        )


def aha_signals(ws: Workspace, spec: AhaSpec | None = None, *, data_end: dt.datetime | None = None) -> AhaSignals:
    """Find the early behaviours that go with day-N retention beyond channel and early activity (module docstring).

    Examples
    --------
    >>> res = aha_signals(ws, data_end=dt.datetime(2026, 4, 1))  # doctest: +SKIP
    >>> res.ranked().to_pandas()[["behaviour", "coverage", "difference", "adjusted"]]  # doctest: +SKIP
    """
    return analyze_aha(aha_users(ws, spec, data_end=data_end))
