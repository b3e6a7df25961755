"""The engine agrees exactly with the naive reference on generated logs, for a random grid of spec options."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from reference import reference_retention
from retention_logs import assert_same, engine_cells, open_world, specs, wheres, worlds

from liuliang.metrics.retention import retention

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],  # no shrinking: each example ingests a log
)


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/London"])
@SETTINGS
@given(data=st.data())
def test_engine_matches_reference(tz: str, data: st.DataObject) -> None:
    events, users, anchor = data.draw(worlds(tz), label="world")
    week_start = data.draw(st.sampled_from(["monday", "sunday"]), label="week_start")
    ws = open_world(tz, events, users, week_start)
    try:
        for i in range(4):
            spec = data.draw(specs(anchor), label=f"spec{i}")
            if not users and (spec.cohorting == "signup" or spec.breakdown or spec.user_where):
                continue  # needs the users table (tested for its error elsewhere)
            end = None
            if data.draw(st.booleans(), label=f"explicit_end{i}"):
                end = data.draw(st.sampled_from(sorted({e[1] for e in events})), label=f"data_end{i}")
                end += dt.timedelta(seconds=data.draw(st.sampled_from([0, 1, 3600])))
            expected = reference_retention(events, users, spec, tz, week_start, end)
            actual = engine_cells(retention(ws, spec, data_end=end))
            assert_same(actual, expected, f"{spec} data_end={end}")
    finally:
        ws.close()


@SETTINGS
@given(data=st.data())
def test_property_filters_and_breakdowns_match_reference(data: st.DataObject) -> None:
    """Event-property filters (every operator, with unset values), first-ever vs first matching, and event-property
    breakdowns, drawn every time."""
    tz = "America/New_York"
    events, users, anchor = data.draw(worlds(tz), label="world")
    ws = open_world(tz, events, users)
    try:
        for i in range(3):
            spec = data.draw(specs(anchor), label=f"spec{i}")
            changes = {
                "cohorting": data.draw(st.sampled_from(["first_time", "first_matching", "recurring"]), label="c"),
                "date_from": None,
                "date_to": None,
                "start_where": data.draw(wheres(empty=False), label=f"sw{i}"),
                "breakdown": None,
                "breakdown_event_property": data.draw(st.sampled_from([None, "city", "city", "os"]), label=f"bp{i}"),
                "return_where": data.draw(wheres(), label=f"rw{i}"),
                "period": data.draw(st.sampled_from(["day", "week"]), label=f"p{i}"),
                "window": "calendar",
                "periods": 6,
                "criterion": data.draw(st.sampled_from(["on", "on_or_after"]), label=f"cr{i}"),
                "brackets": (),
                "aggregation": "users",
                "min_occurrences": 1,
            }
            if not users or data.draw(st.booleans(), label=f"uw{i}"):
                changes["user_where"] = ()
            spec = spec.replace(**changes)
            expected = reference_retention(events, users, spec, tz, "monday", None)
            assert_same(engine_cells(retention(ws, spec)), expected, str(spec))
    finally:
        ws.close()
