"""Did a grant *cause* retention when it was not randomised? The warehouse side of the observational estimators.

Growth teams hand out red packets to whoever the campaign rules pick, so grantees differ from everyone else before
any grant. This module turns the warehouse into the one table :class:`~liuliang.causal.observational.AIPWEstimator`
and :class:`~liuliang.causal.observational.IPWEstimator` need — one row per user, with a 0/1 grant, a 0/1 retention
outcome and covariates fixed *before* the grant could act — and returns the estimate with its balance diagnostics,
always labelled observational.

Design (a landmark design anchored at each user's start; all days are local days of the workspace zone)
---------------------------------------------------------------------------------------------------------------
*Anchor* ``s``: the local day of ``users.signup_ts`` (earliest row per user); users without a signup time are
anchored at their first active day. Users who signed up after ``data_end`` do not exist yet and are left out.
Offsets are whole local days from ``s``.

*Treatment*: the user's **first** incentive of ``kind`` (granted at or before ``data_end``) falls on offsets
``0 .. W−1`` (``W = grant_window_days``). Everyone else is a control, including users first granted after the
window: the question is "what did a grant in the first W days do", as a product manager would decide it at signup.

*Outcome*: ``retained`` = active (any event) on offset ``N = outcome_day`` (criterion ``"on"``, as the retention
engine's "day N"), with ``N >= W`` so the outcome is never measured inside the treatment window. A user is
*observed* when day ``s + N`` has fully elapsed (the local day ``E`` of ``data_end`` satisfies ``E > s + N``, the
experiment read's rule).

*Covariates* — nothing from after the anchor day, so none can be a consequence of the grant:

- ``channel_<name>``: one-hot acquisition channel (``users.channel``; no row or no value: ``(none)``);
- ``weekday_<mon..sun>``: one-hot weekday of ``s`` (weekend signups behave differently);
- ``cohort_day``: ``s`` − the first event day in the warehouse (calendar time: festivals and campaign waves);
- with ``day0_covariates`` (default), day-0 behaviour: ``active_d0`` (any event on day ``s``), ``events_d0``,
  ``orders_d0`` (``order_events``) and ``amount_d0`` (summed ``amount``), where the counts leave out
  ``grant_events`` (the redemption event a grant itself produces).

Day 0 is the one compromise: a grant *on* day 0 shares the day with the covariates. Grants come with (not before)
a user's first visit, so day-0 activity is treated as pre-treatment; set ``day0_covariates=False`` for the strict
design with signup attributes only. Constant columns (e.g. ``active_d0`` when everyone was active on day 0) are
dropped before fitting.

*Exclusions, each counted in the result*: users anchored before the first event day (``before_data``: their day 0
is not in the data), users first granted before their anchor (``granted_before``: already treated at the
landmark), users whose outcome is not yet observed (``unobserved``) and, with ``overlap="trim"`` (the default),
users of channels where everyone or no one was granted (``no_overlap``): there, the data hold no untreated (or no
treated) comparison at all, so no weighting can identify the effect, and the estimand becomes the ATE over the
channels where both arms occur (:attr:`GrantEffectResult.no_overlap_channels` names the others).

Assumption no data can check: **no unmeasured confounding** — given the covariates above, who got a grant is as
good as random. A campaign that granted red packets to users who came back on day 3 violates it (day-3 activity is
not a covariate, and may not be, being after the anchor); that is why every result carries ``observational=True``
and :data:`~liuliang.causal.observational.OBSERVATIONAL_LABEL`, and why the balance table is part of the result.

The relational part (:func:`grant_effect_table`) is Ibis on the ``user_day`` / ``user_day_event`` rollups and the
``incentives`` / ``users`` tables, so DuckDB and Spark run the same query; the statistics
(:func:`analyze_grant_effect`) only see the Arrow table it returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.causal.balance import BalanceResult
from liuliang.causal.observational import OBSERVATIONAL_LABEL, AIPWEstimator, IPWEstimator, ObservationalEffect
from liuliang.errors import ModelInputError, WorkspaceError
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

__all__ = [
    "STATUSES",
    "TABLE_SCHEMA",
    "GrantEffectResult",
    "GrantEffectSpec",
    "PositivityWarning",
    "analyze_grant_effect",
    "grant_effect_table",
    "run_grant_effect",
]

NO_VALUE = "(none)"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: ``status`` values of the per-user table, in the order they are decided (the first that applies wins).
STATUSES = ("before_data", "granted_before", "unobserved", "eligible")
DAY0 = ("active_d0", "events_d0", "orders_d0", "amount_d0")

TABLE_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("anchor_day", pa.int64()),
        ("anchor", pa.string()),  # "signup" or "first_active"
        ("channel", pa.string()),
        ("weekday", pa.int64()),  # 0 = Monday
        ("cohort_day", pa.int64()),
        ("active_d0", pa.int64()),
        ("events_d0", pa.float64()),
        ("orders_d0", pa.float64()),
        ("amount_d0", pa.float64()),
        ("grant_offset", pa.int64()),  # offset of the first grant of the kind (null: never granted)
        ("treated", pa.bool_()),
        ("retained", pa.int64()),  # null when not observed
        ("observed", pa.bool_()),
        ("status", pa.string()),
    ]
)


class PositivityWarning(UserWarning):
    """Some users had (almost) no chance of one arm: the estimate leans on few, heavily weighted users."""


@dataclass(frozen=True)
class GrantEffectSpec:
    """What grant, which outcome, which estimator (module docstring for every definition).

    Parameters
    ----------
    kind : the ``incentives.kind`` whose grant is the treatment.
    grant_window_days : W; treated = first grant of ``kind`` on offsets ``0 .. W−1`` from the anchor.
    outcome_day : N >= W; retained = active on offset N.
    estimator : ``"aipw"`` (doubly robust, default) or ``"ipw"``.
    propensity_model : ``"logistic"`` or ``"hgb"``. outcome_model : ``"linear"`` or ``"hgb"`` (AIPW only).
    day0_covariates : include day-0 activity as covariates (else signup attributes only).
    order_events : event names counted in ``orders_d0``. grant_events : events left out of the day-0 counts.
    overlap : ``"trim"`` drops channels with only one arm (counted); ``"keep"`` keeps them and warns.
    n_folds, clip, alpha, random_state : passed to the estimator.

    Examples
    --------
    >>> GrantEffectSpec("coupon", grant_window_days=3, outcome_day=14).estimator
    'aipw'
    """

    kind: str = "red_packet"
    grant_window_days: int = 7
    outcome_day: int = 30
    estimator: Literal["aipw", "ipw"] = "aipw"
    propensity_model: Literal["logistic", "hgb"] = "logistic"
    outcome_model: Literal["linear", "hgb"] = "linear"
    day0_covariates: bool = True
    order_events: tuple[str, ...] = ("order",)
    grant_events: tuple[str, ...] = ("redeem_red_packet",)
    overlap: Literal["trim", "keep"] = "trim"
    n_folds: int = 5
    clip: float = 0.01
    alpha: float = 0.05
    random_state: int = 0

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ModelInputError:
            return ModelInputError(f"GrantEffectSpec.{name} must be {allowed}; got {getattr(self, name)!r}")

        for name in ("order_events", "grant_events"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not isinstance(self.kind, str) or not self.kind:
            raise bad("kind", "an incentive kind (e.g. 'red_packet')")
        w = self.grant_window_days
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise bad("grant_window_days", "an integer >= 1")
        n = self.outcome_day
        if isinstance(n, bool) or not isinstance(n, int) or n < w:
            raise bad("outcome_day", f"an integer >= grant_window_days ({w}): the outcome follows the window")
        choices = {
            "estimator": ("aipw", "ipw"),
            "propensity_model": ("logistic", "hgb"),
            "outcome_model": ("linear", "hgb"),
            "overlap": ("trim", "keep"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise bad(name, " or ".join(repr(a) for a in allowed))
        if not isinstance(self.day0_covariates, bool):
            raise bad("day0_covariates", "True or False")
        if isinstance(self.n_folds, bool) or not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise bad("n_folds", "an integer >= 2")
        if not 0 <= self.clip < 0.5:
            raise bad("clip", "a number in [0, 0.5)")
        if not 0 < self.alpha < 1:
            raise bad("alpha", "a number in (0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in dataclasses.fields(self)
        }


# -- the warehouse part ---------------------------------------------------------------------------------------------
def _signup(ws: Workspace, end: dt.datetime) -> ir.Table | None:
    """``user_key, signup (local day or null), channel``: one row per user of the users table signed up by ``end``."""
    if not ws.has_table(T.USERS):
        return None
    users = ws.table(T.USERS)
    users = users.filter(users.signup_ts.isnull() | (users.signup_ts <= ibis.literal(end, "timestamp")))
    span = ws.engine.to_arrow(users.aggregate(lo=users.signup_ts.min(), hi=users.signup_ts.max())).to_pylist()[0]
    day = ibis.null("int64") if span["lo"] is None else ws.local_day(users.signup_ts, span["lo"], span["hi"])
    u = users.select(
        user_key=users.user_key.cast("int64"), signup=day.cast("int64"), channel=users.channel.cast("string")
    )
    return u.group_by("user_key").aggregate(signup=u.signup.min(), channel=u.channel.max())


def grant_effect_table_expr(ws: Workspace, spec: GrantEffectSpec, data_end: dt.datetime) -> ir.Table:
    """Build (and run two small range queries for) the per-user table (:data:`TABLE_SCHEMA`, unsorted)."""
    span = ws.event_span()
    if span is None:
        raise WorkspaceError("the workspace has no events yet; ingest events before estimating a grant's effect")
    if not ws.has_table(T.INCENTIVES):
        raise WorkspaceError("a grant's effect reads the incentives table; ingest it first (table='incentives')")
    w, n = spec.grant_window_days, spec.outcome_day
    end_day = periods.day_of_instant(data_end, ws.settings.tz)
    end_ts = ibis.literal(data_end, "timestamp")

    ud = ws.user_day()
    ud = ud.select(user_key=ud.user_key.cast("int64"), day=ud.day.cast("int64"), first_ts=ud.first_ts)
    seen = ws.user_day_until(data_end)
    seen = seen.select(user_key=seen.user_key.cast("int64"), day=seen.day.cast("int64"), first_ts=seen.first_ts)
    first = seen.group_by("user_key").aggregate(first_day=seen.day.min())
    signup = _signup(ws, data_end)
    if signup is None:
        pop = first.mutate(signup=ibis.null("int64"), channel=ibis.null("string"))
    else:
        keys = first.select("user_key").union(signup.select("user_key"), distinct=True)
        j = keys.left_join(first, "user_key")
        j = j.select("user_key", "first_day")
        j = j.left_join(signup, "user_key")
        pop = j.select("user_key", "first_day", "signup", "channel")
    pop = pop.filter(pop.signup.notnull() | pop.first_day.notnull())
    pop = pop.select(
        "user_key",
        a=pop.signup.coalesce(pop.first_day),
        anchor=ibis.ifelse(pop.signup.notnull(), "signup", "first_active"),
        channel=pop.channel.fill_null(NO_VALUE),
    )
    anchors = pop.select("user_key", "a")

    # outcome and day-0 activity: whole days before the local day of data_end only
    done = ud.filter(ud.day < end_day).join(anchors, "user_key")
    done = done.mutate(off=done.day - done.a)
    act = (
        done.filter((done.off == 0) | (done.off == n))
        .group_by("user_key")
        .aggregate(active_d0=(done.off == 0).cast("int64").max(), ret=(done.off == n).cast("int64").max())
    )
    ude = ws.user_day_event()
    ude = ude.filter(ude.day.cast("int64") < end_day)
    if spec.grant_events:
        ude = ude.filter(~ude.event.isin(list(spec.grant_events)))
    ude = ude.select(
        user_key=ude.user_key.cast("int64"),
        day=ude.day.cast("int64"),
        event=ude.event,
        events=ude.events,
        amount=ude.amount,
    )
    d0 = ude.join(anchors, "user_key").filter(lambda t: t.day == t.a)
    is_order = d0.event.isin(list(spec.order_events)) if spec.order_events else ibis.literal(False)
    day0 = d0.group_by("user_key").aggregate(
        events_d0=d0.events.cast("float64").sum(),
        orders_d0=ibis.ifelse(is_order, d0.events.cast("float64"), 0.0).sum(),
        amount_d0=d0.amount.fill_null(0.0).cast("float64").sum(),
    )
    inc = ws.table(T.INCENTIVES)
    inc = inc.filter((inc.kind == spec.kind) & (inc.ts <= end_ts) & inc.day.notnull())
    grants = inc.group_by(user_key=inc.user_key.cast("int64")).aggregate(g=inc.day.cast("int64").min())

    t = pop.left_join(act, "user_key").select(*pop.columns, "active_d0", "ret")
    t = t.left_join(day0, "user_key").select(*t.columns, "events_d0", "orders_d0", "amount_d0")
    t = t.left_join(grants, "user_key").select(*t.columns, "g")
    keys = ws.table(T.USER_KEYS)
    t = t.join(keys.select(user_key=keys.user_key.cast("int64"), user_id=keys.user_id), "user_key")
    offset = (t.g - t.a).cast("int64")
    observed = ibis.literal(end_day, "int64") > t.a + n
    status = ibis.cases(
        (t.a < span.first_day, "before_data"),
        (t.g.notnull() & (offset < 0), "granted_before"),
        (~observed, "unobserved"),
        else_="eligible",
    )
    return t.select(
        "user_id",
        anchor_day=t.a.cast("int64"),
        anchor=t.anchor,
        channel=t.channel,
        weekday=((t.a + 3) % 7).cast("int64"),  # day 0 (1970-01-01) was a Thursday
        cohort_day=(t.a - span.first_day).cast("int64"),
        active_d0=t.active_d0.fill_null(0).cast("int64"),
        events_d0=t.events_d0.fill_null(0.0),
        orders_d0=t.orders_d0.fill_null(0.0),
        amount_d0=t.amount_d0.fill_null(0.0),
        grant_offset=offset,
        treated=(t.g.notnull() & (offset >= 0) & (offset < w)),
        retained=ibis.ifelse(observed, t.ret.fill_null(0).cast("int64"), ibis.null("int64")),
        observed=observed,
        status=status,
    )


def grant_effect_table(ws: Workspace, spec: GrantEffectSpec, *, data_end: dt.datetime | None = None) -> pa.Table:
    """The per-user table (:data:`TABLE_SCHEMA`, sorted by ``user_id``): every user with an anchor, with ``status``
    saying whether they enter the estimate (``"eligible"``) or why not."""
    end = ws.resolve_data_end(data_end, "estimating a grant's effect")
    raw = ws.engine.to_arrow(grant_effect_table_expr(ws, spec, end))
    return raw.select(TABLE_SCHEMA.names).cast(TABLE_SCHEMA).sort_by("user_id")


# -- the statistics part --------------------------------------------------------------------------------------------
def _design(t: pa.Table, spec: GrantEffectSpec) -> tuple[np.ndarray, list[str]]:
    """The covariate matrix of the analysed rows: one-hot channel and weekday, cohort day, day-0 activity."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    channel = np.asarray(t["channel"].to_pylist(), dtype=object)
    for c in sorted(set(channel.tolist())):
        cols.append((channel == c).astype(float))
        names.append(f"channel_{c}")
    weekday = t["weekday"].to_numpy()
    for i, d in enumerate(WEEKDAYS):
        cols.append((weekday == i).astype(float))
        names.append(f"weekday_{d}")
    numeric = ("cohort_day", *DAY0) if spec.day0_covariates else ("cohort_day",)
    for c in numeric:
        cols.append(t[c].to_numpy(zero_copy_only=False).astype(float))
        names.append(c)
    x = np.column_stack(cols)
    keep = x.std(axis=0) > 0  # a constant column carries no information and has no SMD
    return x[:, keep], [nm for nm, k in zip(names, keep, strict=True) if k]


@dataclass(frozen=True)
class GrantEffectResult:
    """The observational effect of a grant on day-N retention, with its sample and its balance diagnostics.

    Attributes
    ----------
    spec, data_end : what was estimated and the "now" used.
    effect, se, ci_lower, ci_upper, p_value : the ATE on P(retained) (a difference of proportions) and its interval.
    treated_mean, control_mean : estimated retention if everyone / no one had been granted.
    naive_difference : the raw retention difference granted − not granted, for contrast.
    n_treated, n_control : analysed users in each arm. n_users : users with an anchor.
    n_before_data, n_granted_before, n_unobserved, n_no_overlap : users excluded, by reason (module docstring).
    no_overlap_channels : channels trimmed (or, with ``overlap="keep"``, kept) with only one arm.
    covariates : the covariate columns used. estimate : the estimator's :class:`ObservationalEffect`.
    balance : SMD before/after weighting (:class:`BalanceResult`). users : the per-user table, with ``propensity``
    and ``weight`` for analysed users. observational : always ``True``. label : says so in words.
    """

    spec: GrantEffectSpec
    data_end: dt.datetime
    effect: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    treated_mean: float
    control_mean: float
    naive_difference: float
    n_users: int
    n_treated: int
    n_control: int
    n_before_data: int
    n_granted_before: int
    n_unobserved: int
    n_no_overlap: int
    no_overlap_channels: tuple[str, ...]
    covariates: tuple[str, ...]
    estimate: ObservationalEffect
    balance: BalanceResult
    users: pa.Table
    observational: bool = True
    label: str = OBSERVATIONAL_LABEL

    def __post_init__(self) -> None:
        if self.observational is not True or self.label != OBSERVATIONAL_LABEL:
            raise ModelInputError("GrantEffectResult: an observational estimate is always labelled as one")

    _SUMMARY = (
        "effect",
        "se",
        "ci_lower",
        "ci_upper",
        "p_value",
        "treated_mean",
        "control_mean",
        "naive_difference",
        "n_users",
        "n_treated",
        "n_control",
        "n_before_data",
        "n_granted_before",
        "n_unobserved",
        "n_no_overlap",
    )

    def summary(self) -> dict[str, Any]:
        """One flat record: the design, the estimate, the counts and the label."""
        s = self.spec
        est = self.estimate
        return {
            "kind": s.kind,
            "grant_window_days": s.grant_window_days,
            "outcome_day": s.outcome_day,
            "estimator": s.estimator,
            **{c: getattr(self, c) for c in self._SUMMARY},
            "relative_lift": est.relative_lift,
            "n_clipped": est.n_clipped,
            "max_abs_smd_before": self.balance.max_abs_before,
            "max_abs_smd_after": self.balance.max_abs_after,
            "observational": self.observational,
            "label": self.label,
        }

    def to_arrow(self) -> pa.Table:
        """The summary as a one-row table (the balance table is :meth:`balance_table`, users are :attr:`users`)."""
        return pa.Table.from_pylist([self.summary()])

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def balance_table(self) -> pa.Table:
        return self.balance.to_arrow()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the spec, ``data_end``, the summary (non-finite as None), trimmed channels and balance rows."""
        return {
            "spec": self.spec.to_dict(),
            "data_end": self.data_end.isoformat(),
            **{k: _finite(v) for k, v in self.summary().items()},
            "no_overlap_channels": list(self.no_overlap_channels),
            "covariates": list(self.covariates),
            "balance": self.balance.to_dict()["rows"],
        }

    def title(self) -> str:
        s = self.spec
        return (
            f"OBSERVATIONAL (not randomised): effect of a {s.kind} grant in the first {s.grant_window_days} days "
            f"on day-{s.outcome_day} retention ({s.estimator.upper()})"
        )

    def _repr_html_(self) -> str:
        pct = round(100 * (1 - self.spec.alpha))
        bal = "".join(
            f"<tr><td>{html.escape(r['covariate'])}</td><td>{r['smd_before']:.3f}</td>"
            f"<td>{r['smd_after']:.3f}</td></tr>"
            for r in self.balance.to_arrow().to_pylist()
        )
        return (
            f"<p><b>{html.escape(self.title())}</b></p><p>{html.escape(self.label)}</p>"
            f"<p>effect {self.effect:+.4f} ({pct}% CI {self.ci_lower:+.4f} to {self.ci_upper:+.4f}); naive difference "
            f"{self.naive_difference:+.4f}; {self.n_treated:,} granted, {self.n_control:,} not; "
            f"{self.n_unobserved:,} not yet observed, {self.n_no_overlap:,} without overlap, excluded</p>"
            f"<table><tr><th>covariate</th><th>SMD before</th><th>SMD after</th></tr>{bal}</table>"
        )

    def __repr__(self) -> str:
        return (
            f"GrantEffectResult(OBSERVATIONAL, kind={self.spec.kind!r}, effect={self.effect:+.4f}, "
            f"ci=({self.ci_lower:+.4f}, {self.ci_upper:+.4f}), treated={self.n_treated:,}, control={self.n_control:,})"
        )


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _count(table: pa.Table, status: str) -> int:
    return int(pc.sum(pc.cast(pc.equal(table["status"], status), pa.int64())).as_py() or 0)


def analyze_grant_effect(table: pa.Table, spec: GrantEffectSpec, *, data_end: dt.datetime) -> GrantEffectResult:
    """Fit the estimator on the ``eligible`` rows of a per-user table (pure: no warehouse access).

    Trims (or, with ``overlap="keep"``, warns about) channels with one arm, then fits and collects the counts.
    """
    eligible = table.filter(pc.equal(table["status"], "eligible"))
    treated = eligible["treated"].to_numpy(zero_copy_only=False).astype(bool)
    channel = np.asarray(eligible["channel"].to_pylist(), dtype=object)
    one_arm = sorted(c for c in set(channel.tolist()) if treated[channel == c].all() or not treated[channel == c].any())
    status = np.asarray(table["status"].to_pylist(), dtype=object)
    if one_arm:
        msg = (
            f"{spec.kind}: in channel(s) {', '.join(one_arm)} every user or no user was granted; the data hold no "
            "comparison there"
        )
        if spec.overlap == "trim":
            full = np.asarray(table["channel"].to_pylist(), dtype=object)
            status = np.where((status == "eligible") & np.isin(full, one_arm), "no_overlap", status)
        else:
            warnings.warn(msg + " (overlap='keep': the estimate extrapolates)", PositivityWarning, stacklevel=2)
    analysed = status == "eligible"
    status = np.where(analysed, "analysed", status)
    table = table.set_column(table.schema.get_field_index("status"), "status", pa.array(status.tolist(), pa.string()))
    rows = table.filter(pa.array(analysed))
    t = rows["treated"].to_numpy(zero_copy_only=False).astype(float)
    if t.sum() == 0 or t.sum() == t.size:
        why = (
            f" once the channels where every user or no user was granted ({', '.join(one_arm)}) are left out"
            if one_arm and spec.overlap == "trim"
            else ""
        )
        raise ModelInputError(
            f"no {spec.kind} grant effect can be estimated: {int(t.sum()):,} granted and {int(t.size - t.sum()):,} "
            f"not granted users are observed at day {spec.outcome_day}{why} (try another kind, a later data_end or "
            "overlap='keep')"
        )
    y = rows["retained"].to_numpy(zero_copy_only=False).astype(float)
    x, names = _design(rows, spec)
    common = {"n_folds": spec.n_folds, "clip": spec.clip, "alpha": spec.alpha, "random_state": spec.random_state}
    if spec.estimator == "aipw":
        est: IPWEstimator | AIPWEstimator = AIPWEstimator(
            spec.propensity_model, outcome_model=spec.outcome_model, **common
        )
    else:
        est = IPWEstimator(spec.propensity_model, **common)
    est.fit(pd.DataFrame(x, columns=names), t, y)  # the column names label the balance table
    res = est.result_
    if res.n_clipped > 0.05 * res.n:
        warnings.warn(
            f"{res.n_clipped:,} of {res.n:,} propensities were clipped to [{spec.clip}, {1 - spec.clip}]: poor overlap",
            PositivityWarning,
            stacklevel=2,
        )
    propensity = np.full(table.num_rows, np.nan)
    weight = np.full(table.num_rows, np.nan)
    propensity[analysed] = est.propensity_
    weight[analysed] = est.weights_
    users = table.append_column("propensity", pa.array(propensity, mask=~analysed)).append_column(
        "weight", pa.array(weight, mask=~analysed)
    )
    return GrantEffectResult(
        spec=spec,
        data_end=data_end,
        effect=res.effect,
        se=res.se,
        ci_lower=res.ci_lower,
        ci_upper=res.ci_upper,
        p_value=res.p_value,
        treated_mean=res.treated_mean,
        control_mean=res.control_mean,
        naive_difference=res.naive_difference,
        n_users=table.num_rows,
        n_treated=res.n_treated,
        n_control=res.n - res.n_treated,
        n_before_data=_count(table, "before_data"),
        n_granted_before=_count(table, "granted_before"),
        n_unobserved=_count(table, "unobserved"),
        n_no_overlap=_count(table, "no_overlap"),
        no_overlap_channels=tuple(one_arm),
        covariates=tuple(names),
        estimate=res,
        balance=est.balance_,
        users=users,
    )


def run_grant_effect(
    ws: Workspace, spec: GrantEffectSpec | None = None, *, data_end: dt.datetime | None = None
) -> GrantEffectResult:
    """Estimate a grant's effect on retention from the warehouse: the per-user table in Ibis, the estimate in Python.

    ``data_end`` is "now" (naive UTC or aware); None means the last event's time.

    Examples
    --------
    >>> res = run_grant_effect(ws, GrantEffectSpec("coupon", grant_window_days=7, outcome_day=14))  # doctest: +SKIP
    >>> res.observational, res.balance.max_abs_after < res.balance.max_abs_before  # doctest: +SKIP
    (True, True)
    """
    spec = spec or GrantEffectSpec()
    end = ws.resolve_data_end(data_end, "estimating a grant's effect")
    return analyze_grant_effect(grant_effect_table(ws, spec, data_end=end), spec, data_end=end)
