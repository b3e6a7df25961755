"""The dashboard in a real browser: headless system Chromium via Playwright, against uvicorn on a free port.

The ``page`` fixture fails a test on any console error, so each test also checks the page loads cleanly. Screenshots
land in ``artifacts/browser/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from liuliang.report import view as view_module
from liuliang.report.view import View, ViewSpec, pick
from liuliang.web import create_app
from liuliang.web.models import ViewResponse

pytest.importorskip("playwright")
uvicorn = pytest.importorskip("uvicorn")

READY = 'body[data-ready="1"]'
TOKEN = "browser-test-token-0123456789"
#: The views quick enough to re-render on every filter change (the model views take seconds each).
QUICK = ("retention", "retention_curves", "stickiness", "lifecycle")
SLOW_SECONDS = 1.5


def slow_view(ws: object, spec: ViewSpec) -> View:
    """A stand-in view that takes SLOW_SECONDS for weekly periods: a request in flight the spinner must show."""
    if spec.period == "week":
        time.sleep(SLOW_SECONDS)
    return View(key="slow", title=pick(spec.lang, "Slow", "慢"), reading=f"period {spec.period}", note="no chart")


@pytest.fixture
def serve_app(monkeypatch: pytest.MonkeyPatch, small_world_workspace: Path) -> Iterator[Callable[..., str]]:
    """``serve_app(views=None, token=None)`` starts the dashboard with that registry and returns its base URL."""
    servers: list[tuple[object, threading.Thread]] = []

    def start(views: dict[str, str] | None = None, token: str | None = None) -> str:
        if views is not None:
            monkeypatch.setattr(view_module, "VIEWS", views)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        # What uvicorn does for sockets it opens itself; without it Nagle's algorithm and delayed ACKs add ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = sock.getsockname()[1]
        app = create_app(small_world_workspace, token=token, release_after=None)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(15)


def subset(*keys: str) -> dict[str, str]:
    return {k: view_module.VIEWS[k] for k in keys}


def numbers(page: object, key: str) -> str:
    return page.inner_text(f"#view-{key} table.numbers tbody")


def test_every_view_renders(page, screenshot, serve_app) -> None:
    base = serve_app()
    page.goto(base + "/")
    page.wait_for_selector(READY, timeout=180_000)
    keys = [s.get_attribute("data-view") for s in page.query_selector_all("section.view")]
    assert keys == list(view_module.VIEWS)
    for key in keys:
        section = page.locator(f"#view-{key}")
        assert section.locator("h2").inner_text().strip()
        assert section.locator("p.reading").inner_text().strip()
        charts = section.locator("div.chart svg.main-svg").count()
        notes = section.locator("p.note").count()
        assert charts or notes, f"{key}: neither a chart nor a note"
        if charts:
            assert section.locator("table.numbers tbody tr").count() > 0, key
    assert page.evaluate("document.documentElement.lang") == "en"
    screenshot("all-views")
    page.set_viewport_size({"width": 800, "height": 900})  # a wide table scrolls inside its section, not the page
    page.wait_for_timeout(500)  # Plotly redraws responsive charts after a debounced resize
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    for key in keys:  # the JSON behind each section, now cached, matches the API's declared model
        answer = page.request.get(f"{base}/api/views/{key}")
        body = ViewResponse.model_validate(answer.json())
        assert body.cached and body.key == key


def test_filter_change_and_language(page, screenshot, serve_app) -> None:
    base = serve_app(subset(*QUICK))
    page.goto(base + "/")
    page.wait_for_selector(READY, timeout=60_000)
    before = numbers(page, "retention")
    assert before

    page.select_option('select[name="criterion"]', "on_or_after")
    page.wait_for_selector(READY, timeout=60_000)
    after = numbers(page, "retention")
    assert after != before  # on-or-after counts every user who came back later too
    assert "criterion=on_or_after" in page.url  # the URL keeps the filters
    screenshot("on-or-after")

    page.select_option('select[name="breakdown"]', "campaign")
    page.wait_for_selector(READY, timeout=60_000)
    assert numbers(page, "stickiness") != ""
    assert "breakdown=campaign" in page.url

    titles_en = page.locator("section.view h2").all_inner_texts()
    page.select_option('select[name="lang"]', "zh")
    page.wait_for_selector(READY, timeout=60_000)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    titles_zh = page.locator("section.view h2").all_inner_texts()
    assert all(zh != en for zh, en in zip(titles_zh, titles_en, strict=True))
    assert page.inner_text('label:has(select[name="period"]) span') == "周期"
    screenshot("zh")

    # A shared link reproduces the view: same filters, same numbers.
    shared = page.url
    page.goto(shared)
    page.wait_for_selector(READY, timeout=60_000)
    assert page.input_value('select[name="criterion"]') == "on_or_after"
    assert page.input_value('select[name="lang"]') == "zh"
    assert numbers(page, "retention") == after

    # Choosing a preset brings its criterion along (Mixpanel counts "on or after").
    page.select_option('select[name="criterion"]', "on")
    page.wait_for_selector(READY, timeout=60_000)
    page.select_option('select[name="preset"]', "mixpanel")
    page.wait_for_selector(READY, timeout=60_000)
    assert page.input_value('select[name="criterion"]') == "on_or_after"
    assert "preset=mixpanel" in page.url and "criterion=on_or_after" in page.url


def test_spinner_shows_while_a_request_runs(page, screenshot, serve_app) -> None:
    base = serve_app({"slow": f"{__name__}:slow_view", **subset("stickiness")})
    page.goto(base + "/")
    page.wait_for_selector(READY, timeout=60_000)
    assert page.is_hidden("#spinner")
    page.select_option('select[name="period"]', "week")
    page.wait_for_selector("#spinner", state="visible", timeout=int(SLOW_SECONDS * 1000))
    assert page.get_attribute("body", "data-ready") == "0"
    screenshot("spinner")
    page.wait_for_selector(READY, timeout=60_000)
    assert page.is_hidden("#spinner")
    assert page.inner_text("#view-slow p.reading") == "period week"
    assert page.locator("#view-slow p.note").inner_text() == "no chart"


def test_token_from_the_url(page, serve_app) -> None:
    base = serve_app(subset("stickiness"), token=TOKEN)
    assert page.request.get(base + "/").status == 401  # (a request outside the page: no console error)
    assert page.request.get(base + "/api/meta").status == 401
    page.goto(f"{base}/?token={TOKEN}&period=week")
    page.wait_for_selector(READY, timeout=60_000)
    assert "token" not in page.url and "period=week" in page.url  # moved out of the address bar
    assert page.locator("#view-stickiness svg.main-svg").count() > 0
