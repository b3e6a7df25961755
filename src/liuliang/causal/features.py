"""A per-user feature table for uplift models, computed in the warehouse (Ibis: DuckDB and Spark alike).

An uplift model learns "who responds to the incentive" from what was known about each user *when the incentive was
decided*, and is then applied to today's candidates with the same definitions. So every feature here is measured
relative to an *anchor day* ``a`` (a local day of the workspace zone) from the days strictly before it — never from
the anchor day itself or later, which the treatment could already have changed — and the outcome is measured
after it exactly as :mod:`liuliang.causal.experiment` measures retention (its member and window helpers are reused
here, not re-derived).

Populations (one row per user; ``treatment`` is the arm label):

- :func:`experiment_features` — the experiment's users: ``a`` is the local day of the first assignment, users in
  several variants are left out (as in the experiment read), ``treatment`` is the variant.
- :func:`incentive_features` — users granted one of ``kinds`` (granted at or before ``data_end``): ``a`` is the
  day of their first such grant and ``treatment`` its kind (ties at the same instant: the first kind by name).
  Grants were usually not randomised: a model fitted on these rows together with an untreated comparison is
  observational (see :mod:`liuliang.causal.observational`).
- :func:`active_features` — the scoring population: users active on at least one of the ``active_within`` days
  before the local day of ``data_end`` (the anchor; ``active_within`` defaults to ``lookback_days``);
  ``treatment`` is null and the outcome is not yet observed.

Features (``K`` = ``lookback_days``; the window is the offsets ``-K .. -1`` from ``a``):

- ``channel_<name>``: one-hot acquisition channel from the ``users`` table (no row or no value: ``(none)``).
  The categories are ``spec.channels`` when given — pass the training table's :attr:`UpliftFeatures.channels` when
  scoring, so the columns line up — else the values present, sorted. A value outside the categories is all zeros.
- ``days_since_signup``: ``a`` − local day of ``users.signup_ts`` (null when unknown; NaN in :meth:`UpliftFeatures.X`).
- ``active_days_pre``, ``events_pre``, ``revenue_pre``: active days, events and summed ``amount`` (null = 0) in the
  window, from the ``user_day`` rollup (events up to ``data_end``).
- ``orders_pre``: events named in ``order_events`` in the window (``user_day_event`` rollup).
- ``incentives_pre``, ``incentive_cost_pre``: incentives granted (at or before ``data_end``) in the window, and their
  summed ``cost`` (null = 0).

Outcome: ``retained`` = active on offset ``N`` = ``spec.day`` (``criterion="on"``) or on some offset ``>= N``
(``"on_or_after"``), observed when the local day of ``data_end`` is past ``a + N`` (``observed``; ``retained`` is
null otherwise) — the ``retention_d<N>`` metric of :mod:`liuliang.causal.experiment`, user by user.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from liuliang._display import dataclass_html
from liuliang.causal.experiment import ExperimentSpec, _count, _members, _sum_if, _window, attach_windows
from liuliang.errors import ModelInputError
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

__all__ = [
    "NUMERIC_FEATURES",
    "FeatureSpec",
    "UpliftFeatures",
    "active_features",
    "experiment_features",
    "incentive_features",
]

NO_VALUE = "(none)"
NUMERIC_FEATURES = (
    "days_since_signup",
    "active_days_pre",
    "events_pre",
    "orders_pre",
    "revenue_pre",
    "incentives_pre",
    "incentive_cost_pre",
)


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature table measures (module docstring).

    Parameters
    ----------
    day : N, the retention horizon of the outcome (>= 1).
    lookback_days : K, the pre-anchor window of the activity and incentive features (>= 1).
    criterion : ``"on"`` (active on day N) or ``"on_or_after"``.
    order_events : event names counted as orders.
    channels : one-hot channel categories (None: those in the data); store the training table's for scoring.
    """

    day: int = 7
    lookback_days: int = 28
    criterion: Literal["on", "on_or_after"] = "on"
    order_events: tuple[str, ...] = ("order",)
    channels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ModelInputError:
            return ModelInputError(f"FeatureSpec.{name} must be {allowed}; got {getattr(self, name)!r}")

        for name in ("day", "lookback_days"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "an integer >= 1")
        if self.criterion not in ("on", "on_or_after"):
            raise bad("criterion", "'on' or 'on_or_after'")
        events = (self.order_events,) if isinstance(self.order_events, str) else tuple(self.order_events)
        object.__setattr__(self, "order_events", events)
        if self.channels is not None:
            chans = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
            if len(set(chans)) != len(chans):
                raise bad("channels", "distinct names")
            object.__setattr__(self, "channels", chans)


@dataclass(frozen=True)
class UpliftFeatures:
    """One row per user: ``user_id``, ``treatment``, ``anchor_day``, the features, ``retained``, ``observed``.

    Attributes
    ----------
    table : pa.Table (sorted by user_id). feature_names : the feature columns, in model order.
    channels : the one-hot categories used (pass them back via ``FeatureSpec(channels=...)`` to score).
    spec, data_end, population : what was measured, the "now" used, and a label of the population.
    """

    table: pa.Table
    feature_names: tuple[str, ...]
    channels: tuple[str, ...]
    spec: FeatureSpec
    data_end: dt.datetime
    population: str

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        return dataclass_html(self, extra={"users": self.n_users})

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    @property
    def n_users(self) -> int:
        return self.table.num_rows

    def X(self) -> np.ndarray:
        """The feature matrix, float, NaN where unknown (HistGradientBoosting handles NaN natively)."""
        cols = [self.table[c].to_numpy(zero_copy_only=False).astype(float) for c in self.feature_names]
        return np.column_stack(cols) if cols else np.empty((self.n_users, 0))

    def treatment(self) -> np.ndarray:
        return np.asarray(self.table["treatment"].to_pylist(), dtype=object)

    def y(self) -> np.ndarray:
        """``retained`` as float (NaN when not observed)."""
        return self.table["retained"].to_numpy(zero_copy_only=False).astype(float)

    def user_ids(self) -> np.ndarray:
        return np.asarray(self.table["user_id"].to_pylist(), dtype=object)

    def observed(self) -> UpliftFeatures:
        """Only the users whose outcome is observed (what a model can be fitted or evaluated on)."""
        return self.filter(self.table["observed"])

    def filter(self, mask: Any) -> UpliftFeatures:
        """The rows where the boolean ``mask`` (array-like, one value per row) is true."""
        return replace(self, table=self.table.filter(pa.array(np.asarray(mask, dtype=bool))))

    def __repr__(self) -> str:
        obs = int(pc.sum(pc.cast(self.table["observed"], pa.int64())).as_py() or 0)
        return (
            f"UpliftFeatures({self.population}, users={self.n_users:,}, observed={obs:,}, "
            f"features={len(self.feature_names)}, day={self.spec.day}, data_end={self.data_end:%Y-%m-%d %H:%M})"
        )


# -- populations (user_key, variant, a) ------------------------------------------------------------------------------
def _incentive_members(ws: Workspace, kinds: tuple[str, ...], end_ts: ir.Value) -> ir.Table:
    if not ws.has_table(T.INCENTIVES):
        raise ModelInputError("incentive_features reads the incentives table; ingest it first (table='incentives')")
    inc = ws.table(T.INCENTIVES)
    inc = inc.filter(inc.kind.isin(list(kinds)) & (inc.ts <= end_ts) & inc.day.notnull())
    first = inc.group_by("user_key").aggregate(first_ts=inc.ts.min())
    j = inc.join(first, "user_key").filter(lambda t: t.ts == t.first_ts)
    return j.group_by("user_key").aggregate(variant=j.kind.min(), a=j.day.min().cast("int64"))


def _active_members(ws: Workspace, end_day: int, within: int, end_ts: ir.Value) -> ir.Table:
    ud = ws.user_day()
    ud = ud.filter((ud.day >= end_day - within) & (ud.day < end_day) & (ud.first_ts <= end_ts))
    keys = ud.select("user_key").distinct()
    return keys.select("user_key", variant=ibis.null("string"), a=ibis.literal(end_day, "int64"))


# -- the warehouse part ----------------------------------------------------------------------------------------------
def _signup_day(ws: Workspace, users: ir.Table) -> ir.Value:
    span = ws.engine.to_arrow(users.aggregate(lo=users.signup_ts.min(), hi=users.signup_ts.max())).to_pylist()[0]
    if span["lo"] is None:
        return ibis.null("int64")
    return ws.local_day(users.signup_ts, span["lo"], span["hi"]).cast("int64")


def features_expr(ws: Workspace, members: ir.Table, spec: FeatureSpec, data_end: dt.datetime) -> ir.Table:
    """Build (and run one small range query for) the per-user table of ``members`` (``user_key, variant, a``):
    ``user_id, treatment, anchor_day, channel, days_since_signup, <window counts>, retained, observed``."""
    k, n = spec.lookback_days, spec.day
    end_day = periods.day_of_instant(data_end, ws.settings.tz)
    end_ts = ibis.literal(data_end, "timestamp")
    m = members.select("user_key", "variant", "a")
    per_user = m

    def attach(table: ir.Table, aggs: dict[str, Any]) -> None:
        nonlocal per_user
        per_user = attach_windows(per_user, m, table, aggs, k)

    ud = ws.user_day_until(data_end)
    pre = lambda j: _window(j.off, -k, -1)  # noqa: E731
    retained = (lambda j: (j.off == n).cast("int64").max()) if spec.criterion == "on" else None
    if retained is None:
        retained = lambda j: (j.off >= n).cast("int64").max()  # noqa: E731
    attach(
        ud,
        {
            "active_days_pre": lambda j: _count(pre(j)),
            "events_pre": lambda j: _sum_if(pre(j), j.events),
            "revenue_pre": lambda j: _sum_if(pre(j), j.amount.fill_null(0.0)),
            "ret": retained,
        },
    )
    if ws.has_table(T.USER_DAY_EVENT) and spec.order_events:
        ude = ws.user_day_event()
        ude = ude.filter(ude.event.isin(list(spec.order_events)) & (ude.day < end_day))
        attach(ude, {"orders_pre": lambda j: _sum_if(pre(j), j.events)})
    else:
        per_user = per_user.mutate(orders_pre=ibis.literal(0.0))
    if ws.has_table(T.INCENTIVES):
        inc = ws.table(T.INCENTIVES)
        inc = inc.filter((inc.ts <= end_ts) & inc.day.notnull()).mutate(cost=inc.cost.fill_null(0.0))
        attach(
            inc, {"incentives_pre": lambda j: _count(pre(j)), "incentive_cost_pre": lambda j: _sum_if(pre(j), j.cost)}
        )
    else:
        per_user = per_user.mutate(incentives_pre=ibis.literal(0), incentive_cost_pre=ibis.literal(0.0))

    if ws.has_table(T.USERS):
        users = ws.table(T.USERS)
        users = users.select("user_key", channel=users.channel.cast("string"), signup=_signup_day(ws, users))
        users = users.group_by("user_key").aggregate(channel=users.channel.max(), signup=users.signup.min())
        j = per_user.left_join(users, "user_key")
        per_user = j.select(*per_user.columns, channel=j.channel.fill_null(NO_VALUE), signup=j.signup)
    else:
        per_user = per_user.mutate(channel=ibis.literal(NO_VALUE), signup=ibis.null("int64"))

    keys = ws.table(T.USER_KEYS).select(user_key=ws.table(T.USER_KEYS).user_key.cast("int64"), user_id="user_id")
    j = per_user.join(keys, "user_key")
    observed = ibis.literal(end_day, "int64") > j.a + n
    return j.select(
        "user_id",
        treatment=j.variant,
        anchor_day=j.a,
        channel=j.channel,
        days_since_signup=(j.a - j.signup).cast("float64"),
        active_days_pre=j.active_days_pre.cast("float64"),
        events_pre=j.events_pre.cast("float64"),
        orders_pre=j.orders_pre.cast("float64"),
        revenue_pre=j.revenue_pre.cast("float64"),
        incentives_pre=j.incentives_pre.cast("float64"),
        incentive_cost_pre=j.incentive_cost_pre.cast("float64"),
        retained=ibis.ifelse(observed, j.ret.cast("float64"), ibis.null("float64")),
        observed=observed,
    )


def _run(ws: Workspace, members: ir.Table, spec: FeatureSpec, end: dt.datetime, population: str) -> UpliftFeatures:
    raw = ws.engine.to_arrow(features_expr(ws, members, spec, end)).sort_by("user_id")
    channel = raw["channel"]
    cats = spec.channels if spec.channels is not None else tuple(sorted(set(channel.to_pylist())))
    names: list[str] = []
    cols: dict[str, Any] = {c: raw[c] for c in ("user_id", "treatment", "anchor_day")}
    for c in cats:
        cols[f"channel_{c}"] = pc.cast(pc.equal(channel, c), pa.float64())
        names.append(f"channel_{c}")
    for c in NUMERIC_FEATURES:
        cols[c] = raw[c]
        names.append(c)
    cols["channel"] = channel
    cols["retained"] = raw["retained"]
    cols["observed"] = raw["observed"]
    table = pa.table(cols)
    return UpliftFeatures(table, tuple(names), tuple(cats), replace(spec, channels=tuple(cats)), end, population)


def experiment_features(
    ws: Workspace, experiment: str, spec: FeatureSpec | None = None, *, data_end: dt.datetime | None = None
) -> UpliftFeatures:
    """Features and outcome of an experiment's users (``treatment`` = variant; several-variant users left out).

    Examples
    --------
    >>> f = experiment_features(ws, "challenge7", FeatureSpec(day=7)).observed()  # doctest: +SKIP
    >>> XLearner(control="control").fit(f.X(), f.treatment(), f.y())  # doctest: +SKIP
    """
    spec = spec or FeatureSpec()
    end = ws.resolve_data_end(data_end, "building uplift features")
    m = _members(ws, ExperimentSpec(experiment), end)
    m = m.filter(m.variant.notnull())
    return _run(ws, m, spec, end, f"experiment {experiment}")


def incentive_features(
    ws: Workspace, kinds: str | tuple[str, ...], spec: FeatureSpec | None = None, *, data_end: dt.datetime | None = None
) -> UpliftFeatures:
    """Features and outcome of users granted one of ``kinds``, anchored at their first such grant (observational)."""
    spec = spec or FeatureSpec()
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ModelInputError("incentive_features: name at least one incentive kind")
    end = ws.resolve_data_end(data_end, "building uplift features")
    members = _incentive_members(ws, kinds, ibis.literal(end, "timestamp"))
    return _run(ws, members, spec, end, f"granted {', '.join(kinds)}")


def active_features(
    ws: Workspace,
    spec: FeatureSpec | None = None,
    *,
    data_end: dt.datetime | None = None,
    active_within: int | None = None,
) -> UpliftFeatures:
    """Features of today's candidates: users active in the ``active_within`` days before the local day of
    ``data_end`` (default ``spec.lookback_days``), anchored at that day; no treatment, outcome not yet observed."""
    spec = spec or FeatureSpec()
    within = spec.lookback_days if active_within is None else active_within
    if isinstance(within, bool) or not isinstance(within, int) or within < 1:
        raise ModelInputError(f"active_features: active_within must be an integer >= 1; got {within!r}")
    end = ws.resolve_data_end(data_end, "building uplift features")
    end_day = periods.day_of_instant(end, ws.settings.tz)
    members = _active_members(ws, end_day, within, ibis.literal(end, "timestamp"))
    return _run(ws, members, spec, end, f"active in the {within} days before {periods.date_of_day(end_day)}")
