"""Aha signals: per-user flags and day-N retention agree with a plain-Python reference on DuckDB and Spark, the
statistics agree with explicit loops, and on logs with planted truth the finder ranks the behaviour that causes
retention above the one that only marks early activity, whose adjusted interval covers 0."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from aha_reference import PLANTED_ASK, TZ, local_day, planted_log, reference_users, stratified_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import liuliang
from liuliang.errors import ModelInputError
from liuliang.signals import AhaSpec, AhaUsers, Behaviour, aha_signals, aha_users, analyze_aha
from liuliang.signals.aha import stratified_difference

Z95 = float(stats.norm.ppf(0.975))


def _utc(y: int, m: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi)


def _events(rows: list[tuple[str, dt.datetime, str]]) -> pa.Table:
    return pa.table(
        {
            "user_id": [r[0] for r in rows],
            "ts": pa.array([r[1] for r in rows], pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "event": [r[2] for r in rows],
        }
    )


def _as_reference(users) -> dict[str, dict]:
    out = {}
    for r in users.to_arrow().to_pylist():
        out[r.pop("user_id")] = r
    return out


# -- the warehouse part: a hand-computed log (DuckDB and Spark) -------------------------------------------------------
# Asia/Shanghai is UTC+8: local day 0 is 2024-03-01, which starts at 2024-02-29 16:00 UTC.
D0 = local_day(_utc(2024, 3, 1, 4), TZ)
FIXED = [
    ("u1", _utc(2024, 2, 29, 17), "ask"),  # local 03-01 01:00: day 0 (in UTC it is still Feb 29)
    ("u1", _utc(2024, 3, 1, 4), "ask"),  # day 0
    ("u1", _utc(2024, 3, 2, 4), "browse"),  # day 1
    ("u1", _utc(2024, 3, 6, 4), "open"),  # day 5 = offset 5: retained "on"
    ("u2", _utc(2024, 3, 1, 4), "open"),  # day 0
    ("u2", _utc(2024, 3, 3, 15, 30), "ask"),  # local 03-03 23:30: day 2, the last day of a 3-day window
    ("u2", _utc(2024, 3, 3, 16, 30), "ask"),  # local 03-04 00:30: day 3, outside the window
    ("u2", _utc(2024, 3, 7, 4), "open"),  # day 6 = offset 6: not "on" day 5, but "on or after"
    ("u3", _utc(2024, 3, 1, 16, 30), "browse"),  # local 03-02 00:30: first day is day 1
    ("u3", _utc(2024, 3, 2, 4), "browse"),  # day 1
    ("u3", _utc(2024, 3, 7, 4), "open"),  # day 6 = offset 5 from day 1: retained
    ("u4", _utc(2024, 3, 5, 4), "ask"),  # first day 4: day 9 has not ended by data_end -> unobserved
    ("u5", _utc(2024, 3, 9, 4), "ask"),  # after data_end: does not exist yet
]
FIXED_END = _utc(2024, 3, 8, 16)  # local 03-09 00:00: local days 0..7 have ended
FIXED_SPEC = AhaSpec(days=3, horizon=5, thresholds=(1, 2), min_coverage=0.0)


def _fixed_expected(criterion: str) -> dict[str, dict]:
    def row(first, channel, early, retained, ask, browse, opn):
        out = {"first_day": D0 + first, "channel": channel, "early_active_days": early, "retained": retained}
        counts = {"ask": ask, "browse": browse, "open": opn}
        out.update({f"count:{e}": c for e, c in counts.items()})
        out.update({f"{e}>={k}": int(c >= k) for e, c in counts.items() for k in (1, 2)})
        return out

    return {
        "u1": row(0, "paid", 2, 1, 2, 1, 0),
        "u2": row(0, "organic", 2, int(criterion == "on_or_after"), 1, 0, 1),
        "u3": row(1, "(none)", 1, 1, 0, 2, 0),
    }


def test_fixed_log_by_hand(ws) -> None:
    """Time zone, window edges, criterion, unobserved and not-yet-existing users, channel fallback, event order."""
    ws.ingest(_events(FIXED))
    ws.ingest(pa.table({"user_id": ["u1", "u2", "u4"], "channel": ["paid", "organic", "paid"]}), table="users")
    criteria = ("on", "on_or_after") if ws.engine.name == "duckdb" else ("on",)  # Spark: seconds per query
    for criterion in criteria:
        spec = AhaSpec(days=3, horizon=5, thresholds=(1, 2), min_coverage=0.0, criterion=criterion)
        users = aha_users(ws, spec, data_end=FIXED_END)
        assert users.events == ("ask", "browse", "open")  # by early doers (2, 2, 1), then name
        assert (users.n_users, users.n_unobserved, users.n_observed) == (4, 1, 3)
        assert _as_reference(users) == _fixed_expected(criterion), criterion
        expected, n_users, events = reference_users(
            [{"user_id": u, "ts": t, "event": e} for u, t, e in FIXED],
            {"u1": "paid", "u2": "organic", "u4": "paid"},
            tz=TZ,
            days=3,
            horizon=5,
            thresholds=(1, 2),
            criterion=criterion,
            data_end=FIXED_END,
        )
        assert (expected, n_users, tuple(events)) == (_fixed_expected(criterion), 4, users.events)


def test_fixed_log_statistics_by_hand(duck_ws) -> None:
    """ask>=2 is held by u1 only (retained); u2, u3: 0 and 1 retained -> 100% vs 50%, coverage 1/3."""
    duck_ws.ingest(_events(FIXED))
    res = aha_signals(duck_ws, FIXED_SPEC, data_end=FIXED_END)
    r = res.row("ask", 2)
    assert (r["n"], r["n_with"]) == (3, 1)
    assert r["coverage"] == pytest.approx(1 / 3)
    assert (r["rate_with"], r["rate_without"], r["difference"]) == (1.0, 0.5, 0.5)
    se = math.sqrt(0 + 0.25 / 2)
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((0.5 - Z95 * se, 0.5 + Z95 * se))
    assert res.base_rate == pytest.approx(2 / 3)
    assert res.n_unobserved == 1
    # three users in three strata: no stratum has both groups with min_cell=2 users -> reported, not ranked
    assert r["status"].startswith("no stratum") and r["rank"] is None
    assert res.findings == ()
    # since: users whose first local day is before 03-02 (u1, u2) are not new users of the period
    late = aha_users(duck_ws, replace(FIXED_SPEC, since=dt.date(2024, 3, 2)), data_end=FIXED_END)
    assert (late.n_users, late.n_unobserved) == (2, 1)
    assert list(_as_reference(late)) == ["u3"]


def test_fixed_log_feature_sets_by_hand(duck_ws) -> None:
    """Events ordered ask, browse, open. u1: ask x2 + browse; u2: open + ask (its second ask is outside the window);
    u3: browse only. So only u1 used ask + browse, only u2 ask + open, nobody browse + open or all three."""
    duck_ws.ingest(_events(FIXED))
    users = aha_users(duck_ws, replace(FIXED_SPEC, sets=3), data_end=FIXED_END)
    sets = [b for b in users.behaviours if b.kind == "set"]
    assert [b.features for b in sets] == [
        ("ask", "browse"),
        ("ask", "open"),
        ("browse", "open"),
        ("ask", "browse", "open"),
    ]
    got = {u: {k: v for k, v in r.items() if k.startswith("set:")} for u, r in _as_reference(users).items()}
    assert got == {
        "u1": {"set:ask + browse": 1, "set:ask + open": 0, "set:browse + open": 0, "set:ask + browse + open": 0},
        "u2": {"set:ask + browse": 0, "set:ask + open": 1, "set:browse + open": 0, "set:ask + browse + open": 0},
        "u3": {"set:ask + browse": 0, "set:ask + open": 0, "set:browse + open": 0, "set:ask + browse + open": 0},
    }
    res = analyze_aha(users)
    r = res.row(("ask", "browse"))
    assert (r["kind"], r["size"], r["threshold"], r["behaviour"], r["n_with"]) == ("set", 2, 1, "set:ask + browse", 1)
    assert res.row("ask", 1)["kind"] == "event"
    assert sets[0].describe() == "used ask + browse in the first 3 days"
    # set_events caps the candidates: the first two events only -> one pair, no triple
    two = aha_users(duck_ws, replace(FIXED_SPEC, sets=3, set_events=2), data_end=FIXED_END)
    assert [b.features for b in two.behaviours if b.features] == [("ask", "browse")]


# -- Spark: the feature-set flags and the statistics, cell by cell ----------------------------------------------------
def _set_log() -> tuple[list[tuple[str, dt.datetime, str]], dict[str, str]]:
    """FIXED plus 24 users w00..w23 built from the bits of their number, so every pair and triple of ask, browse,
    帮我订 occurs: w<i> opens the app on its first day (day i % 3) and, when i % 3 == 1, the next day; asks on the
    first day when i & 1 (again the next day when i & 8), browses on the first day when i & 2, orders 帮我订 on offset 2
    when i & 4 (at local 23:30, the window's last minutes) and comes back on offset 5 when it asked and i % 3 != 2, or
    when i % 7 == 0. Channels alternate in pairs; every sixth user has none."""
    rows = list(FIXED)
    channels = {"u1": "paid", "u2": "organic", "u4": "paid"}
    for i in range(24):
        u, a = f"w{i:02d}", i % 3
        day = lambda off, h=4, mi=0, a=a: _utc(2024, 3, 1 + a + off, h, mi)  # noqa: E731  (04:00 UTC = 12:00 local)
        rows.append((u, day(0), "open"))
        if a == 1:
            rows.append((u, day(1, 2), "open"))
        if i & 1:
            rows.append((u, day(0, 5), "ask"))
        if i & 8:
            rows.append((u, day(1, 6), "ask"))
        if i & 2:
            rows.append((u, day(0, 7), "browse"))
        if i & 4:
            rows.append((u, day(2, 15, 30), "帮我订"))
        if (i & 1 and i % 3 != 2) or i % 7 == 0:
            rows.append((u, day(5), "open"))
        if i % 6 != 5:
            channels[u] = ("paid", "organic")[(i // 2) % 2]
    return rows, channels


@pytest.mark.spark
def test_spark_feature_sets_match_duckdb(spark_db) -> None:
    """The same hand log on DuckDB and on Spark, pairs (sets=2) and pairs + triples (sets=3): the per-user table
    (counts, thresholds, set flags; schema too) is equal, and every cell of the statistics table agrees (floats to
    1e-9, strings exactly). DuckDB is also held to the plain-Python reference, so the two cannot agree on a wrong
    answer."""
    rows, channels = _set_log()
    # min_cell=1, min_overlap=0: 27 users in 9 strata, so that most rows get an adjusted effect, a rank and a q-value
    base = AhaSpec(days=3, horizon=5, thresholds=(1, 2), min_coverage=0.0, min_cell=1, min_overlap=0.0)
    specs = [replace(base, sets=2, set_events=3), replace(base, sets=3)]
    users_table = pa.table({"user_id": list(channels), "channel": list(channels.values())})
    duck = liuliang.Workspace.open(":memory:", tz=TZ)
    spark = spark_db()  # Asia/Shanghai
    try:
        for ws in (duck, spark):
            ws.ingest(_events(rows))
            ws.ingest(users_table, table="users")
        pairs = [
            (aha_users(duck, spec, data_end=FIXED_END), aha_users(spark, spec, data_end=FIXED_END)) for spec in specs
        ]
    finally:
        duck.close()
        spark.close()
    for spec, (want, got) in zip(specs, pairs, strict=True):
        expected, n_users, events = reference_users(
            [{"user_id": u, "ts": t, "event": e} for u, t, e in rows],
            channels,
            tz=TZ,
            days=3,
            horizon=5,
            thresholds=(1, 2),
            criterion="on",
            data_end=FIXED_END,
            sets=spec.sets,
            set_events=spec.set_events,
        )
        assert want.events == tuple(events) == ("open", "ask", "browse", "帮我订")
        assert _as_reference(want) == expected and want.n_users == n_users == 28
        sets = [b.column for b in want.behaviours if b.kind == "set"]
        assert len(sets) == (3 if spec.sets == 2 else 6 + 4)
        assert all(0 < sum(want.table[c].to_pylist()) < want.n_observed for c in sets if "open" not in c)
        # the warehouse part: the same users, flags and types
        assert (got.events, got.behaviours) == (want.events, want.behaviours)
        assert (got.n_users, got.n_unobserved, got.n_observed) == (want.n_users, want.n_unobserved, want.n_observed)
        assert got.table.schema == want.table.schema
        assert got.table.sort_by("user_id").to_pylist() == want.table.sort_by("user_id").to_pylist()
        # the statistics part, every cell
        a, b = analyze_aha(want), analyze_aha(got)
        assert b.findings == a.findings and b.base_rate == pytest.approx(a.base_rate, abs=1e-9)
        order = [("kind", "ascending"), ("behaviour", "ascending")]
        ta, tb = a.table.sort_by(order), b.table.sort_by(order)
        assert tb.schema == ta.schema and tb.num_rows == ta.num_rows == len(want.behaviours)
        finite = 0
        for name in ta.column_names:
            for x, y in zip(ta[name].to_pylist(), tb[name].to_pylist(), strict=True):
                if isinstance(x, float) and math.isnan(x):
                    assert isinstance(y, float) and math.isnan(y), (spec.sets, name, x, y)
                elif isinstance(x, float):
                    finite += name == "adjusted"
                    assert y == pytest.approx(x, rel=1e-9, abs=1e-9), (spec.sets, name, x, y)
                else:
                    assert x == y, (spec.sets, name, x, y)
        assert finite >= 9 and sum(r is not None for r in ta["rank"].to_pylist()) >= 9  # not NaN against NaN


# -- the warehouse part: random logs against the reference (DuckDB) ---------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 300),
    days=st.integers(1, 4),
    extra=st.integers(0, 3),
    thresholds=st.sets(st.integers(1, 4), min_size=1, max_size=3),
    criterion=st.sampled_from(["on", "on_or_after"]),
    end_hours=st.integers(0, 14 * 24),
    sets=st.sampled_from([0, 2, 3]),
    set_events=st.integers(2, 4),
)
def test_random_logs_match_reference(seed, n, days, extra, thresholds, criterion, end_hours, sets, set_events) -> None:
    """Counts, thresholds and feature-set flags ("used every event of S") against the per-user Python reference."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 3, 1)
    names = ("app_open", "ask", "order", "帮我订")
    rows = [
        {
            "user_id": f"u{rng.randrange(40):02d}",
            "ts": start + dt.timedelta(seconds=rng.randrange(12 * 86_400)),
            "event": rng.choice(names),
        }
        for _ in range(n)
    ]
    channels = {f"u{i:02d}": rng.choice(["a", "b"]) for i in range(0, 40, 3)}
    data_end = start + dt.timedelta(hours=end_hours)
    spec = AhaSpec(
        days=days,
        horizon=days + extra,
        thresholds=tuple(sorted(thresholds)),
        criterion=criterion,
        sets=sets,
        set_events=set_events,
    )
    ws = liuliang.Workspace.open(":memory:", tz=TZ)
    try:
        ws.ingest(_events([(r["user_id"], r["ts"], r["event"]) for r in rows]))
        ws.ingest(pa.table({"user_id": list(channels), "channel": list(channels.values())}), table="users")
        users = aha_users(ws, spec, data_end=data_end)
    finally:
        ws.close()
    expected, n_users, events = reference_users(
        rows,
        channels,
        tz=TZ,
        days=spec.days,
        horizon=spec.horizon,
        thresholds=spec.thresholds,
        criterion=criterion,
        data_end=data_end,
        sets=sets,
        set_events=set_events,
    )
    assert users.events == tuple(events)
    n_sets = sum(math.comb(min(set_events, len(events)), r) for r in range(2, sets + 1))
    assert sum(b.kind == "set" for b in users.behaviours) == n_sets
    assert users.n_users == n_users
    assert users.n_unobserved == n_users - len(expected)
    assert _as_reference(users) == expected


# -- the statistics part ----------------------------------------------------------------------------------------------
def test_stratified_difference_by_hand() -> None:
    """Stratum 0: 2/3 vs 1/4 (7 users); stratum 1: 1/2 vs 0/2 (4 users); stratum 2: treated only (left out)."""
    y = [*(1, 1, 0, 1, 0, 0, 0), *(1, 0, 0, 0), *(1, 1)]
    t = [*(1, 1, 1, 0, 0, 0, 0), *(1, 1, 0, 0), *(1, 1)]
    s = [0] * 7 + [1] * 4 + [2] * 2
    res = stratified_difference(y, t, s, min_cell=2)
    effect = 7 / 11 * (2 / 3 - 1 / 4) + 4 / 11 * (1 / 2 - 0)
    q = [(3 / 5, 3), (2 / 6, 4), (2 / 4, 2), (1 / 4, 2)]  # add-one rates and group sizes: (x+1)/(n+2), n
    var = (7 / 11) ** 2 * (q[0][0] * (1 - q[0][0]) / 3 + q[1][0] * (1 - q[1][0]) / 4)
    var += (4 / 11) ** 2 * (q[2][0] * (1 - q[2][0]) / 2 + q[3][0] * (1 - q[3][0]) / 2)
    assert res.effect == pytest.approx(effect)
    assert res.se == pytest.approx(math.sqrt(var))
    assert (res.ci_lower, res.ci_upper) == pytest.approx((effect - Z95 * math.sqrt(var), effect + Z95 * math.sqrt(var)))
    assert res.overlap_share == pytest.approx(11 / 13)
    assert res.strata_used == 2
    assert math.isnan(stratified_difference(y, t, s, min_cell=4).effect)


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(st.tuples(st.integers(0, 4), st.booleans(), st.booleans()), min_size=1, max_size=80),
    min_cell=st.integers(1, 3),
)
def test_stratified_difference_matches_loops(cells, min_cell) -> None:
    s = [c[0] for c in cells]
    t = [c[1] for c in cells]
    y = [float(c[2]) for c in cells]
    res = stratified_difference(y, t, s, min_cell=min_cell)
    effect, se, share, used = stratified_reference(y, t, s, z=Z95, min_cell=min_cell)
    assert res.strata_used == used
    assert res.overlap_share == pytest.approx(share)
    if effect is None:
        assert math.isnan(res.effect)
    else:
        assert res.effect == pytest.approx(effect, abs=1e-12)
        assert res.se == pytest.approx(se, rel=1e-12)


def test_stratified_interval_covers_at_nominal_rate() -> None:
    """No effect within strata, but strata differ in treatment share and outcome rate (confounding): the naive
    difference is biased, the stratified 95% interval covers 0 in ~95% of 400 simulated samples."""
    rng = np.random.default_rng(3)
    hits = naive_hits = 0
    reps = 400
    for _ in range(reps):
        s = rng.integers(0, 6, 1500)
        t = rng.random(1500) < 0.1 + 0.15 * s
        y = (rng.random(1500) < 0.05 + 0.12 * s).astype(float)
        res = stratified_difference(y, t, s)
        hits += res.ci_lower <= 0 <= res.ci_upper
        naive = y[t].mean() - y[~t].mean()
        naive_hits += abs(naive) < 0.02
    assert 0.92 <= hits / reps <= 0.98, hits / reps
    assert naive_hits == 0  # the confounding is real: the raw difference is never near 0


# -- planted truth: a cause and a marker ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    events, users_table, end = planted_log()
    ws = liuliang.Workspace.open(tmp_path_factory.mktemp("aha") / "ws.duckdb", tz=TZ)
    ws.ingest(events)
    ws.ingest(users_table, table="users")
    users = aha_users(ws, AhaSpec(), data_end=end)
    yield ws, users, end
    ws.close()


def test_planted_cause_ranks_above_marker(planted) -> None:
    _, users, _ = planted
    res = analyze_aha(users)
    ranked = res.ranked().to_pylist()
    assert ranked[0]["event"] == "ask"
    best_ask = min(r["rank"] for r in ranked if r["event"] == "ask")
    browse = [r for r in ranked if r["event"] == "browse"]
    assert browse and all(r["rank"] > best_ask for r in browse)
    for r in browse:  # a large, "significant" raw difference that adjustment takes away
        assert r["difference"] > 0.15 and r["ci_lower"] > 0, r
        assert r["adjusted_ci_lower"] <= 0 <= r["adjusted_ci_upper"], r
    ask1 = res.row("ask", 1)
    assert ask1["adjusted_ci_lower"] <= PLANTED_ASK <= ask1["adjusted_ci_upper"]
    assert ask1["adjusted_ci_lower"] > 0.15
    # app_open>=k is "active on k early days" itself: within a stratum everyone or no one has it
    for r in res.to_arrow().to_pylist():
        if r["event"] == "app_open":
            assert r["rank"] is None and r["status"] != "ok"
    assert sum("ask" in f for f in res.findings) == 1  # the best threshold of each event, not all of them
    assert res.findings[0].startswith("1+ ask event in the first 7 days -> D30 ")
    assert "adjusted +2" in res.findings[0]  # +25 pts planted, estimated within a few points
    assert any("browse" in f and "not distinguishable from no effect" in f for f in res.findings)


@pytest.fixture(scope="module")
def planted_sets(planted):
    ws, _, end = planted
    return aha_users(ws, AhaSpec(sets=3), data_end=end)


def test_planted_confounded_set_is_not_a_discovery(planted_sets) -> None:
    """browse and share both fire on each early active day at random: users seen on more days have both more often
    and stay more (engagement), so browse + share has a large, 'significant' raw difference that only measures
    activity. Within channel x early active days it has none: not a discovery (interval covers 0, q > 0.05), and no
    finding. The sets with ask are ranked high, but they add nothing to ask itself, so none gets a finding."""
    users = planted_sets
    res = analyze_aha(users)
    conf = res.row(("browse", "share"))
    assert conf["difference"] > 0.1 and conf["ci_lower"] > 0.05, conf  # naive: a discovery
    assert conf["adjusted_ci_lower"] <= 0 <= conf["adjusted_ci_upper"] and conf["q_value"] > 0.05, conf
    assert conf["rank"] is not None and conf["status"] == "ok"
    assert not any("browse + share" in f for f in res.findings)
    # sets and single events are ranked (and BH-adjusted) in one list
    ranked = res.ranked().to_pylist()
    assert {r["kind"] for r in ranked} == {"event", "set"}
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(math.isfinite(r["q_value"]) for r in ranked)
    ask_sets = [r for r in ranked if r["kind"] == "set" and "ask" in r["event"]]
    assert ask_sets and all(r["best_member"] == "ask" for r in ask_sets)
    for r in ask_sets:  # inherits ask's planted effect, adds nothing beyond it
        assert r["adjusted_ci_lower"] <= PLANTED_ASK <= r["adjusted_ci_upper"], r
        assert r["beyond_member_ci_lower"] <= 0 <= r["beyond_member_ci_upper"] and r["beyond_member_q"] > 0.05, r
    assert not any(f.startswith("used ") for f in res.findings)
    assert res.findings[0].startswith("1+ ask event")
    # app_open is done on every active day: app_open + X is X renamed (and a triple with it, a pair renamed)
    assert res.row(("app_open", "ask"))["status"] == "same users as ask>=1"
    assert res.row(("app_open", "browse", "share"))["status"] == "same users as browse + share"
    assert res.row(("app_open", "ask"))["rank"] is None


def test_planted_set_flags_follow_the_counts(planted_sets) -> None:
    """The warehouse's set flags are the product of the per-event presence it reports (the random-log test checks
    both against raw events)."""
    rows = planted_sets.to_arrow().to_pylist()
    sets = [b for b in planted_sets.behaviours if b.features]
    assert len(sets) == math.comb(4, 2) + math.comb(4, 3)  # four candidate events, all within set_events=6
    for b in sets:
        want = [int(all(r[f"count:{e}"] >= 1 for e in b.features)) for r in rows]
        assert [r[b.column] for r in rows] == want, b


def test_a_planted_synergy_is_found_beyond_its_members() -> None:
    """Per-user rows built directly: a and b each used by half the users at random, D30 = 10% + 30 pts only for
    users with both. The set is the top finding, worded as a set, with its gain beyond the best member."""
    rng = np.random.default_rng(5)
    n = 4000
    a, b = rng.random(n) < 0.5, rng.random(n) < 0.5
    y = rng.random(n) < 0.1 + 0.3 * (a & b)
    table = pa.table(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "first_day": np.zeros(n, dtype=np.int64),
            "channel": ["organic"] * n,
            "early_active_days": rng.integers(1, 8, n),
            "retained": y.astype(np.int8),
            "count:a": a.astype(np.int64),
            "count:b": b.astype(np.int64),
            "a>=1": a.astype(np.int8),
            "b>=1": b.astype(np.int8),
            "set:a + b": (a & b).astype(np.int8),
        }
    )
    spec = AhaSpec(thresholds=(1,), sets=2)
    behaviours = (Behaviour("a", 1, 7), Behaviour("b", 1, 7), Behaviour.feature_set(("a", "b"), 7))
    res = analyze_aha(AhaUsers(table, behaviours, ("a", "b"), n, 0, spec, dt.datetime(2024, 5, 1)))
    r = res.row(("a", "b"))
    assert r["rank"] == 1 and 0.25 < r["adjusted"] < 0.35
    assert r["best_member"] in ("a", "b") and r["beyond_member_ci_lower"] > 0.15 and r["beyond_member_q"] < 0.001
    assert res.findings[0].startswith("used a + b in the first 7 days -> D30 ")
    assert f"pts beyond {r['best_member']} alone)" in res.findings[0]


def test_planted_counts_and_unobserved_match_reference(planted) -> None:
    _, users, end = planted
    events, users_table, _ = planted_log()
    rows = [
        {"user_id": u, "ts": t, "event": e}
        for u, t, e in zip(*(events[c].to_pylist() for c in events.column_names), strict=True)
    ]
    rows = [{**r, "ts": r["ts"].replace(tzinfo=None)} for r in rows]
    channels = dict(zip(users_table["user_id"].to_pylist(), users_table["channel"].to_pylist(), strict=True))
    expected, n_users, events_order = reference_users(
        rows, channels, tz=TZ, days=7, horizon=30, thresholds=(1, 2, 3, 5, 7), criterion="on", data_end=end
    )
    assert users.events == tuple(events_order)
    assert (users.n_users, users.n_unobserved) == (n_users, n_users - len(expected))
    assert 150 < users.n_unobserved < 250  # the late arrivals (10% of 2000)
    assert _as_reference(users) == expected


def test_table_matches_plain_python(planted) -> None:
    """Every number of the long table recomputed from the per-user rows by explicit loops."""
    _, users, _ = planted
    res = analyze_aha(users)
    rows = users.to_arrow().to_pylist()
    strata = users.strata().tolist()
    y = [r["retained"] for r in rows]
    ok = []
    for r in res.to_arrow().to_pylist():
        t = [u[r["behaviour"]] == 1 for u in rows]
        with_y = [yy for yy, tt in zip(y, t, strict=True) if tt]
        without_y = [yy for yy, tt in zip(y, t, strict=True) if not tt]
        assert (r["n"], r["n_with"]) == (len(rows), len(with_y))
        assert r["coverage"] == pytest.approx(len(with_y) / len(rows))
        if with_y and without_y:
            p1, p0 = sum(with_y) / len(with_y), sum(without_y) / len(without_y)
            se = math.sqrt(p1 * (1 - p1) / len(with_y) + p0 * (1 - p0) / len(without_y))
            assert (r["rate_with"], r["rate_without"]) == pytest.approx((p1, p0))
            assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((p1 - p0 - Z95 * se, p1 - p0 + Z95 * se))
        if r["status"] == "ok":
            effect, a_se, share, _ = stratified_reference(y, t, strata, z=Z95, min_cell=2)
            assert r["adjusted"] == pytest.approx(effect)
            assert r["adjusted_se"] == pytest.approx(a_se)
            assert r["overlap_share"] == pytest.approx(share)
            assert 0.05 <= r["coverage"] <= 0.95 and share >= 0.5
            ok.append(r)
    assert [r["rank"] for r in sorted(ok, key=lambda r: -r["adjusted"])] == list(range(1, len(ok) + 1))
    # Benjamini-Hochberg by hand: q_(i) = min over j >= i of p_(j) m / j
    ps = sorted((r["adjusted_p"], r["behaviour"]) for r in ok)
    m = len(ps)
    qs = {}
    running = 1.0
    for j in range(m, 0, -1):
        running = min(running, ps[j - 1][0] * m / j)
        qs[ps[j - 1][1]] = running
    for r in ok:
        assert r["q_value"] == pytest.approx(qs[r["behaviour"]])


def test_aipw_adjustment_agrees(planted) -> None:
    _, users, _ = planted
    """AIPW over the same overlap strata lands on the same answer as post-stratification."""
    spec = AhaSpec(adjust="aipw", events=("ask", "browse"), thresholds=(1, 3))
    res = analyze_aha(
        replace(
            users,
            spec=spec,
            behaviours=tuple(b for b in users.behaviours if b.event in ("ask", "browse") and b.threshold in (1, 3)),
        )
    )
    ask1, browse3 = res.row("ask", 1), res.row("browse", 3)
    assert ask1["adjusted_ci_lower"] <= PLANTED_ASK <= ask1["adjusted_ci_upper"]
    assert browse3["adjusted_ci_lower"] <= 0 <= browse3["adjusted_ci_upper"]
    assert res.ranked()["event"][0].as_py() == "ask"


def test_result_conversions(planted) -> None:
    _, users, end = planted
    res = analyze_aha(users)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)  # NaN rates (no users without app_open>=1) become null
    assert d["data_end"] == end.isoformat() and d["n_unobserved"] == users.n_unobserved
    assert len(d["rows"]) == res.to_arrow().num_rows == 20  # 4 events x 5 thresholds
    assert res.to_pandas().shape[0] == 20
    html = res._repr_html_()
    assert "ask" in html and "not yet observed" in html
    assert "ranked=" in repr(res)


# -- the generated festival world -------------------------------------------------------------------------------------
def test_festival_world_ask_ranks_high(tmp_path) -> None:
    """Task users ask (most of their events are requests) and carry the habit floor; hunters redeem and leave.
    Early activity and channel do not capture the type, so 'ask' keeps a positive adjusted association."""
    from zoneinfo import ZoneInfo

    from liuliang.simulate import WorldConfig, generate_world

    manifest = generate_world(
        WorldConfig(n_users=4000, days=60, seed=11, courier_share=0.0, experiment=False), tmp_path
    )
    cfg = manifest.config
    end = dt.datetime.combine(cfg.start + dt.timedelta(days=cfg.days), dt.time(), ZoneInfo(cfg.tz))
    ws = liuliang.Workspace.open(tmp_path / "ws.duckdb", tz=cfg.tz)
    try:
        ws.ingest(tmp_path / "events")
        ws.ingest(tmp_path / "users.parquet", table="users")
        users = aha_users(ws, AhaSpec(rank_by="ci_lower"), data_end=end)
    finally:
        ws.close()
    res = analyze_aha(users)
    top = res.ranked().to_pylist()
    assert top[0]["event"] == "ask" and top[0]["adjusted_ci_lower"] > 0
    assert "ask" in res.findings[0]


# -- validation -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": 0},
        {"days": 31},
        {"thresholds": ()},
        {"thresholds": (1, 1)},
        {"thresholds": (0,)},
        {"criterion": "ever"},
        {"adjust": "matching"},
        {"min_coverage": 0.5},
        {"alpha": 1.0},
        {"activity_bins": (2, 4)},
        {"activity_bins": (1, 9)},
        {"events": ()},
        {"rank_by": "p"},
        {"min_overlap": 1.5},
        {"top": -1},
        {"sets": 1},
        {"sets": 4},
        {"set_events": 1},
    ],
)
def test_spec_rejects(kwargs) -> None:
    with pytest.raises(ModelInputError, match="AhaSpec"):
        AhaSpec(**kwargs)


def test_activity_bins_group_strata(planted) -> None:
    """Coarser activity strata (1, 2-3, 4+) leave residual confounding for the marker: its adjusted effect grows."""
    _, users, _ = planted
    fine = analyze_aha(users).row("browse", 3)
    coarse = analyze_aha(replace(users, spec=AhaSpec(activity_bins=(1, 2, 4)))).row("browse", 3)
    assert coarse["adjusted"] > fine["adjusted"] + 0.02
    assert len(set(replace(users, spec=AhaSpec(activity_bins=(1, 2, 4))).strata().tolist())) == 2 * 3
