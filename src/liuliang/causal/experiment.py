"""Read an experiment from the warehouse: per-variant sufficient statistics in one query, statistics in Python.

Why this split (GrowthBook's ``gbstats`` design): the warehouse never returns user rows, only each arm's ``n``,
``Σy``, ``Σy²`` and, for CUPED, the pre-period covariate's ``Σx``, ``Σx²`` and ``Σxy`` — a few hundred numbers
whatever the traffic — and the statistics in :mod:`liuliang.causal` turn them into effects. Sums merge with ``+``,
so the overall row of a segmented read is the sum of its segments, not a second query.

Definitions (the reference in ``tests/causal/test_experiment_warehouse.py`` is written from these paragraphs):

*Members.* The experiment's users are the ``assignments`` rows with ``experiment = spec.experiment`` and
``ts <= data_end``. A user's assignment instant is their earliest such row; a user assigned to more than one
variant is excluded from every metric and counted in ``multiple_variants``. The *assignment day* ``a`` is the local
day (workspace zone) of the assignment instant, and offsets are whole local days from it (``day − a``), as in the
retention engine's daily calendar cohorts. A user is *active* on a day with any event up to ``data_end``.

*Metrics at horizon N* (``days``; names ``<kind>_d<N>``):

- ``retention``: active on offset N (``criterion="on"``) or on some offset ``>= N`` (``"on_or_after"``); offset 0,
  the assignment day, never counts (the engine's ``period_zero="cohort"``). A 0/1 outcome.
- ``participation``: active days among offsets ``0 .. N−1`` (the first N days, assignment day included) divided by N.
- ``orders``: events named in ``order_events`` on offsets ``0 .. N−1``.
- ``revenue``: the summed ``amount`` on offsets ``0 .. N−1`` (of ``revenue_events``; ``None`` = every event).
- ``incentive_cost``: the summed ``cost`` (null = 0) of ``incentives`` granted with ``ts <= data_end`` on offsets
  ``0 .. N−1``.
- ``cost_per_retained``: a ratio metric, ``Σ incentive cost over offsets 0 .. N−1 / Σ retained at N`` per arm
  (delta-method variance of a ratio of means; lower is better).

The whole assignment day counts as offset 0, including any activity before the assignment instant: the day grain
of the rollups cannot split a day, and pre-assignment activity is independent of the arm, so it adds noise, not bias.

*Observation.* ``data_end`` is "now"; its local day ``E`` is only partly elapsed. A user is observed for a metric
when every day it reads has fully elapsed: ``E > a + N`` for retention and cost per retained user (the engine's
"end offset > N"), ``E > a + N − 1`` for the window metrics. Unobserved users are left out of that metric (numerator
and denominator) and counted in ``unobserved``; ``on_or_after`` retention reads activity up to ``data_end``.

*CUPED covariate.* The same quantity over the ``cuped_days`` (K) days before the assignment day, offsets
``−K .. −1``: active days for retention and participation, orders, revenue and incentive cost for those metrics
(the ratio metric is not adjusted). Users assigned at their first visit have no pre-period: the covariate is then
constant, CUPED cannot help, and the result says so (``note``) and reports the plain estimate.

*Statistics* per segment (``by``: a ``users`` column; always also ``"all"``), metric and non-control variant against
``control``: two-proportion z (retention) or Welch t (others) for the unadjusted difference; CUPED (pooled θ) as the
headline estimate when it applies; Bayesian chance to win (beta-binomial for retention, normal otherwise; for lower-
is-better metrics "win" means lower); Holm or Benjamini–Hochberg across the metrics of each (segment, variant); and
a sample-ratio-mismatch test of each segment's assigned counts against ``planned_shares`` (equal by default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from scipy import stats as sps

from liuliang.causal.bayesian import beta_binomial_test
from liuliang.causal.cuped import cuped_ttest
from liuliang.causal.frequentist import (
    FrequentistResult,
    critical,
    relative_lift_delta,
    two_proportion_ztest,
    two_sided,
    welch_ttest,
)
from liuliang.causal.multiple import adjust_pvalues
from liuliang.causal.sequential import confidence_sequence
from liuliang.causal.srm import SampleRatioMismatchWarning, SRMResult, sample_ratio_test
from liuliang.causal.stats import CovariateStats
from liuliang.errors import ModelInputError, WorkspaceError
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

__all__ = [
    "KINDS",
    "ExperimentResult",
    "ExperimentSpec",
    "MetricDef",
    "analyze_experiment",
    "experiment_stats",
    "run_experiment",
]

ALL = "all"
NO_VALUE = "(none)"
KINDS = ("retention", "participation", "orders", "revenue", "incentive_cost", "cost_per_retained")
#: Metrics where a smaller value is the better one (chance to win means "lower").
LOWER_IS_BETTER = frozenset({"incentive_cost", "cost_per_retained"})
_NAME = re.compile(r"^(?:(?P<kind>[a-z_]+?)_)?d(?P<day>\d+)$")


@dataclass(frozen=True)
class MetricDef:
    """One metric at one horizon: ``name`` is ``<kind>_d<day>`` (``retention_d7``)."""

    kind: str
    day: int

    @property
    def name(self) -> str:
        return f"{self.kind}_d{self.day}"

    @property
    def test(self) -> str:
        return {"retention": "proportion", "cost_per_retained": "ratio"}.get(self.kind, "mean")


@dataclass(frozen=True)
class ExperimentSpec:
    """What to read from an experiment. Every field but ``experiment`` has a default.

    Parameters
    ----------
    experiment: the ``assignments.experiment`` value. control: the control variant's name.
    metrics: kinds (:data:`KINDS`, evaluated at every horizon in ``days``), explicit names (``revenue_d30``), or the
        retention shorthand ``d7``. days: horizons N for kinds given without a day.
    criterion: ``"on"`` or ``"on_or_after"`` for retention (module docstring).
    cuped_days: K, the pre-period length of the CUPED covariate; 0 turns CUPED off.
    order_events: event names counted as orders. revenue_events: event names whose amount is revenue (None = all).
    by: a ``users`` column to break the effects down by (e.g. ``"channel"``); ``"all"`` is always reported.
    planned_shares: the planned split ``{variant: share}`` for the SRM check (None: equal shares).
    alpha: 1 − interval coverage. correction: ``"holm"``, ``"bh"`` or ``"none"`` across metrics.

    Examples
    --------
    >>> ExperimentSpec("challenge7", metrics=("d7", "revenue"), days=(7, 30)).metric_defs()[1].name
    'revenue_d7'
    """

    experiment: str
    control: str = "control"
    metrics: tuple[str, ...] = (
        "retention",
        "participation",
        "orders",
        "revenue",
        "incentive_cost",
        "cost_per_retained",
    )
    days: tuple[int, ...] = (1, 7, 30)
    criterion: Literal["on", "on_or_after"] = "on"
    cuped_days: int = 14
    order_events: tuple[str, ...] = ("order",)
    revenue_events: tuple[str, ...] | None = None
    by: str | None = None
    planned_shares: tuple[tuple[str, float], ...] | None = None
    alpha: float = 0.05
    correction: Literal["holm", "bh", "none"] = "holm"

    def __post_init__(self) -> None:
        # normalise into this new frozen object (lists to tuples, a mapping of shares to sorted pairs)
        for name in ("metrics", "days", "order_events"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str | int) else tuple(value))
        if isinstance(self.revenue_events, str):
            object.__setattr__(self, "revenue_events", (self.revenue_events,))
        elif self.revenue_events is not None:
            object.__setattr__(self, "revenue_events", tuple(self.revenue_events))
        if isinstance(self.planned_shares, Mapping):
            object.__setattr__(self, "planned_shares", tuple(sorted(self.planned_shares.items())))
        self.validate()

    def validate(self) -> None:
        def bad(what: str) -> ModelInputError:
            return ModelInputError(f"ExperimentSpec: {what}")

        if not self.experiment:
            raise bad("experiment must name an experiment in the assignments table")
        if not self.days or any(not isinstance(d, int) or d < 1 for d in self.days):
            raise bad(f"days must be integers >= 1; got {self.days!r}")
        if self.criterion not in ("on", "on_or_after"):
            raise bad(f"criterion must be 'on' or 'on_or_after'; got {self.criterion!r}")
        if not isinstance(self.cuped_days, int) or self.cuped_days < 0:
            raise bad(f"cuped_days must be an integer >= 0; got {self.cuped_days!r}")
        if not 0 < self.alpha < 1:
            raise bad(f"alpha must be in (0, 1); got {self.alpha!r}")
        if self.correction not in ("holm", "bh", "none"):
            raise bad(f"correction must be 'holm', 'bh' or 'none'; got {self.correction!r}")
        if self.planned_shares is not None and any(not s > 0 for _, s in self.planned_shares):
            raise bad("planned_shares must be positive")
        self.metric_defs()

    def metric_defs(self) -> tuple[MetricDef, ...]:
        """The metrics as (kind, day) pairs in the order asked, duplicates dropped."""
        out: list[MetricDef] = []
        for m in self.metrics:
            text = str(m).strip().lower()
            if text in KINDS:
                out.extend(MetricDef(text, d) for d in self.days)
                continue
            hit = _NAME.match(text)
            kind = (hit.group("kind") or "retention") if hit else None
            if hit is None or kind not in KINDS or int(hit.group("day")) < 1:
                raise ModelInputError(
                    f"ExperimentSpec: unknown metric {m!r}; use one of {', '.join(KINDS)}, '<kind>_d<N>' "
                    "(revenue_d30) or 'd<N>' for retention"
                )
            out.append(MetricDef(kind, int(hit.group("day"))))
        return tuple(dict.fromkeys(out))

    def shares(self) -> dict[str, float] | None:
        return None if self.planned_shares is None else dict(self.planned_shares)


# -- the warehouse part -------------------------------------------------------------------------------------------
STATS_SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("variant", pa.string()),
        ("metric", pa.string()),
        ("users", pa.int64()),
        ("n", pa.int64()),
        ("sum", pa.float64()),
        ("sum_squares", pa.float64()),
        ("x_sum", pa.float64()),
        ("x_sum_squares", pa.float64()),
        ("xy_sum", pa.float64()),
    ]
)


def _members(ws: Workspace, spec: ExperimentSpec, data_end: dt.datetime) -> ir.Table:
    """``user_key, variant (null for users in several variants), a (assignment day), segment``."""
    if not ws.has_table(T.ASSIGNMENTS):
        raise WorkspaceError("no assignments table; ingest the experiment's assignments (table='assignments')")
    asg = ws.table(T.ASSIGNMENTS)
    asg = asg.filter((asg.experiment == spec.experiment) & (asg.ts <= ibis.literal(data_end, "timestamp")))
    span = ws.engine.to_arrow(asg.aggregate(lo=asg.ts.min(), n=asg.count())).to_pylist()[0]
    if not span["n"]:
        raise ModelInputError(f"experiment {spec.experiment!r} has no assignments up to {data_end:%Y-%m-%d %H:%M}")
    first = asg.group_by("user_key").aggregate(ts=asg.ts.min(), variant=asg.variant.min(), k=asg.variant.nunique())
    m = first.select(
        "user_key",
        variant=ibis.ifelse(first.k == 1, first.variant, ibis.null("string")),
        a=ws.local_day(first.ts, span["lo"], data_end).cast("int64"),
    )
    if spec.by is None:
        return m.mutate(segment=ibis.literal(ALL))
    if not ws.has_table(T.USERS):
        raise WorkspaceError(f"by={spec.by!r} reads the users table; ingest it first (table='users')")
    users = ws.table(T.USERS)
    if spec.by not in users.columns:
        raise WorkspaceError(f"the users table has no column {spec.by!r}; columns: {', '.join(users.columns)}")
    seg = users.select("user_key", segment=users[spec.by].cast("string"))
    seg = seg.group_by("user_key").aggregate(segment=seg.segment.max())  # one row per user, whatever was ingested
    j = m.left_join(seg, "user_key")
    return j.select("user_key", "variant", "a", segment=j.segment.fill_null(NO_VALUE))


def _window(off: ir.IntegerValue, lo: int, hi: int) -> ir.BooleanValue:
    return (off >= lo) & (off <= hi)


def _count(cond: ir.BooleanValue) -> ir.IntegerValue:
    return cond.cast("int64").sum()


def _sum_if(cond: ir.BooleanValue, value: ir.NumericValue) -> ir.FloatingValue:
    return ibis.ifelse(cond, value.cast("float64"), 0.0).sum()


def attach_windows(
    per_user: ir.Table, anchors: ir.Table, table: ir.Table, aggs: dict[str, Any], lookback: int
) -> ir.Table:
    """``per_user`` with one more column per ``aggs`` entry: ``fn(rows)`` over each user's rows of ``table`` (with
    ``user_key, day``) from ``lookback`` days before their anchor day ``a`` (in ``anchors``) on, as ``off`` = day - a;
    0 for users without such rows. The per-user windows of experiments and uplift features are built this way."""
    j = table.join(anchors.select("user_key", "a"), "user_key")
    j = j.mutate(off=j.day.cast("int64") - j.a)
    j = j.filter(j.off >= -lookback)
    agg = j.group_by("user_key").aggregate(**{name: fn(j) for name, fn in aggs.items()})
    return per_user.left_join(agg, "user_key").select(*per_user.columns, *[agg[c].fill_null(0).name(c) for c in aggs])


def experiment_stats_expr(ws: Workspace, spec: ExperimentSpec, data_end: dt.datetime) -> ir.Table:
    """Build (not run) the one aggregate query: a wide row per (segment, variant) of every metric's sums."""
    defs = spec.metric_defs()
    kinds = {d.kind for d in defs}
    k = spec.cuped_days
    end_day = periods.day_of_instant(data_end, ws.settings.tz)
    end_ts = ibis.literal(data_end, "timestamp")
    m = _members(ws, spec, data_end)
    per_user = m
    need_days = {d.day for d in defs}

    def attach(table: ir.Table, aggs: dict[str, Any]) -> None:
        nonlocal per_user
        per_user = attach_windows(per_user, m, table, aggs, k)

    ud = ws.user_day_until(data_end)
    activity: dict[str, Any] = {"pre_active": lambda j: _count(_window(j.off, -k, -1))}
    for n in need_days:
        if spec.criterion == "on":
            activity[f"ret_{n}"] = lambda j, n=n: (j.off == n).cast("int64").max()
        else:
            activity[f"ret_{n}"] = lambda j, n=n: (j.off >= n).cast("int64").max()
        activity[f"days_{n}"] = lambda j, n=n: _count(_window(j.off, 0, n - 1))
        if "revenue" in kinds and spec.revenue_events is None:
            activity[f"rev_{n}"] = lambda j, n=n: _sum_if(_window(j.off, 0, n - 1), j.amount.fill_null(0.0))
    if "revenue" in kinds and spec.revenue_events is None:
        activity["rev_pre"] = lambda j: _sum_if(_window(j.off, -k, -1), j.amount.fill_null(0.0))
    attach(ud, activity)

    revenue_events = spec.revenue_events if "revenue" in kinds else None
    if "orders" in kinds or revenue_events is not None:
        ude = ws.user_day_event()
        wanted = set(spec.order_events if "orders" in kinds else ()) | set(revenue_events or ())
        ude = ude.filter(ude.event.isin(sorted(wanted)) & (ude.day < end_day))
        orders = list(spec.order_events)
        revs = list(revenue_events or ())
        per_event: dict[str, Any] = {}
        if "orders" in kinds:
            per_event["ord_pre"] = lambda j: _sum_if(j.event.isin(orders) & _window(j.off, -k, -1), j.events)
            for n in need_days:
                per_event[f"ord_{n}"] = lambda j, n=n: _sum_if(
                    j.event.isin(orders) & _window(j.off, 0, n - 1), j.events
                )
        if revs:
            amount = lambda j: j.amount.fill_null(0.0)  # noqa: E731
            per_event["rev_pre"] = lambda j: _sum_if(j.event.isin(revs) & _window(j.off, -k, -1), amount(j))
            for n in need_days:
                per_event[f"rev_{n}"] = lambda j, n=n: _sum_if(j.event.isin(revs) & _window(j.off, 0, n - 1), amount(j))
        attach(ude, per_event)

    if kinds & {"incentive_cost", "cost_per_retained"}:
        if not ws.has_table(T.INCENTIVES):
            raise WorkspaceError("incentive cost reads the incentives table; ingest it first (table='incentives')")
        inc = ws.table(T.INCENTIVES)
        inc = inc.filter((inc.ts <= end_ts) & inc.day.notnull()).mutate(cost=inc.cost.fill_null(0.0))
        costs: dict[str, Any] = {"cost_pre": lambda j: _sum_if(_window(j.off, -k, -1), j.cost)}
        for n in need_days:
            costs[f"cost_{n}"] = lambda j, n=n: _sum_if(_window(j.off, 0, n - 1), j.cost)
        attach(inc, costs)

    u = per_user
    zero = ibis.literal(0.0)
    aggs: dict[str, ir.Value] = {"users": u.count()}
    for d in defs:
        n = d.day
        if d.kind == "retention":
            y, x, obs = u[f"ret_{n}"], u.pre_active, end_day > u.a + n
        elif d.kind == "participation":
            y, x, obs = u[f"days_{n}"].cast("float64") / n, u.pre_active, end_day > u.a + n - 1
        elif d.kind == "orders":
            y, x, obs = u[f"ord_{n}"], u.ord_pre, end_day > u.a + n - 1
        elif d.kind == "revenue":
            y, x, obs = u[f"rev_{n}"], u.rev_pre, end_day > u.a + n - 1
        elif d.kind == "incentive_cost":
            y, x, obs = u[f"cost_{n}"], u.cost_pre, end_day > u.a + n - 1
        else:  # cost_per_retained: y = cost, x = retained (the ratio's denominator)
            y, x, obs = u[f"cost_{n}"], u[f"ret_{n}"], end_day > u.a + n
        if k == 0 and d.kind != "cost_per_retained":
            x = zero
        y, x = y.cast("float64"), x.cast("float64")
        p = d.name
        aggs[f"{p}__n"] = _count(obs)
        aggs[f"{p}__sum"] = _sum_if(obs, y)
        aggs[f"{p}__sum_squares"] = _sum_if(obs, y * y)
        aggs[f"{p}__x_sum"] = _sum_if(obs, x)
        aggs[f"{p}__x_sum_squares"] = _sum_if(obs, x * x)
        aggs[f"{p}__xy_sum"] = _sum_if(obs, x * y)
    return u.group_by(["segment", "variant"]).aggregate(**aggs)


def experiment_stats(ws: Workspace, spec: ExperimentSpec, *, data_end: dt.datetime | None = None) -> pa.Table:
    """Run the aggregate query and return the long sufficient-statistics table (:data:`STATS_SCHEMA`).

    One row per (segment, variant, metric); ``variant`` is null for users assigned to several variants. With
    ``by`` set the table holds the segments only (the ``"all"`` row is their sum, added by the analysis).
    """
    end = ws.resolve_data_end(data_end, "reading an experiment")
    wide = ws.engine.to_arrow(experiment_stats_expr(ws, spec, end)).to_pylist()
    rows = []
    for r in sorted(wide, key=lambda r: (r["segment"], r["variant"] is None, r["variant"] or "")):
        for d in spec.metric_defs():
            p = d.name
            rows.append(
                {
                    "segment": r["segment"],
                    "variant": r["variant"],
                    "metric": p,
                    "users": int(r["users"]),
                    "n": int(r[f"{p}__n"] or 0),
                    **{c: float(r[f"{p}__{c}"] or 0.0) for c in STATS_SCHEMA.names[5:]},
                }
            )
    return pa.Table.from_pylist(rows, schema=STATS_SCHEMA)


# -- the statistics part ------------------------------------------------------------------------------------------
RESULT_SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("metric", pa.string()),
        ("kind", pa.string()),
        ("day", pa.int64()),
        ("variant", pa.string()),
        ("is_control", pa.bool_()),
        ("users", pa.int64()),
        ("n", pa.int64()),
        ("unobserved", pa.int64()),
        ("mean", pa.float64()),
        ("control_mean", pa.float64()),
        ("method", pa.string()),
        ("difference", pa.float64()),
        ("ci_lower", pa.float64()),
        ("ci_upper", pa.float64()),
        ("relative_lift", pa.float64()),
        ("relative_lift_ci_lower", pa.float64()),
        ("relative_lift_ci_upper", pa.float64()),
        ("p_value", pa.float64()),
        ("p_adjusted", pa.float64()),
        ("significant", pa.bool_()),
        ("unadjusted_difference", pa.float64()),
        ("unadjusted_ci_lower", pa.float64()),
        ("unadjusted_ci_upper", pa.float64()),
        ("cuped_theta", pa.float64()),
        ("cuped_variance_reduction", pa.float64()),
        ("chance_to_win", pa.float64()),
        ("expected_loss", pa.float64()),
        ("always_valid_ci_lower", pa.float64()),
        ("always_valid_ci_upper", pa.float64()),
        ("always_valid_p_value", pa.float64()),
        ("srm_p_value", pa.float64()),
        ("srm_mismatch", pa.bool_()),
        ("note", pa.string()),
    ]
)


def ratio_test(control: CovariateStats, treatment: CovariateStats, *, alpha: float = 0.05) -> FrequentistResult:
    """Difference of two ratio metrics ``Σy/Σx`` (cost per retained user), delta-method variances, z intervals.

    Per arm, with means ``ȳ``, ``x̄`` and ``R = ȳ/x̄``: ``Var(R̂) ≈ (s²_y − 2R·s_xy + R²·s²_x)/(n·x̄²)`` (the
    first-order expansion GrowthBook and Deng et al. 2018 use for ratio metrics); the arms are independent.
    """
    parts = []
    for name, s in (("control", control), ("treatment", treatment)):
        if s.n < 2 or not s.x_sum > 0:
            raise ModelInputError(f"ratio_test: the {name} arm needs 2 units and a positive denominator (nobody kept)")
        xbar = s.x_sum / s.n
        r = s.sum / s.x_sum
        var = (s.outcome.variance - 2 * r * s.covariance + r * r * s.covariate.variance) / (s.n * xbar * xbar)
        parts.append((r, max(var, 0.0)))
    (ra, va), (rb, vb) = parts
    diff, var = rb - ra, va + vb
    if not var > 0:
        raise ModelInputError("ratio_test: the ratio has no variance in either arm")
    se, crit = math.sqrt(var), critical(alpha, math.inf)
    if ra == 0:
        lift = lift_se = lo = hi = lift_p = math.nan
    else:
        lift, lift_var = relative_lift_delta(diff, var, ra, va, -va)
        lift_se = math.sqrt(lift_var)
        lo, hi = lift - crit * lift_se, lift + crit * lift_se
        lift_p = two_sided(lift / lift_se, math.inf) if lift_se > 0 else math.nan
    return FrequentistResult(
        test="ratio_delta_z",
        alpha=alpha,
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=ra,
        treatment_mean=rb,
        difference=diff,
        difference_se=se,
        difference_ci_lower=diff - crit * se,
        difference_ci_upper=diff + crit * se,
        statistic=diff / se,
        df=math.inf,
        p_value=two_sided(diff / se, math.inf),
        relative_lift=lift,
        relative_lift_se=lift_se,
        relative_lift_ci_lower=lo,
        relative_lift_ci_upper=hi,
        relative_lift_p_value=lift_p,
    )


def normal_chance_to_win(plain: FrequentistResult, lower_is_better: bool) -> tuple[float, float]:
    """Chance to win and expected loss of shipping the treatment under flat-prior normal posteriors.

    With a flat prior each arm's posterior is ``N(ȳ, s²/n)``, so ``B − A ~ N(D, se²)`` with the Welch (or
    delta-method) ``D`` and ``se``: ``P(B better) = Φ(±D/se)`` and the expected loss ``E[max(A − B, 0)]`` (higher
    is better) is the normal partial expectation. These are exactly :func:`~liuliang.causal.bayesian.normal_test`'s
    two-normal formulas, computed here without the relative-lift quantiles, which that function needs a control
    posterior away from zero for (revenue, cost and counts often are not).
    """
    d, se = plain.difference, plain.difference_se
    if not se > 0:
        raise ModelInputError("the difference has no standard error")
    gain = -d if lower_is_better else d  # how much better B is
    z = gain / se
    loss = -gain * float(sps.norm.cdf(-z)) + se * float(sps.norm.pdf(z))
    return float(sps.norm.cdf(z)), loss


def _cov_stats(row: dict[str, Any]) -> CovariateStats:
    return CovariateStats(row["n"], row["sum"], row["sum_squares"], row["x_sum"], row["x_sum_squares"], row["xy_sum"])


def _arm_mean(d: MetricDef, s: CovariateStats) -> float | None:
    if d.test == "ratio":
        return s.sum / s.x_sum if s.x_sum > 0 else None
    return s.sum / s.n if s.n else None


def _compare(d: MetricDef, ctrl: CovariateStats, trt: CovariateStats, spec: ExperimentSpec) -> dict[str, Any]:
    """Every statistic of one (metric, variant) comparison; a failed part leaves its fields null with a note."""
    notes: list[str] = []
    row: dict[str, Any] = {}
    lower = d.kind in LOWER_IS_BETTER
    try:
        if d.test == "proportion":
            plain = two_proportion_ztest(ctrl.outcome, trt.outcome, alpha=spec.alpha)
        elif d.test == "ratio":
            plain = ratio_test(ctrl, trt, alpha=spec.alpha)
        else:
            plain = welch_ttest(ctrl.outcome, trt.outcome, alpha=spec.alpha)
    except ModelInputError as e:
        return {"note": f"no test: {e}"}
    head: FrequentistResult = plain
    row["method"] = "plain"
    if d.test != "ratio" and spec.cuped_days > 0:
        try:
            cuped = cuped_ttest(ctrl, trt, theta="pooled", alpha=spec.alpha)
            head = cuped
            row.update(method="cuped", cuped_theta=cuped.theta, cuped_variance_reduction=cuped.variance_reduction)
        except ModelInputError:
            notes.append(
                f"no CUPED: the {spec.cuped_days}-day pre-period covariate is constant (e.g. assigned at signup)"
            )
    row.update(
        difference=head.difference,
        ci_lower=head.difference_ci_lower,
        ci_upper=head.difference_ci_upper,
        relative_lift=head.relative_lift,
        relative_lift_ci_lower=head.relative_lift_ci_lower,
        relative_lift_ci_upper=head.relative_lift_ci_upper,
        p_value=head.p_value,
        unadjusted_difference=plain.difference,
        unadjusted_ci_lower=plain.difference_ci_lower,
        unadjusted_ci_upper=plain.difference_ci_upper,
    )
    try:
        if d.test == "proportion":
            bayes = beta_binomial_test(ctrl.outcome, trt.outcome, higher_is_better=not lower)
            row.update(chance_to_win=bayes.chance_to_win, expected_loss=bayes.expected_loss_treatment)
        else:
            row.update(zip(("chance_to_win", "expected_loss"), normal_chance_to_win(plain, lower), strict=True))
    except (ModelInputError, ValueError) as e:  # ValueError: a root bracket failed in the lift quantile
        notes.append(f"no chance to win: {e}")
    if d.test != "ratio":
        # Growth teams look at a running experiment every morning: this interval stays valid however often they do
        # (the fixed-horizon one above is only valid at one planned look).
        try:
            seq = confidence_sequence(
                ctrl.outcome,
                trt.outcome,
                alpha=spec.alpha,
                outcome="proportion" if d.test == "proportion" else "mean",
            )
            row.update(
                always_valid_ci_lower=seq.difference_ci_lower,
                always_valid_ci_upper=seq.difference_ci_upper,
                always_valid_p_value=seq.p_value,
            )
        except ModelInputError as e:
            notes.append(f"no always-valid interval: {e}")
    if notes:
        row["note"] = "; ".join(notes)
    return row


def _segments(stats: pa.Table) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """segment -> (variant, metric) -> stats row; ``"all"`` is the sum of every segment."""
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    total: dict[tuple[str, str], dict[str, Any]] = {}
    sums = ("users", "n", *STATS_SCHEMA.names[5:])
    for r in stats.to_pylist():
        if r["variant"] is None:
            continue
        key = (r["variant"], r["metric"])
        out.setdefault(r["segment"], {})[key] = r
        acc = total.setdefault(key, {**r, "segment": ALL, **dict.fromkeys(sums, 0)})
        for c in sums:
            acc[c] += r[c]
    if set(out) != {ALL}:
        out = {ALL: total, **out}
    return out


def analyze_experiment(
    stats: pa.Table, spec: ExperimentSpec, *, data_end: dt.datetime | None = None
) -> ExperimentResult:
    """Turn the sufficient-statistics table into effects (pure: no warehouse access)."""
    defs = spec.metric_defs()
    by_segment = _segments(stats)
    multiple = 0
    for r in stats.to_pylist():
        if r["variant"] is None and r["metric"] == defs[0].name:
            multiple += r["users"]
    if ALL not in by_segment:
        raise ModelInputError(f"experiment {spec.experiment!r}: no user is in exactly one variant")
    variants = sorted({v for v, _ in by_segment[ALL]})
    if spec.control not in variants:
        raise ModelInputError(
            f"experiment {spec.experiment!r} has no variant {spec.control!r} (control); variants: {', '.join(variants)}"
        )
    if len(variants) < 2:
        raise ModelInputError(f"experiment {spec.experiment!r} has only the variant {variants[0]!r}")
    shares = spec.shares()
    if shares is not None and set(shares) != set(variants):
        raise ModelInputError(f"planned_shares names {sorted(shares)} but the variants are {variants}")
    others = [v for v in variants if v != spec.control]
    rows: list[dict[str, Any]] = []
    srm_overall: SRMResult | None = None
    for segment, cells in by_segment.items():
        counts = {v: int(cells[(v, defs[0].name)]["users"]) if (v, defs[0].name) in cells else 0 for v in variants}
        srm = sample_ratio_test(counts, shares, warn=False) if sum(counts.values()) else None
        if segment == ALL:
            srm_overall = srm
        srm_cols = {"srm_p_value": srm.p_value if srm else None, "srm_mismatch": srm.mismatch if srm else None}
        for v in others:
            family: list[dict[str, Any]] = []
            for d in defs:
                c, t = cells.get((spec.control, d.name)), cells.get((v, d.name))
                if v == others[0]:
                    rows.append(_arm_row(segment, d, spec.control, True, c, None, srm_cols))
                row = _arm_row(segment, d, v, False, t, c, srm_cols)
                if c is not None and t is not None:
                    row.update(_compare(d, _cov_stats(c), _cov_stats(t), spec))
                rows.append(row)
                family.append(row)
            tested = [r for r in family if r.get("p_value") is not None]
            if tested:
                adj = adjust_pvalues([r["p_value"] for r in tested], spec.correction, alpha=spec.alpha)
                for r, p in zip(tested, adj.adjusted, strict=True):
                    r["p_adjusted"], r["significant"] = p, p < spec.alpha
    table = pa.Table.from_pylist([{c: r.get(c) for c in RESULT_SCHEMA.names} for r in rows], schema=RESULT_SCHEMA)
    assert srm_overall is not None
    if srm_overall.mismatch:
        warnings.warn(srm_overall.message, SampleRatioMismatchWarning, stacklevel=2)
    return ExperimentResult(
        spec=spec, table=table, stats=stats, srm=srm_overall, multiple_variants=multiple, data_end=data_end
    )


def _arm_row(
    segment: str,
    d: MetricDef,
    variant: str,
    is_control: bool,
    s: dict[str, Any] | None,
    control: dict[str, Any] | None,
    srm_cols: dict[str, Any],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "segment": segment,
        "metric": d.name,
        "kind": d.kind,
        "day": d.day,
        "variant": variant,
        "is_control": is_control,
        **srm_cols,
    }
    if s is None:
        return {**row, "users": 0, "n": 0, "unobserved": 0, "note": "no users in this arm"}
    row.update(users=s["users"], n=s["n"], unobserved=s["users"] - s["n"], mean=_arm_mean(d, _cov_stats(s)))
    if control is not None:
        row["control_mean"] = _arm_mean(d, _cov_stats(control))
    return row


def run_experiment(ws: Workspace, spec: ExperimentSpec, *, data_end: dt.datetime | None = None) -> ExperimentResult:
    """Read an experiment: the sufficient statistics in the warehouse (one query), the effects in Python.

    Examples
    --------
    >>> res = run_experiment(ws, ExperimentSpec("challenge7", metrics=("d7", "d30")))  # doctest: +SKIP
    >>> res.row("retention_d7", "treatment")["ci_lower"]  # doctest: +SKIP
    """
    end = ws.resolve_data_end(data_end, "reading an experiment")
    return analyze_experiment(experiment_stats(ws, spec, data_end=end), spec, data_end=end)


# -- the result ---------------------------------------------------------------------------------------------------
HEADLINE = (
    "segment",
    "metric",
    "variant",
    "n",
    "mean",
    "difference",
    "ci_lower",
    "ci_upper",
    "relative_lift",
    "p_adjusted",
    "chance_to_win",
    "cuped_variance_reduction",
)


@dataclass(frozen=True)
class ExperimentResult:
    """An experiment read: one long row per (segment, metric, variant), control rows included.

    Attributes
    ----------
    spec: the :class:`ExperimentSpec`. table: the long table (:data:`RESULT_SCHEMA`): ``method`` says whether the
    headline ``difference``/``ci_*``/``p_value`` are CUPED-adjusted (``unadjusted_*`` are always the plain test);
    ``p_adjusted`` is across the metrics of one (segment, variant); ``note`` says why a field is null.
    stats: the sufficient statistics the warehouse returned. srm: the overall sample-ratio test.
    multiple_variants: users excluded for being in several variants. data_end: the "now" used.
    """

    spec: ExperimentSpec
    table: pa.Table
    stats: pa.Table
    srm: SRMResult
    multiple_variants: int = 0
    data_end: dt.datetime | None = None
    _index: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        cols = [self.table[c].to_pylist() for c in ("segment", "metric", "variant")]
        keys = zip(*cols, strict=True)
        self._index.update({k: i for i, k in enumerate(keys)})

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> Any:
        return self.table.to_pandas()

    def row(self, metric: str, variant: str, segment: str = ALL) -> dict[str, Any]:
        """One flat row of the table (a copy)."""
        i = self._index.get((segment, metric, variant))
        if i is None:
            raise KeyError((segment, metric, variant))
        return self.table.slice(i, 1).to_pylist()[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the spec, ``data_end``, the SRM check and the rows as flat records (NaN as None)."""
        spec = {f.name: getattr(self.spec, f.name) for f in dataclasses.fields(self.spec)}
        spec["planned_shares"] = self.spec.shares()
        rows = [{k: _finite(v) for k, v in r.items()} for r in self.table.to_pylist()]
        return {
            "spec": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()},
            "data_end": self.data_end.isoformat() if self.data_end else None,
            "srm": self.srm.to_dict(),
            "multiple_variants": self.multiple_variants,
            "rows": rows,
        }

    def _repr_html_(self) -> str:
        rows = [r for r in self.table.to_pylist() if not r["is_control"]]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in HEADLINE)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in HEADLINE) + "</tr>" for r in rows
        )
        return (
            f"<p><b>experiment {html.escape(self.spec.experiment)}</b> vs {html.escape(self.spec.control)}; "
            f"{html.escape(self.srm.message)}</p><table><tr>{head}</tr>{body}</table>"
        )

    def __repr__(self) -> str:
        return (
            f"ExperimentResult(experiment={self.spec.experiment!r}, metrics={len(self.spec.metric_defs())}, "
            f"rows={self.table.num_rows}, srm_mismatch={self.srm.mismatch})"
        )


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
