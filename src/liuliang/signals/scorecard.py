"""The campaign scorecard: per campaign and incentive kind, did the spend buy habits or only visits?

One row per segment (plus an ``"all"`` row) — the page a growth lead shows the board. Definitions (the tests'
hand-computed references are written from these paragraphs):

*Users and cost* are those of :mod:`liuliang.metrics.acquisition` (its ``acquired_users`` builds them): a user is
acquired by ``data_end`` by a ``users`` signup or a first event; their cost is ``acquisition_cost`` (null = 0) plus
incentives granted on local days ``[acquisition day, acquisition day + incentive_window_days]``. ``cac`` = total
cost / users acquired.

*Segments.* ``by`` names the dimensions crossed: ``users`` columns (``campaign``, ``channel``, ...) and ``"kind"``,
the user's incentive kind: the distinct ``incentives.kind`` values granted (``ts <= data_end``) on a local day on or
before the user's day 0 (the acquisition day for users never active) — what they were given to come —, sorted and
joined with ``+`` (``"free_order+points"``), ``"(none)"`` when none. Unlike the overlapping ``incentive_kind``
dimension of :func:`~liuliang.metrics.acquisition.cost_per_retained`, every user is in exactly one segment, so
users and costs add up to the ``"all"`` row. Segment labels join the dimensions' values with `` / ``.

*D7 / D30* (first-time cohorts, as in :mod:`liuliang.metrics.day_n`): among acquired users with an event, those
*observable* at N (``day 0 + N <= end day``) and *retained* (active on local day ``day 0 + N``); ``rate`` =
retained / observable; ``cost_per_retained`` = total cost of the observable users / retained (null when none).

*Habit share* (chosen over the curve's floor / D1 because it needs no model and reads the same on every engine):
among users with ``day 0 <= end day - habit_min_age`` (default 60: old enough that incentive hunters have left),
the share active on at least one of the last ``habit_window`` local days (default 28, ending on the end day; events
up to ``data_end``). It is the share of a mature cohort that still uses the product monthly.

*NRR month 1*: over the segment's month cohorts (local calendar month of day 0) whose month 1 is complete
(``cohort + 1 < end month``) and whose month-0 revenue is positive, Σ month-1 revenue / Σ month-0 revenue — the
pooled form of :func:`~liuliang.metrics.revenue.cohort_revenue`'s ``nrr`` at offset 1.

*Projected LTV* (retention-curve projection × revenue per active day, chosen over BG/NBD + Gamma-Gamma because the
curve is what the habit question is about and it fits in a fraction of a second per segment): a
:class:`~liuliang.models.curves.RetentionCurveFitter` (``model="power_floor"``: power-law decay to a habit floor,
which nests the floorless power law; ``"auto"`` cost 4x and moved E by ~1.5% on a generated world) is fitted on the
segment's pooled daily retention — for each age ``a >= 1``, users with ``day 0 + a < end day`` (complete days
only) and those active on ``day 0 + a``. Expected active days over ``H = 30 × ltv_months`` days:
``E = 1 + Σ_{a=1}^{H-1} m̂(a)`` (day 0 is always active). ``arpdau`` = the segment's revenue to date / its active
user-days; ``projected_ltv = margin × take × arpdau × E``; ``ltv_cac = projected_ltv / cac`` (null when ``cac`` is
0). A segment
with fewer than ``rules.min_users`` active users is not fitted, and a curve that cannot be fitted (too few ages)
leaves the LTV null too, with the reason in ``curve_model``.

*What the money columns are.* ``revenue``, ``revenue_per_user``, ``arpdau`` and ``nrr_month1`` sum the events'
``amount`` as it is. ``revenue_basis`` says what that is: ``"gmv"`` (the default: the order value users paid —
what a generated world writes, and what an assistant that places orders with merchants and delivery apps logs)
or ``"revenue"`` (the platform's own revenue already). Comparing GMV with CAC overstates LTV/CAC by 1 / take
rate — 20x at a 5% take — so with ``"gmv"`` the LTV needs ``take_rate``, the platform's share of GMV:
``take = take_rate`` and ``platform_revenue = take_rate × revenue``; without it ``platform_revenue``,
``projected_ltv`` and ``ltv_cac`` are null (the scorecard will not guess your business model). With
``"revenue"``, ``take = 1`` and ``take_rate`` must be left unset. ``margin`` (default 1) is then the share of
platform revenue that is contribution after serving costs (model inference, payment fees), for an LTV in profit
rather than revenue. :data:`DEMO_TAKE_RATE` is the figure the demo uses for generated worlds (why: there).

*Verdict* (rules in :class:`VerdictRules`, applied in this order):

1. ``too_early`` — fewer than ``min_users`` observable at D30 or old enough for the habit share:
   "too early to tell: …".
2. ``habits`` — D30 rate >= ``habit_d30`` and habit share >= ``habit_share``: "bought habits: D30 x% and habit
   share y%, LTV/CAC z".
3. ``visits`` — otherwise: "bought visits: D30 x% and habit share y%, LTV/CAC z".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import LiuliangError
from liuliang.metrics.acquisition import acquired_users
from liuliang.metrics.result import LongResult, json_rows
from liuliang.metrics.revenue import (
    ALL,
    NO_VALUE,
    MoneySpecError,
    Span,
    activity,
    left_join,
    period_of_day_number,
    resolve_span,
)
from liuliang.models.curves import RetentionCurveFitter
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

KIND = "kind"

#: Take rate for generated worlds' GMV (``liuliang demo``): 5%. An assumption, not a reported figure: the market
#: notes the generator follows report spend, users and retention but no take rate. It is set low on purpose: an AI
#: assistant that hands an order to a delivery platform keeps at most a referral share of what that platform keeps,
#: and the platform's own share of order value (commission plus fees) is well above 5%. Pass your own contract's
#: rate with ``take_rate``.
DEMO_TAKE_RATE = 0.05
REVENUE_BASES = ("gmv", "revenue")
SEPARATOR = " / "
DAYS = (7, 30)

SCORECARD_SCHEMA = pa.schema(
    [
        ("dimension", pa.string()),
        ("segment", pa.string()),
        ("users", pa.int64()),
        ("acquisition_cost", pa.float64()),
        ("incentive_cost", pa.float64()),
        ("total_cost", pa.float64()),
        ("cac", pa.float64()),
        ("d7_observable", pa.int64()),
        ("d7_retained", pa.int64()),
        ("d7_rate", pa.float64()),
        ("d7_cost_per_retained", pa.float64()),
        ("d30_observable", pa.int64()),
        ("d30_retained", pa.int64()),
        ("d30_rate", pa.float64()),
        ("d30_cost_per_retained", pa.float64()),
        ("habit_base", pa.int64()),
        ("habit_active", pa.int64()),
        ("habit_share", pa.float64()),
        ("nrr_month1", pa.float64()),
        ("revenue", pa.float64()),
        ("revenue_per_user", pa.float64()),
        ("arpdau", pa.float64()),
        ("platform_revenue", pa.float64()),
        ("curve_model", pa.string()),
        ("expected_active_days", pa.float64()),
        ("projected_ltv", pa.float64()),
        ("ltv_cac", pa.float64()),
        ("verdict_code", pa.string()),
        ("verdict", pa.string()),
    ]
)

CURVE_POINTS_SCHEMA = pa.schema(
    [("segment", pa.string()), ("age", pa.int64()), ("observable", pa.int64()), ("retained", pa.int64())]
)


@dataclass(frozen=True)
class VerdictRules:
    """Thresholds of the one-line verdict (see the module docstring for the order they are applied in)."""

    min_users: int = 50
    habit_d30: float = 0.20
    habit_share: float = 0.25


@dataclass(frozen=True)
class ScorecardSpec:
    """What :func:`scorecard` computed; echoed in the result (see the module docstring for each field)."""

    by: tuple[str, ...] = ("campaign", KIND)
    margin: float = 1.0
    revenue_basis: str = "gmv"
    take_rate: float | None = None
    ltv_months: int = 12
    incentive_window_days: int = 30
    habit_min_age: int = 60
    habit_window: int = 28
    rules: VerdictRules = field(default_factory=VerdictRules)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by", (self.by,) if isinstance(self.by, str) else tuple(self.by))

    def validate(self) -> ScorecardSpec:
        if not self.by or len(set(self.by)) != len(self.by):
            raise MoneySpecError("scorecard_by", f"scorecard: by needs distinct dimensions; got {self.by!r}")
        for d in self.by:
            if not isinstance(d, str) or not d or d.startswith("_") or d in ("user_key", "user_id", ALL):
                raise MoneySpecError("scorecard_by", f"scorecard: cannot group by {d!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, int | float) or not self.margin > 0:
            raise MoneySpecError("scorecard_margin", f"scorecard: margin must be a number > 0; got {self.margin!r}")
        if self.revenue_basis not in REVENUE_BASES:
            raise MoneySpecError(
                "scorecard_revenue_basis",
                f"scorecard: revenue_basis must be 'gmv' or 'revenue'; got {self.revenue_basis!r}",
            )
        t = self.take_rate
        if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1):
            raise MoneySpecError("scorecard_take_rate", f"scorecard: take_rate must be in (0, 1]; got {t!r}")
        if t is not None and self.revenue_basis == "revenue":
            raise MoneySpecError(
                "scorecard_take_rate",
                "scorecard: take_rate applies to GMV; with revenue_basis='revenue' the amounts are revenue already",
            )
        for name in ("ltv_months", "habit_min_age", "habit_window", "incentive_window_days"):
            v = getattr(self, name)
            low = 1 if name in ("ltv_months", "habit_window") else 0
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise MoneySpecError(f"scorecard_{name}", f"scorecard: {name} must be an integer >= {low}; got {v!r}")
        return self

    @property
    def take(self) -> float | None:
        """The share of ``amount`` that is platform revenue: 1 for ``"revenue"``, ``take_rate`` for ``"gmv"``."""
        return 1.0 if self.revenue_basis == "revenue" else self.take_rate

    def describe_revenue(self) -> str:
        """One line for a table's footer: what the money columns are and what the LTV counts."""
        if self.revenue_basis == "revenue":
            return "revenue = the amounts as logged (platform revenue)"
        if self.take_rate is None:
            return "revenue = GMV (order value); no take rate set, so no LTV (set take_rate / --take-rate)"
        return f"revenue = GMV (order value); platform revenue = {100 * self.take_rate:g}% take rate x GMV"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"by": list(self.by)}


@dataclass(frozen=True)
class Scorecard(LongResult):
    """One row per segment and an ``"all"`` row; ``table`` has schema :data:`SCORECARD_SCHEMA`.

    Attributes
    ----------
    spec: the validated :class:`ScorecardSpec`.
    table: the scorecard (segments in the order users acquired, ``"all"`` last).
    data_end: the resolved "now" (naive UTC), ``None`` for a workspace without events.
    curve_points: schema :data:`CURVE_POINTS_SCHEMA`, the pooled daily retention each curve was fitted on.
    """

    spec: ScorecardSpec
    table: pa.Table
    data_end: dt.datetime | None
    curve_points: pa.Table = field(default_factory=CURVE_POINTS_SCHEMA.empty_table)

    def row(self, segment: str) -> dict[str, Any]:
        for r in self.table.to_pylist():
            if r["segment"] == segment:
                return r
        raise KeyError(segment)

    def segments(self) -> list[str]:
        return self.table["segment"].to_pylist()

    def to_long(self) -> pa.Table:
        """``(segment, metric, value)`` for every numeric cell: the scorecard as a long table."""
        seg, metric, value = [], [], []
        for f in SCORECARD_SCHEMA:
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
                col = self.table[f.name].cast(pa.float64()).to_pylist()
                seg += self.table["segment"].to_pylist()
                metric += [f.name] * len(col)
                value += col
        return pa.table({"segment": seg, "metric": metric, "value": pa.array(value, pa.float64())})

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"spec": self.spec.to_dict(), "curve_points": json_rows(self.curve_points)}

    def __repr__(self) -> str:
        return f"Scorecard(by={'+'.join(self.spec.by)}, {self.table.num_rows} rows, data_end={self.data_end})"


# -- building (Ibis only) ----------------------------------------------------------------------------------------------
def _kinds(ws: Workspace, span: Span, acq: ir.Table) -> ir.Table:
    """``(user_key, kind)``: the sorted ``+``-joined incentive kinds granted on or before each user's day 0."""
    if not ws.has_table(T.INCENTIVES):
        return ibis.memtable({"user_key": [], "kind": []}, schema={"user_key": "int64", "kind": "string"})
    inc = ws.table(T.INCENTIVES)
    inc = inc.filter((inc.ts <= span.data_end) & inc.kind.notnull())
    ref = acq.select("user_key", ref=acq.day0.fill_null(acq.acq_day))
    j = inc.join(ref, "user_key")
    j = j.filter(j.day <= j.ref).select("user_key", "kind").distinct()
    # collect, sort, join rather than ``group_concat(order_by=...)``: Ibis cannot compile an ordered group_concat
    # for Spark (UnsupportedOperationError), and an unordered one may join "a+b" or "b+a" for the same user
    g = j.group_by("user_key").aggregate(kinds=j.kind.collect())
    return g.select("user_key", kind=g.kinds.sort().join("+"))


def _users(ws: Workspace, spec: ScorecardSpec, span: Span) -> ir.Table:
    """Acquired users with their ``segment`` (and the ``users`` attributes and kind it is made of)."""
    attrs = tuple(d for d in spec.by if d != KIND)
    acq = acquired_users(ws, span, spec.incentive_window_days, attrs)
    if KIND in spec.by:
        acq = left_join(acq, _kinds(ws, span, acq), ["user_key"])
    parts = [(acq.kind if d == KIND else acq[f"_a_{d}"]).fill_null(NO_VALUE).cast("string").name(d) for d in spec.by]
    label = parts[0]
    for p in parts[1:]:
        label = label.concat(SEPARATOR, p)
    return acq.mutate(segment=label)


def _per_user(ws: Workspace, spec: ScorecardSpec, span: Span, u: ir.Table) -> ir.Table:
    """One row per acquired user: segment, costs and the activity facts every column is summed from."""
    act = activity(ws, span)
    wk = ws.settings.week_start
    members = u.filter(u.day0.notnull())
    members = members.mutate(cohort=periods.period_of_day(members.day0, "month", wk).cast("int64"))
    j = act.join(members.select("user_key", "day0", "cohort"), "user_key")
    month = periods.period_of_day(j.day, "month", wk).cast("int64")
    amount = j.amount.fill_null(0.0)
    recent = j.day >= span.end_day - spec.habit_window + 1
    facts = j.group_by("user_key").aggregate(
        hit7=(j.day == j.day0 + 7).cast("int64").max(),
        hit30=(j.day == j.day0 + 30).cast("int64").max(),
        recent=recent.cast("int64").max(),
        revenue=amount.sum(),
        active_days=j.count(),
        rev_m0=ibis.ifelse(month == j.cohort, amount, 0.0).sum(),
        rev_m1=ibis.ifelse(month == j.cohort + 1, amount, 0.0).sum(),
    )
    m = left_join(
        u.select("user_key", "segment", "day0", "acquisition_cost", "incentive_cost", "cost"), facts, ["user_key"]
    )
    m = m.mutate(cohort=periods.period_of_day(m.day0, "month", wk).cast("int64"))
    active = m.day0.notnull()
    obs7 = active & (m.day0 + 7 <= span.end_day)
    obs30 = active & (m.day0 + 30 <= span.end_day)
    base = active & (m.day0 <= span.end_day - spec.habit_min_age)
    return m.mutate(
        obs7=obs7,
        ret7=obs7 & (m.hit7.fill_null(0) == 1),
        obs30=obs30,
        ret30=obs30 & (m.hit30.fill_null(0) == 1),
        base=base,
        habit=base & (m.recent.fill_null(0) == 1),
        revenue=m.revenue.fill_null(0.0),
        active_days=m.active_days.fill_null(0),
    )


def _with_all(t: ir.Table) -> ir.Table:
    return ibis.union(t, t.mutate(segment=ibis.literal(ALL)), distinct=False)


def _summary_expr(m: ir.Table) -> ir.Table:
    m = _with_all(m)
    i = lambda b: b.cast("int64")  # noqa: E731
    return m.group_by("segment").aggregate(
        users=m.count(),
        acquisition_cost=m.acquisition_cost.fill_null(0.0).sum(),
        incentive_cost=m.incentive_cost.sum(),
        total_cost=m.cost.sum(),
        d7_observable=i(m.obs7).sum(),
        d7_retained=i(m.ret7).sum(),
        d7_cost=ibis.ifelse(m.obs7, m.cost, 0.0).sum(),
        d30_observable=i(m.obs30).sum(),
        d30_retained=i(m.ret30).sum(),
        d30_cost=ibis.ifelse(m.obs30, m.cost, 0.0).sum(),
        habit_base=i(m.base).sum(),
        habit_active=i(m.habit).sum(),
        members=i(m.day0.notnull()).sum(),
        revenue=m.revenue.sum(),
        active_days=m.active_days.sum(),
    )


def _nrr_expr(m: ir.Table, end_month: int) -> ir.Table:
    m = _with_all(m.filter(m.day0.notnull() & (m.cohort + 1 < end_month)))
    c = m.group_by(["segment", "cohort"]).aggregate(r0=m.rev_m0.fill_null(0.0).sum(), r1=m.rev_m1.fill_null(0.0).sum())
    c = c.filter(c.r0 > 0)
    return c.group_by("segment").aggregate(r0=c.r0.sum(), r1=c.r1.sum())


def _curve_exprs(ws: Workspace, span: Span, u: ir.Table) -> tuple[ir.Table, ir.Table]:
    """``(segment, age, retained)`` on complete days and ``(segment, day0, n)`` to count who is observable."""
    members = _with_all(u.filter(u.day0.notnull()).select("user_key", "segment", "day0"))
    act = activity(ws, span)
    j = act.join(members, "user_key")
    j = j.filter((j.day > j.day0) & (j.day < span.end_day))
    hits = j.group_by(["segment", (j.day - j.day0).cast("int64").name("age")]).aggregate(retained=j.count())
    sizes = members.group_by(["segment", members.day0.cast("int64").name("day0")]).aggregate(n=members.count())
    return hits, sizes


# -- statistics (plain Python on the fetched sums) ---------------------------------------------------------------------
def curve_points(hits: pa.Table, sizes: pa.Table, end_day: int) -> pa.Table:
    """Pooled daily retention per segment: at age ``a``, users with ``day0 + a < end_day`` and those active."""
    rows: dict[str, dict[str, list]] = {}
    by_seg: dict[str, list[tuple[int, int]]] = {}
    for r in sizes.to_pylist():
        by_seg.setdefault(r["segment"], []).append((r["day0"], r["n"]))
    hit = {(r["segment"], r["age"]): r["retained"] for r in hits.to_pylist()}
    for seg, cohorts in by_seg.items():
        d0 = np.array([c[0] for c in cohorts])
        n = np.array([c[1] for c in cohorts])
        top = end_day - 1 - int(d0.min())
        ages = np.arange(1, max(top, 0) + 1)
        obs = np.array([int(n[d0 + a < end_day].sum()) for a in ages], dtype=np.int64)
        rows[seg] = {
            "age": ages.tolist(),
            "observable": obs.tolist(),
            "retained": [hit.get((seg, int(a)), 0) for a in ages],
        }
    segs, age, ob, ret = [], [], [], []
    for seg in sorted(rows):
        k = len(rows[seg]["age"])
        segs += [seg] * k
        age += rows[seg]["age"]
        ob += rows[seg]["observable"]
        ret += rows[seg]["retained"]
    return pa.table(
        {
            "segment": segs,
            "age": pa.array(age, pa.int64()),
            "observable": pa.array(ob, pa.int64()),
            "retained": pa.array(ret, pa.int64()),
        },
        schema=CURVE_POINTS_SCHEMA,
    )


def expected_active_days(points: pa.Table, horizon_days: int) -> tuple[str | None, float | None, str | None]:
    """``(model, E, error)``: the fitted curve's expected active days over ages 0..horizon-1 (day 0 counts 1)."""
    age = np.asarray(points["age"].to_pylist(), dtype=float)
    obs = np.asarray(points["observable"].to_pylist(), dtype=float)
    ret = np.asarray(points["retained"].to_pylist(), dtype=float)
    keep = obs > 0
    if not keep.any():
        return None, None, "no observable age"
    try:
        fitter = RetentionCurveFitter(model="power_floor").fit(age[keep], ret[keep] / obs[keep], obs[keep])
    except LiuliangError as exc:
        return None, None, str(exc)
    tail = fitter.predict(np.arange(1, horizon_days)) if horizon_days > 1 else np.zeros(0)
    return fitter.model_, float(1.0 + tail.sum()), None


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def verdict(row: dict[str, Any], rules: VerdictRules) -> tuple[str, str]:
    """``(code, line)`` from the documented rules (module docstring, *Verdict*)."""
    ltv = "-" if row["ltv_cac"] is None else f"{row['ltv_cac']:.1f}"
    if row["d30_observable"] < rules.min_users or row["habit_base"] < rules.min_users:
        return "too_early", (
            f"too early to tell: {row['d30_observable']:,} users observed at D30, "
            f"{row['habit_base']:,} old enough for the habit share (need {rules.min_users:,})"
        )
    facts = f"D30 {100 * row['d30_rate']:.1f}% and habit share {100 * row['habit_share']:.1f}%, LTV/CAC {ltv}"
    if row["d30_rate"] >= rules.habit_d30 and row["habit_share"] >= rules.habit_share:
        return "habits", f"bought habits: {facts}"
    return "visits", f"bought visits: {facts}"


def scorecard(
    ws: Workspace,
    *,
    by: str | tuple[str, ...] = ("campaign", KIND),
    data_end: dt.datetime | None = None,
    margin: float = 1.0,
    revenue_basis: str = "gmv",
    take_rate: float | None = None,
    ltv_months: int = 12,
    incentive_window_days: int = 30,
    habit_min_age: int = 60,
    habit_window: int = 28,
    rules: VerdictRules | None = None,
) -> Scorecard:
    """Users, cost, D7/D30 retention and cost per retained user, habit share, NRR, LTV vs CAC and a verdict per
    segment of ``by`` (``"kind"`` = the incentive kinds a user was given to come). See the module docstring.

    ``revenue_basis`` / ``take_rate``: what the events' ``amount`` is (``"gmv"``, the default, or ``"revenue"``)
    and, for GMV, the platform's share of it; the LTV is null for GMV without a take rate.

    Examples
    --------
    >>> card = scorecard(ws, by=("campaign", "kind"), take_rate=0.05)  # doctest: +SKIP
    >>> card.row("all")["ltv_cac"]  # doctest: +SKIP
    """
    spec = ScorecardSpec(
        by=by,  # type: ignore[arg-type]
        margin=margin,
        revenue_basis=revenue_basis,
        take_rate=take_rate,
        ltv_months=ltv_months,
        incentive_window_days=incentive_window_days,
        habit_min_age=habit_min_age,
        habit_window=habit_window,
        rules=rules or VerdictRules(),
    ).validate()
    span = resolve_span(ws, data_end)
    if span is None:
        return Scorecard(spec, SCORECARD_SCHEMA.empty_table(), None)
    u = _users(ws, spec, span)
    m = _per_user(ws, spec, span, u)
    end_month = period_of_day_number(span.end_day, "month", ws.settings.week_start)
    # Compiled SQL kept per (spec, span) until the workspace writes (``ws.query``): the four expressions are deep,
    # and building and compiling them cost more than running them on a small workspace.
    key = ("scorecard", spec, span)
    summary = ws.query((*key, "summary"), lambda: _summary_expr(m)).to_pylist()
    nrr = {r["segment"]: r for r in ws.query((*key, "nrr"), lambda: _nrr_expr(m, end_month)).to_pylist()}
    hits_expr, sizes_expr = _curve_exprs(ws, span, u)
    points = curve_points(
        ws.query((*key, "hits"), lambda: hits_expr), ws.query((*key, "sizes"), lambda: sizes_expr), span.end_day
    )
    rows = []
    for s in summary:
        seg = s["segment"]
        row: dict[str, Any] = {"dimension": "+".join(spec.by) if seg != ALL else ALL, "segment": seg}
        for k in ("users", "acquisition_cost", "incentive_cost", "total_cost", "revenue", "habit_base"):
            row[k] = s[k]
        row["habit_active"] = s["habit_active"]
        row["cac"] = _div(s["total_cost"], s["users"])
        for d in DAYS:
            row[f"d{d}_observable"], row[f"d{d}_retained"] = s[f"d{d}_observable"], s[f"d{d}_retained"]
            row[f"d{d}_rate"] = _div(s[f"d{d}_retained"], s[f"d{d}_observable"])
            row[f"d{d}_cost_per_retained"] = _div(s[f"d{d}_cost"], s[f"d{d}_retained"])
        row["habit_share"] = _div(s["habit_active"], s["habit_base"])
        n = nrr.get(seg)
        row["nrr_month1"] = _div(n["r1"], n["r0"]) if n else None
        row["revenue_per_user"] = _div(s["revenue"], s["members"])
        row["arpdau"] = _div(s["revenue"], s["active_days"])
        if s["members"] >= spec.rules.min_users:
            seg_points = points.filter(pc.equal(points["segment"], seg))
            model, days_e, error = expected_active_days(seg_points, 30 * spec.ltv_months)
        else:
            model, days_e, error = None, None, f"fewer than {spec.rules.min_users} active users"
        row["curve_model"] = model if model is not None else f"not fitted: {error}"
        row["expected_active_days"] = days_e
        take = spec.take
        row["platform_revenue"] = None if take is None else take * s["revenue"]
        unknown = days_e is None or row["arpdau"] is None or take is None
        row["projected_ltv"] = None if unknown else spec.margin * take * row["arpdau"] * days_e
        row["ltv_cac"] = _div(row["projected_ltv"], row["cac"]) if row["cac"] else None
        row["verdict_code"], row["verdict"] = verdict(row, spec.rules)
        rows.append(row)
    rows.sort(key=lambda r: (r["segment"] == ALL, -r["users"], r["segment"]))
    table = pa.Table.from_pylist(rows, schema=SCORECARD_SCHEMA)
    return Scorecard(spec, table, span.data_end, points)
