"""The habit and aha views: every number in a view's table is the signal API's (computed here again), the pooling
and the top-behaviour selection are redone by hand, and the readings quote the right numbers in both languages.

The views are built once per module (en and zh) on the session's small world, so the file stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

import liuliang
from liuliang.errors import LiuliangError
from liuliang.report import view as view_module
from liuliang.report.view import View, ViewSpec, build_view, pct
from liuliang.report.views import signals
from liuliang.signals.aha import AhaSpec, aha_signals
from liuliang.signals.habit import TaskHabitSpec, task_habit
from liuliang.warehouse import periods

KEYS = ("habit", "aha")
BUILDERS = {"habit": "liuliang.report.views.signals:task_habit_view", "aha": "liuliang.report.views.signals:aha_view"}
TZ = "Asia/Shanghai"
CHANNELS = {"organic", "red_packet", "free_order", "social_share"}


def test_registered_in_report_order() -> None:
    keys = list(view_module.VIEWS)
    assert {k: view_module.VIEWS[k] for k in KEYS} == BUILDERS
    assert keys.index("decay") < keys.index("habit") < keys.index("aha") < keys.index("experiment")


@pytest.fixture(scope="module")
def ws(small_world_workspace: Path):
    workspace = liuliang.Workspace.open(small_world_workspace)
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def views(ws) -> dict[tuple[str, str], View]:
    return {(key, lang): build_view(ws, key, ViewSpec(lang=lang)) for key in KEYS for lang in ("en", "zh")}


@pytest.fixture(scope="module")
def habit(ws):
    return task_habit(ws, TaskHabitSpec(breakdown="channel"))


@pytest.fixture(scope="module")
def aha(ws):
    return aha_signals(ws, AhaSpec(sets=2))


def rows(v: View) -> list[dict]:
    assert v.table is not None
    return v.table.to_pylist()


def wilson_by_roots(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's interval as the roots in p of (k/n - p)^2 = z^2 p (1 - p) / n: another route to the formula."""
    z2 = stats.norm.ppf(1 - alpha / 2) ** 2
    ph = k / n
    lo, hi = sorted(float(np.real(r)) for r in np.roots([1 + z2 / n, -(2 * ph + z2 / n), ph * ph]))
    return max(0.0, lo), min(1.0, hi)


# -- both views --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_view_is_complete_translated_and_json_ready(views, key) -> None:
    en, zh = views[(key, "en")], views[(key, "zh")]
    for v in (en, zh):
        assert v.key == key and v.figure is not None and v.table is not None and v.table.num_rows > 0
        assert v.reading.count(". ") == 0 and v.reading.endswith((".", "。")), v.reading  # one sentence
        d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
        assert d["figure"]["data"] and d["rows"] and d["note"]
    assert zh.title != en.title and zh.reading != en.reading and zh.note != en.note
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.reading + zh.title)
    for axis in ("xaxis", "yaxis"):
        en_title = en.figure.layout[axis].title.text
        assert en_title and en_title != zh.figure.layout[axis].title.text
    en_names, zh_names = ({t.name for t in v.figure.data} - CHANNELS for v in (en, zh))
    assert en_names and en_names.isdisjoint(zh_names)  # legend names translated (channel names are data)
    assert en.table.equals(zh.table)  # numbers do not change with the language


# -- habit -------------------------------------------------------------------------------------------------------------
def test_habit_table_is_the_pooled_task_habit(views, habit) -> None:
    got = rows(views[("habit", "en")])
    assert got == habit.pooled().to_pylist()  # every column, every row, in order
    # by hand: Σ over the complete cohort-weeks of each (channel, week)
    acc: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in habit.table.to_pylist():
        if not r["incomplete"]:
            a = acc[(r["breakdown"], r["week"])]
            a[0] += 1
            a[1] += r["cohort_users"]
            a[2] += r["active_users"]
            a[3] += r["task_requests"]
    assert {(r["breakdown"], r["week"]) for r in got} == set(acc)
    assert {r["breakdown"] for r in got} == CHANNELS
    for r in got:
        cohorts, users, active, tasks = acc[(r["breakdown"], r["week"])]
        assert (r["cohorts"], r["cohort_users"], r["active_users"], r["task_requests"]) == (
            cohorts,
            users,
            active,
            tasks,
        )
        assert r["task_per_user"] == pytest.approx(tasks / users, rel=1e-12)
        assert r["task_per_active_user"] == pytest.approx(tasks / active, rel=1e-12)
    # the lines are the per-member rates of the table, one per channel
    fig = views[("habit", "en")].figure
    lines = {t.name: t for t in fig.data if t.type == "scatter"}
    assert set(lines) == {r["breakdown"] for r in got}
    for name, t in lines.items():
        mine = [r for r in got if r["breakdown"] == name]
        assert list(t.x) == [r["week"] for r in mine] and list(t.y) == [r["task_per_user"] for r in mine]


def test_habit_retention_panel_and_reading(views, habit) -> None:
    pooled = [r for r in habit.retention.to_pylist() if r["breakdown"] == "all"]
    (bars,) = [t for t in views[("habit", "en")].figure.data if t.type == "bar"]
    assert list(bars.x) == ["0", "1", "2", "3-4", "5+"] and bars.xaxis == "x2"
    for r, y, up, down in zip(pooled, bars.y, bars.error_y.array, bars.error_y.arrayminus, strict=True):
        assert y == pytest.approx(r["retained"] / r["users"], rel=1e-12)
        lo, hi = wilson_by_roots(r["retained"], r["users"])
        assert (y - down, y + up) == pytest.approx((lo, hi), abs=1e-9)
    assert sum(bars.customdata) == habit.n_observed
    rho = next(r["rho"] for r in habit.correlation.to_pylist() if r["breakdown"] == "all")
    top, none = pooled[-1], pooled[0]
    assert rho > 0.3 and top["rate"] > 10 * none["rate"]  # the planted relation: asking goes with staying
    en, zh = views[("habit", "en")].reading, views[("habit", "zh")].reading
    assert en == (
        f"Users who asked for 5+ tasks in their first week kept {pct(top['rate'])} at D30, against "
        f"{pct(none['rate'])} for those who asked none (Spearman ρ {rho:.2f})."
    )
    for text in (pct(top["rate"]), pct(none["rate"]), f"{rho:.2f}", "5+", "首周"):
        assert text in zh
    note = views[("habit", "en")].note
    assert (
        f"{habit.n_observed:,} users observed" in note and f"{habit.task_texts:,} of {habit.distinct_texts:,}" in note
    )


def test_habit_note_has_the_adjusted_relation(views, habit) -> None:
    """The note quotes the API's pooled 3+-against-none row: raw gap, and the gap within channel x early activity."""
    (adj,) = [r for r in habit.adjusted.to_pylist() if r["breakdown"] == "all"]
    assert habit.adjusted_by == "channel" and adj["k"] == 3
    assert adj["ci_lower"] > 0 and adj["adjusted_difference"] < adj["raw_difference"]  # planted: both ask and stay
    pts = {c: f"{100 * adj[c]:+.1f}" for c in ("raw_difference", "adjusted_difference", "ci_lower", "ci_upper")}
    en, zh = views[("habit", "en")].note, views[("habit", "zh")].note
    assert (
        f"Users with 3+ task requests in their first week kept {pct(adj['rate_with'])} at D30 against "
        f"{pct(adj['rate_without'])} for those with none ({pts['raw_difference']} pts); among users of the same "
        f"channel and number of early active days the gap is {pts['adjusted_difference']} pts "
        f"(95% CI {pts['ci_lower']} to {pts['ci_upper']}), the part not explained by coming back early."
    ) in en
    assert "同渠道、同早期活跃天数" in zh
    for text in (pct(adj["rate_with"]), pct(adj["rate_without"]), *pts.values()):
        assert text in zh
    # the reading stays one sentence, without the adjusted figure
    assert pts["adjusted_difference"] + " pts" not in views[("habit", "en")].reading


def test_habit_respects_start_end_and_breakdown(ws) -> None:
    start, end = dt.date(2026, 1, 25), dt.date(2026, 3, 20)
    spec = ViewSpec(start=start, end=end, breakdown=None, period="week", criterion="on_or_after", lang="zh")
    v = build_view(ws, "habit", spec)
    res = task_habit(ws, TaskHabitSpec(since=start), data_end=spec.data_end(ws.settings.tz))
    assert rows(v) == res.pooled().to_pylist() and {r["breakdown"] for r in rows(v)} == {"all"}
    assert [t.name for t in v.figure.data if t.type == "scatter"] == ["全部用户"]
    # period, criterion and preset are ignored: the same query whatever they say
    assert signals.habit_spec(spec) == TaskHabitSpec(since=start)
    assert signals.habit_spec(ViewSpec(start=start, breakdown=None, preset="mixpanel")) == signals.habit_spec(spec)
    assert res.n_users < task_habit(ws).n_users  # start and end took users away
    first = [r for r in res.retention.to_pylist() if r["breakdown"] == "all"]
    assert pct(first[-1]["rate"]) in v.reading and pct(first[0]["rate"]) in v.reading


def test_habit_reading_without_users_observed_to_day_30(ws) -> None:
    """An end date three weeks in: no one has a day 30 yet, so the reading falls back to first-week volumes."""
    end = periods.date_of_day(ws.event_span().first_day) + dt.timedelta(days=20)
    v = build_view(ws, "habit", ViewSpec(end=end))
    res = task_habit(ws, TaskHabitSpec(breakdown="channel"), data_end=ViewSpec(end=end).data_end(ws.settings.tz))
    assert res.n_observed == 0 and rows(v) == res.pooled().to_pylist()
    (week0,) = [r for r in rows(v) if r["week"] == 0]  # only the organic channel has a complete first week by then
    assert v.reading == (
        f"organic users asked for {week0['task_per_user']:.1f} tasks each in their first week; "
        "nobody has reached D30 yet."
    )
    assert not any(t.type == "bar" and len(t.x) for t in v.figure.data)
    assert "pts" not in v.note and res.adjusted["adjusted_difference"].null_count == res.adjusted.num_rows
    pooled = build_view(ws, "habit", ViewSpec(end=end, breakdown=None, lang="zh"))
    (all0,) = [r for r in rows(pooled) if r["week"] == 0]
    assert pooled.reading == f"全部用户首周人均请求 {all0['task_per_user']:.1f} 次任务；还没有用户到达第30天。"


# -- aha ---------------------------------------------------------------------------------------------------------------
def _survives_by_hand(r: dict) -> bool:
    ok = r["adjusted_ci_lower"] > 0 and r["q_value"] <= 0.05
    if r["kind"] == "set":
        ok = ok and r["beyond_member"] > 0 and r["beyond_member_q"] <= 0.05  # NaN fails both
    return bool(ok)


def test_aha_table_is_aha_signals(views, aha) -> None:
    ranked = aha.ranked().to_pylist()
    kept, seen = [], set()
    for r in ranked:  # by hand: best-ranked threshold of each event, pairs on their own, top 10
        if r["event"] not in seen and len(kept) < 10:
            seen.add(r["event"])
            kept.append(r)
    got = rows(views[("aha", "en")])
    assert [g["behaviour"] for g in got] == [r["behaviour"] for r in kept]
    assert [g["rank"] for g in got] == sorted(g["rank"] for g in got)
    assert {g["kind"] for g in got} == {"event", "set"}  # single events and feature pairs
    pairs = {
        "users": "n_with",
        "coverage": "coverage",
        "d30_with": "rate_with",
        "d30_without": "rate_without",
        "difference": "difference",
        "adjusted": "adjusted",
        "ci_lower": "adjusted_ci_lower",
        "ci_upper": "adjusted_ci_upper",
        "q_value": "q_value",
    }
    for g, r in zip(got, kept, strict=True):
        for mine, theirs in pairs.items():
            assert g[mine] == pytest.approx(r[theirs], rel=1e-12), (g["behaviour"], mine)
        assert g["best_member"] == r["best_member"]
        for c in ("beyond_member", "beyond_member_q"):
            assert (g[c] is None) == (not math.isfinite(r[c])) and (g[c] is None or g[c] == pytest.approx(r[c]))
        assert g["survives"] is _survives_by_hand(r)
        assert g["d30_with"] - g["d30_without"] == pytest.approx(g["difference"], rel=1e-9)
    # the forest: adjusted differences and their intervals in percentage points, raw differences beside them
    fig = views[("aha", "en")].figure
    raw = next(t for t in fig.data if t.name == "Raw difference")
    assert list(raw.x) == pytest.approx([100 * g["difference"] for g in got])
    drawn = {}
    for t in fig.data:
        if t is not raw:
            for y, x, up, down in zip(t.y, t.x, t.error_x.array, t.error_x.arrayminus, strict=True):
                drawn[y] = (x, x + up, x - down)
    assert len(drawn) == len(got) == len(set(raw.y))
    for g, label in zip(got, raw.y, strict=True):
        assert drawn[label] == pytest.approx((100 * g["adjusted"], 100 * g["ci_upper"], 100 * g["ci_lower"]))


def test_aha_reading_names_the_strongest_survivor(views, aha) -> None:
    got = rows(views[("aha", "en")])
    best = next(g for g in got if g["survives"])
    assert best["behaviour"] == "ask>=3"  # on this world: asking the assistant, not the red packet
    en, zh = views[("aha", "en")].reading, views[("aha", "zh")].reading
    assert en == (
        f"Users who had 3+ ask events in their first 7 days kept {pct(best['d30_with'])} at D30 against "
        f"{pct(best['d30_without'])} without; within the same channel and early activity the gap is "
        f"{100 * best['adjusted']:+.1f} points (95% CI {100 * best['ci_lower']:+.1f} to {100 * best['ci_upper']:+.1f})."
    )
    for text in (pct(best["d30_with"]), f"{100 * best['adjusted']:.1f}", f"{100 * best['ci_upper']:+.1f}", "ask"):
        assert text in zh
    # the naive search would have crowned another: the raw gaps rank differently from the adjusted ones
    assert max(got, key=lambda g: g["difference"])["behaviour"] != best["behaviour"]
    assert f"{aha.n_observed:,} users observed to day 30" in views[("aha", "en")].note


def test_aha_reading_when_nothing_survives(aha) -> None:
    weak = [dict(r, adjusted_ci_lower=-0.01) for r in aha.ranked().to_pylist()]
    res = SimpleNamespace(spec=AhaSpec(sets=2))
    assert all(not signals.survives(r, 0.05) for r in weak)
    en, zh = signals._aha_reading(res, weak, "en"), signals._aha_reading(res, weak, "zh")
    assert en.startswith("No early behaviour goes with D30 retention once channel and early activity")
    assert "没有任何早期行为" in zh
    # a pair that survives adjustment but adds nothing beyond its best member is not named
    pair = next(r for r in aha.ranked().to_pylist() if r["kind"] == "set")
    strong = dict(pair, adjusted_ci_lower=0.02, q_value=0.001, beyond_member=0.01, beyond_member_q=0.5)
    assert not signals.survives(strong, 0.05) and signals.survives(dict(strong, beyond_member_q=0.01), 0.05)


def test_aha_respects_start_end_and_criterion(ws) -> None:
    start, end = dt.date(2026, 1, 25), dt.date(2026, 4, 10)
    spec = ViewSpec(start=start, end=end, criterion="on_or_after", breakdown=None, period="week", preset="posthog")
    assert signals.aha_spec(spec) == AhaSpec(sets=2, criterion="on_or_after", since=start)
    v = build_view(ws, "aha", spec)
    res = aha_signals(ws, signals.aha_spec(spec), data_end=spec.data_end(ws.settings.tz))
    assert [g["behaviour"] for g in rows(v)] == [r["behaviour"] for r in signals.top_behaviours(res)]
    assert [g["adjusted"] for g in rows(v)] == [r["adjusted"] for r in signals.top_behaviours(res)]
    assert "on day 30 or later" in v.note and f"{res.n_observed:,} users" in v.note
    # breakdown is ignored (channel is a stratum already): the same view with it
    assert rows(build_view(ws, "aha", ViewSpec(start=start, end=end, criterion="on_or_after"))) == rows(v)


# -- without messages --------------------------------------------------------------------------------------------------
def _hand_events(text: bool) -> pa.Table:
    t0 = dt.datetime(2024, 3, 4, 2)
    users = [f"u{i}" for i in range(6)]
    ts = [t0 + dt.timedelta(days=d, hours=i) for i, _ in enumerate(users) for d in (0, 1, 8, 31)]
    cols = {
        "user_id": [u for u in users for _ in range(4)],
        "ts": pa.array(ts, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "event": ["app_open"] * len(ts),
    }
    if text:
        cols["text"] = pa.array([None] * len(ts), pa.string())
    return pa.table(cols)


@pytest.mark.parametrize("text", [False, True], ids=["no text column", "null texts"])
def test_no_messages_gives_a_note(tmp_path: Path, text: bool) -> None:
    """Hand-made events without messages (the warehouse adds a null ``text`` when the source has none)."""
    with liuliang.Workspace.open(tmp_path / "ws.duckdb", tz=TZ) as w:
        w.ingest(_hand_events(text))
        for lang, reading in (("en", "Not available."), ("zh", "暂无数据。")):
            v = build_view(w, "habit", ViewSpec(lang=lang, breakdown=None))
            assert v.figure is None and v.table is None and v.reading == reading
            assert "no task requests (帮我…) to count" in (v.note or "")
            assert "ingest events with a text column" in v.note
            json.dumps(v.to_dict(), allow_nan=False)
        with pytest.raises(LiuliangError, match="has a text"):
            signals.task_habit_view(w, ViewSpec(breakdown=None))


def test_an_events_table_without_a_text_column_is_refused_before_querying() -> None:
    events = SimpleNamespace(columns=("user_id", "ts", "event"))
    fake = SimpleNamespace(has_table=lambda name: True, table=lambda name: events)
    with pytest.raises(LiuliangError, match="no text column"):
        signals.task_habit_view(fake, ViewSpec())
