"""The report in a real browser: opened from file://, every chart draws, nothing is fetched, no console error.

Every http(s) request the page attempts is recorded and aborted (a report that quietly needs a CDN would draw blank
charts offline); the ``page`` fixture fails the test on any console error. Screenshots go to the artefacts folder.
The hand-made report runs even before the view builders exist; the small-world reports need them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import plotly.graph_objects as go
import pyarrow as pa
import pytest

from liuliang.report import view as view_module
from liuliang.report.html import render_report, write_report
from liuliang.report.view import View, ViewSpec
from liuliang.warehouse import Workspace

READY_TIMEOUT_MS = 60_000


def open_offline(page, path: Path) -> list[str]:
    """Open ``path`` with every http(s)/ws request aborted; returns the list those requests are recorded in."""
    attempted: list[str] = []

    def block(route) -> None:
        attempted.append(route.request.url)
        route.abort()

    local = ("file:", "data:", "blob:", "about:")
    page.route(lambda url: not url.startswith(local), block)
    page.on("request", lambda req: None if req.url.startswith(local) else attempted.append(req.url))
    page.on("websocket", lambda ws: attempted.append(ws.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready]", state="attached", timeout=READY_TIMEOUT_MS)
    assert page.evaluate("document.body.dataset.ready") == "1"
    return attempted


def check_sections(page, keys: list[str]) -> dict[str, str]:
    """Every section has a drawn chart or a note; returns key -> 'chart' | 'note'."""
    found = page.eval_on_selector_all(
        "section.view",
        """els => els.map(s => ({
            key: s.dataset.view,
            svg: s.querySelectorAll('div.chart svg.main-svg').length,
            plot: s.querySelectorAll('div.chart.js-plotly-plot').length,
            charts: s.querySelectorAll('div.chart').length,
            note: (s.querySelector('p.note') || {}).textContent || '',
            title: s.querySelector('h2').textContent,
            reading: s.querySelector('p.reading').textContent,
            height: (s.querySelector('div.chart') || {offsetHeight: 0}).offsetHeight,
        }))""",
    )
    assert [f["key"] for f in found] == keys
    kinds = {}
    for f in found:
        assert f["title"].strip() and f["reading"].strip(), f
        if f["charts"]:
            assert f["plot"] == 1 and f["svg"] >= 1 and f["height"] > 100, f
            kinds[f["key"]] = "chart"
        else:
            assert f["note"].strip(), f
            kinds[f["key"]] = "note"
    return kinds


def test_hand_made_report_draws_offline(page, screenshot, tmp_path: Path) -> None:
    heat = go.Figure(go.Heatmap(z=[[1.0, 0.4, 0.2], [1.0, 0.35, None]], x=["D0", "D1", "D2"], y=["2月1日", "2月2日"]))
    bars = go.Figure(go.Bar(x=["organic", "red_packet</script>"], y=[0.31, 0.098]))
    views = [
        View("retention", "留存 <热力图>", "红包渠道带来的 1,204 名用户中，第 30 天仍活跃的占 9.8%。", heat),
        View("frequency", "Frequency", "Most users came once.", bars, pa.table({"days": [1, 2], "users": [5, 3]})),
        View("experiment", "Experiment", "Not available.", note="no assignments table in this workspace"),
    ]
    path = tmp_path / "hand.html"
    path.write_text(render_report(views, lang="zh", generated_at=dt.datetime(2026, 3, 1, 8)), encoding="utf-8")
    attempted = open_offline(page, path)
    kinds = check_sections(page, ["retention", "frequency", "experiment"])
    assert kinds == {"retention": "chart", "frequency": "chart", "experiment": "note"}
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    # the escaped label reached Plotly as text, not markup
    assert "red_packet</script>" in page.inner_text("#chart-frequency")
    assert attempted == []
    screenshot("zh")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_small_world_report_in_the_browser(page, screenshot, small_world_workspace: Path, tmp_path: Path, lang) -> None:
    with Workspace.open(small_world_workspace) as ws:
        path = write_report(ws, tmp_path / f"report-{lang}.html", ViewSpec(lang=lang))
    attempted = open_offline(page, path)
    kinds = check_sections(page, list(view_module.VIEWS))
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    # the small world has events, users, incentives and an experiment: the core views must draw, not apologise
    for key in ("retention", "retention_curves", "stickiness", "frequency", "lifecycle"):
        assert kinds[key] == "chart", key
    assert attempted == [], attempted
    screenshot(lang)
    page.emulate_media(media="print")
    screenshot(f"{lang}-print")
