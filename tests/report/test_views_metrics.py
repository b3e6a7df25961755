"""The metric views show the metrics' numbers, say them in the reading, and follow the knobs.

Three kinds of check per view: the view's table equals the metric API's result (nothing lost in reshaping); a few
cells recomputed by a naive pass over the raw events (plain Python sets of local dates, nothing from liuliang but
the table read); and the knobs (end date, criterion, period, preset, language) move the output the way they should.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from liuliang.metrics import (
    ActiveUsersSpec,
    FrequencySpec,
    LifecycleSpec,
    RetentionSpec,
    RevenueSpec,
    active_users,
    cohort_revenue,
    frequency,
    lifecycle,
    retention,
)
from liuliang.metrics.retention.presets import amplitude
from liuliang.report.view import View, ViewSpec, build_view, pct
from liuliang.report.views import retention as retention_views
from liuliang.warehouse.workspace import Workspace

KEYS = ("retention", "retention_curves", "stickiness", "frequency", "lifecycle", "revenue")
DAY = dt.timedelta(days=1)
SHANGHAI = dt.timedelta(hours=8)  # Asia/Shanghai has had no daylight saving since 1991


@dataclass(frozen=True)
class World:
    """The raw events as plain Python: active local dates and money per user and date."""

    days: dict[int, set[dt.date]]
    amount: dict[int, dict[dt.date, float]]
    channel: dict[int, str]
    last: dt.date  # local date of the last event: its day is the unfinished one

    def first(self, u: int) -> dt.date:
        return min(self.days[u])

    def cohort(self, d: dt.date) -> list[int]:
        return [u for u, ds in self.days.items() if min(ds) == d]


@pytest.fixture(scope="module")
def ws(small_world_workspace: Path) -> Iterator[Workspace]:
    workspace = Workspace.open(small_world_workspace)
    assert workspace.settings.tz == "Asia/Shanghai"
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def world(ws: Workspace) -> World:
    ev = ws.engine.to_arrow(ws.table("events").select("user_key", "ts", "amount"))
    days: dict[int, set[dt.date]] = defaultdict(set)
    amount: dict[int, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    last = dt.date.min
    for u, ts, a in zip(*(ev[c].to_pylist() for c in ("user_key", "ts", "amount")), strict=True):
        d = (ts + SHANGHAI).date()
        days[u].add(d)
        amount[u][d] += a or 0.0
        last = max(last, d)
    users = ws.engine.to_arrow(ws.table("users").select("user_key", "channel")).to_pylist()
    return World(dict(days), dict(amount), {r["user_key"]: r["channel"] for r in users}, last)


def _serialises(v: View) -> dict:
    d = json.loads(json.dumps(v.to_dict()))
    assert d["figure"] is not None and d["figure"]["data"], v.key
    assert d["rows"] and d["columns"] == v.table.column_names
    return d


def _same_numbers(a, b) -> bool:
    """Equal tables, floats to 1e-12: DuckDB sums floats in parallel, so the last bit may differ run to run."""
    if a.column_names != b.column_names or a.num_rows != b.num_rows:
        return False
    for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True):
        for k, v in x.items():
            if isinstance(v, float) and y[k] != pytest.approx(v, rel=1e-12, abs=1e-12):
                return False
            if not isinstance(v, float) and y[k] != v:
                return False
    return True


def _rows(table, *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}


# -- every view -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_every_view_serialises_and_speaks_both_languages(ws: Workspace, key: str) -> None:
    en, zh = build_view(ws, key, ViewSpec()), build_view(ws, key, ViewSpec(lang="zh"))
    assert en.note is None or "shown" in en.note, en.note  # a real view, not an error turned into a note
    _serialises(en)
    _serialises(zh)
    assert en.title != zh.title and en.reading != zh.reading
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.reading)
    assert _same_numbers(en.table, zh.table)  # the language changes the words, never the numbers
    en_axes = json.dumps(en.figure_json()["layout"], ensure_ascii=False)
    zh_axes = json.dumps(zh.figure_json()["layout"], ensure_ascii=False)
    assert en_axes != zh_axes


def test_unknown_breakdown_column_becomes_a_note(ws: Workspace) -> None:
    v = build_view(ws, "retention_curves", ViewSpec(breakdown="no_such_column"))
    assert v.figure is None and "no_such_column" in (v.note or "")


# -- retention heatmap ------------------------------------------------------------------------------------------------
def test_heatmap_shows_the_metric_for_the_most_recent_cohorts(ws: Workspace) -> None:
    v = build_view(ws, "retention", ViewSpec())
    rt = retention(ws, RetentionSpec(periods=30))
    cohorts = sorted(set(rt.table["cohort"].to_pylist()))
    assert len(cohorts) > retention_views.MAX_COHORTS  # 90 days of daily cohorts: the cap is exercised
    shown = {rt.cohort_start(c): c for c in cohorts[-retention_views.MAX_COHORTS :]}
    assert set(v.table["cohort"].to_pylist()) == set(shown)
    assert v.note and "60" in v.note
    metric = _rows(rt.table, "cohort", "period_offset")
    assert v.table.num_rows == len(shown) * 31
    for r in v.table.to_pylist():
        m = metric[(shown[r["cohort"]], r["offset"])]
        assert (r["size"], r["retained"], r["rate"], r["incomplete"]) == (
            m["cohort_size"],
            m["count"],
            m["rate"],
            m["incomplete"],
        )
    heat = v.figure_json()["data"]
    assert len(heat[0]["y"]) == len(shown) and all("·" in y for y in heat[0]["y"])  # cohort sizes on the labels
    # complete cells in the coloured trace, incomplete ones only in the grey one
    assert all(z is None for row in heat[1]["z"][:20] for z in row[:10])


def test_heatmap_cells_match_a_naive_count(ws: Workspace, world: World) -> None:
    v = build_view(ws, "retention", ViewSpec())
    cells = _rows(v.table, "cohort", "offset")
    for cohort in (min(v.table["cohort"].to_pylist()), world.last - 20 * DAY):
        members = world.cohort(cohort)
        for k in (0, 1, 7, 14):
            came = sum(1 for u in members if k == 0 or cohort + k * DAY in world.days[u])
            cell = cells[(cohort, k)]
            assert (cell["size"], cell["retained"]) == (len(members), came), (cohort, k)
            assert cell["incomplete"] == (cohort + k * DAY >= world.last)


def test_heatmap_reading_quotes_the_pooled_rates(ws: Workspace) -> None:
    v = build_view(ws, "retention", ViewSpec())
    done = [r for r in v.table.to_pylist() if not r["incomplete"] and r["size"]]
    for k in (1, 7, 30):
        at = [r for r in done if r["offset"] == k]
        rate = sum(r["retained"] for r in at) / sum(r["size"] for r in at)
        assert f"{pct(rate)} " in v.reading and f"day {k}" in v.reading
    users = sum(r["size"] for r in v.table.to_pylist() if r["offset"] == 0)
    assert f"{users:,} users" in v.reading


def test_heatmap_knobs(ws: Workspace) -> None:
    on = _rows(build_view(ws, "retention", ViewSpec()).table, "cohort", "offset")
    after = _rows(build_view(ws, "retention", ViewSpec(criterion="on_or_after")).table, "cohort", "offset")
    assert on.keys() == after.keys()
    assert all(after[k]["retained"] >= on[k]["retained"] for k in on)
    assert any(after[k]["retained"] > on[k]["retained"] for k in on)

    end = dt.date(2026, 3, 10)
    cut = build_view(ws, "retention", ViewSpec(end=end))
    assert max(cut.table["cohort"].to_pylist()) == end
    for key, r in _rows(cut.table, "cohort", "offset").items():
        assert r["incomplete"] == (key[0] + key[1] * DAY >= end + DAY)
        if not r["incomplete"] and key in on:  # what had elapsed by the end date is unchanged
            assert r["retained"] == on[key]["retained"]

    week = build_view(ws, "retention", ViewSpec(period="week"))
    assert {d.weekday() for d in week.table["cohort"].to_pylist()} == {0}
    assert max(week.table["offset"].to_pylist()) == 12 and "week 1" in week.reading

    amp = build_view(ws, "retention", ViewSpec(preset="amplitude"))
    rt = retention(ws, amplitude(periods=30))
    starts = {rt.cohort_start(c): c for c in set(rt.table["cohort"].to_pylist())}
    metric = _rows(rt.table, "cohort", "period_offset")
    assert all(r["rate"] == metric[(starts[r["cohort"]], r["offset"])]["rate"] for r in amp.table.to_pylist())
    assert amp.table.column("rate") != build_view(ws, "retention", ViewSpec()).table.column("rate")


# -- retention curves -------------------------------------------------------------------------------------------------
def test_curves_are_the_metrics_pooled_mean(ws: Workspace) -> None:
    v = build_view(ws, "retention_curves", ViewSpec())
    mean = _rows(
        retention(ws, RetentionSpec(periods=30, breakdown="channel")).mean(weighted=True), "breakdown", "period_offset"
    )
    got = _rows(v.table, "breakdown", "offset")
    assert got.keys() == mean.keys()
    for key, r in got.items():
        m = mean[key]
        assert (r["cohorts"], r["users"], r["retained"]) == (m["cohorts"], m["cohort_size"], m["count"])
        assert r["rate"] == pytest.approx(m["rate"], rel=1e-12)
    assert {t["name"] for t in v.figure_json()["data"]} == {"free_order", "organic", "red_packet", "social_share"}


def test_curves_match_a_naive_pool_and_the_reading(ws: Workspace, world: World) -> None:
    v = build_view(ws, "retention_curves", ViewSpec())
    got = _rows(v.table, "breakdown", "offset")
    for channel in ("organic", "red_packet"):
        for k in (1, 30):
            members = [
                u for u in world.days if world.channel.get(u) == channel and world.first(u) + k * DAY < world.last
            ]
            came = sum(1 for u in members if world.first(u) + k * DAY in world.days[u])
            assert (got[(channel, k)]["users"], got[(channel, k)]["retained"]) == (len(members), came)
    at30 = sorted((r["rate"], b) for (b, k), r in got.items() if k == 30)
    (lo_rate, lo), (hi_rate, hi) = at30[0], at30[-1]
    assert v.reading.startswith(f"Of the {got[(lo, 30)]['users']:,} {lo} users")
    assert f"{pct(lo_rate)} were active on day 30" in v.reading and f"{hi} kept {pct(hi_rate)}" in v.reading

    one = build_view(ws, "retention_curves", ViewSpec(breakdown=None, criterion="on_or_after"))
    assert set(one.table["breakdown"].to_pylist()) == {"all"} and "day 30 or later" in one.reading
    plain = _rows(build_view(ws, "retention_curves", ViewSpec(breakdown=None)).table, "offset")
    assert all(r["rate"] >= plain[(r["offset"],)]["rate"] for r in one.table.to_pylist())


# -- stickiness -------------------------------------------------------------------------------------------------------
def test_stickiness_matches_the_metric_and_a_naive_count(ws: Workspace, world: World) -> None:
    v = build_view(ws, "stickiness", ViewSpec())
    metric = active_users(ws, ActiveUsersSpec()).table
    for col in v.table.column_names:
        assert v.table[col].to_pylist() == metric[col].to_pylist(), col
    rows = _rows(v.table, "date")
    for d in (world.last - 40 * DAY, world.last - DAY):
        dau = sum(1 for ds in world.days.values() if d in ds)
        wau = sum(1 for ds in world.days.values() if any(d - i * DAY in ds for i in range(7)))
        mau = sum(1 for ds in world.days.values() if any(d - i * DAY in ds for i in range(30)))
        assert (rows[(d,)]["dau"], rows[(d,)]["wau"], rows[(d,)]["mau"]) == (dau, wau, mau)
    day = rows[(world.last - DAY,)]  # the last complete day
    assert f"On {world.last - DAY}, {day['dau']:,} of the {day['mau']:,}" in v.reading
    assert f"(DAU/MAU {pct(day['dau'] / day['mau'])})" in v.reading
    fig = v.figure_json()
    assert [t["name"] for t in fig["data"]] == ["DAU", "WAU", "MAU", "DAU/MAU"]
    assert fig["data"][3]["yaxis"] == "y2" and fig["layout"]["yaxis2"]["overlaying"] == "y"


def test_stickiness_end_date(ws: Workspace) -> None:
    end = dt.date(2026, 3, 1)
    v = build_view(ws, "stickiness", ViewSpec(end=end))
    # data_end is the midnight after the end date, so the end date itself has fully elapsed
    assert max(v.table["date"].to_pylist()) == end and f"On {end}," in v.reading
    assert not any(v.table["incomplete"].to_pylist())
    full = _rows(build_view(ws, "stickiness", ViewSpec()).table, "date")
    assert all(r["mau"] == full[(r["date"],)]["mau"] for r in v.table.to_pylist() if r["date"] < end)


# -- frequency --------------------------------------------------------------------------------------------------------
def test_frequency_matches_the_metric_and_a_naive_week_count(ws: Workspace, world: World) -> None:
    v = build_view(ws, "frequency", ViewSpec())
    got = _rows(v.table, "breakdown", "days_active")
    summary = _rows(frequency(ws, FrequencySpec(breakdown="channel")).summary(), "breakdown", "days_active")
    for (b, k), s in summary.items():
        assert got[(b, k)]["user_periods"] == s["users"]
        assert got[(b, k)]["share"] == pytest.approx(s["users"] / s["active_users"])
    # naive: per user and ISO week (Monday start), the active days; the week holding the last day is unfinished
    unfinished = world.last.isocalendar()[:2]
    hist: dict[int, int] = defaultdict(int)
    for ds in world.days.values():
        weeks: dict[tuple[int, int], int] = defaultdict(int)
        for d in ds:
            weeks[d.isocalendar()[:2]] += 1
        for w, n in weeks.items():
            if w != unfinished:
                hist[n] += 1
    active = sum(hist.values())
    for k in range(1, 8):
        assert got[("all", k)]["user_periods"] == hist[k]
    one, often = hist[1] / active, sum(hist[k] for k in range(4, 8)) / active
    assert f"{pct(one)} of active users came on one day only and {pct(often)} on 4 days or more" in v.reading
    assert len(v.figure_json()["data"]) == 4


def test_frequency_month_buckets(ws: Workspace) -> None:
    v = build_view(ws, "frequency", ViewSpec(period="week", breakdown=None))
    assert set(v.table["breakdown"].to_pylist()) == {"all"}
    assert max(v.table["days_active"].to_pylist()) == 31 and "month" in v.title
    assert (
        frequency(ws, FrequencySpec(period="month")).summary()["users"].to_pylist()
        == v.table["user_periods"].to_pylist()
    )


# -- lifecycle --------------------------------------------------------------------------------------------------------
def test_lifecycle_matches_the_metric_and_a_naive_count(ws: Workspace, world: World) -> None:
    v = build_view(ws, "lifecycle", ViewSpec())
    metric = lifecycle(ws, LifecycleSpec()).table
    assert v.table["users"].to_pylist() == metric["users"].to_pylist()
    got = _rows(v.table, "period_start", "status")
    for d in (world.last - 30 * DAY, world.last - DAY):
        naive = dict.fromkeys(("new", "returning", "resurrecting", "dormant"), 0)
        for ds in world.days.values():
            if d in ds:
                status = "new" if min(ds) == d else "returning" if d - DAY in ds else "resurrecting"
                naive[status] += 1
            elif d - DAY in ds:
                naive["dormant"] += 1
        assert {s: got[(d, s)]["users"] for s in naive} == naive
    last = {s: got[(world.last - DAY, s)]["users"] for s in ("new", "returning", "resurrecting", "dormant")}
    assert f"On {world.last - DAY}, {last['new']:,} users were new, {last['returning']:,} returning" in v.reading
    assert f"quick ratio {(last['new'] + last['resurrecting']) / last['dormant']:.2f}" in v.reading
    bars = {t["name"]: t for t in v.figure_json()["data"]}
    assert v.figure_json()["layout"]["barmode"] == "relative"
    assert all(y <= 0 for y in bars["dormant"]["y"]) and min(bars["dormant"]["y"]) < 0
    assert all(y >= 0 for y in bars["new"]["y"])


def test_lifecycle_weeks_and_end(ws: Workspace) -> None:
    v = build_view(ws, "lifecycle", ViewSpec(period="week", end=dt.date(2026, 3, 12)))  # a Thursday
    starts = v.table["period_start"].to_pylist()
    assert {d.weekday() for d in starts} == {0} and max(starts) == dt.date(2026, 3, 9)
    assert "In the week of 2026-03-02" in v.reading  # the week holding the end date is unfinished
    sunday = build_view(ws, "lifecycle", ViewSpec(period="week", end=dt.date(2026, 3, 15)))
    assert "In the week of 2026-03-09" in sunday.reading  # ... unless the end date closes it


# -- revenue ----------------------------------------------------------------------------------------------------------
def _pool(rows: list[dict], key: str) -> dict:
    out: dict = {}
    for r in rows:
        if r["incomplete"] or r["base_revenue"] <= 0:
            continue
        acc = out.setdefault((r[key], r["period_offset"]), [0, 0, 0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += r["cohort_size"]
        acc[2] += r["base_revenue"]
        acc[3] += r["revenue"]
        acc[4] += r["retained_revenue"]
    return out


def test_revenue_pools_the_metric(ws: Workspace) -> None:
    v = build_view(ws, "revenue", ViewSpec())
    expected = _pool(
        cohort_revenue(ws, RevenueSpec(period="month", breakdown="channel")).table.to_pylist(), "breakdown"
    )
    got = _rows(v.table, "breakdown", "offset")
    assert got.keys() == expected.keys()
    for key, (n, users, base, rev, kept) in expected.items():
        r = got[key]
        assert (r["cohorts"], r["users"]) == (n, users)
        assert r["nrr"] == pytest.approx(rev / base) and r["grr"] == pytest.approx(kept / base)
    all_one = [acc for (_, k), acc in expected.items() if k == 1]
    nrr1 = sum(a[3] for a in all_one) / sum(a[2] for a in all_one)
    grr1 = sum(a[4] for a in all_one) / sum(a[2] for a in all_one)
    assert "NRR month 1 (what the cohorts spent in the calendar month after" in v.reading
    assert f"was {pct(nrr1)}; GRR" in v.reading and f"was {pct(grr1)}" in v.reading


def test_revenue_by_cohort_matches_a_naive_sum(ws: Workspace, world: World) -> None:
    v = build_view(ws, "revenue", ViewSpec(breakdown=None))
    got = _rows(v.table, "cohort", "offset")
    feb, mar = dt.date(2026, 2, 1), dt.date(2026, 3, 1)
    members = [u for u in world.days if world.first(u).replace(day=1) == feb]
    spend = {
        u: (
            sum(a for d, a in world.amount[u].items() if d.month == 2),
            sum(a for d, a in world.amount[u].items() if d.month == 3),
        )
        for u in members
    }
    base = sum(s0 for s0, _ in spend.values())
    r = got[(feb, 1)]
    assert r["users"] == len(members) and r["base_revenue"] == pytest.approx(base)
    assert r["nrr"] == pytest.approx(sum(s1 for _, s1 in spend.values()) / base)
    assert r["grr"] == pytest.approx(sum(min(s0, s1) for s0, s1 in spend.values()) / base)
    assert (mar, 1) not in got  # March's month 1 is April, unfinished at the data's end
    later = build_view(ws, "revenue", ViewSpec(breakdown=None, start=mar))
    assert set(later.table["cohort"].to_pylist()) == {mar} and "No cohort" in later.reading
    weekly = build_view(ws, "revenue", ViewSpec(period="week"))
    assert 10 <= max(weekly.table["offset"].to_pylist()) <= 12 and "NRR week 1" in weekly.reading
