"""Real-browser fixtures: Playwright driving Debian's system Chromium (never a downloaded browser).

Every page a test opens records console errors and uncaught page errors; the ``page`` fixture fails the test if any
appeared, so "loads with no console errors" is checked on every page, not only where a test remembers to. Screenshots
go to ``artifacts/browser/`` (or ``$LIULIANG_ARTIFACTS``) so CI keeps them.

Chromium runs headless with the flags this closed network needs: without the background-networking ones it keeps
trying to reach Google's hosts. Under CI (``CI`` set) a missing Chromium is an error, not a skip: ``.ci/run``
installs it, and a browser suite that silently skips would be a test that cannot fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("LIULIANG_ARTIFACTS", ROOT / "artifacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("system Chromium not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class PageErrors(list):
    """Console errors and uncaught exceptions seen on one page, as readable strings."""


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    """A fresh page (own context) that fails the test on any console error or uncaught page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors = PageErrors()
    pg.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.errors = errors
    yield pg
    context.close()
    if errors and not request.node.get_closest_marker("allow_console_errors"):
        pytest.fail("browser errors:\n" + "\n".join(errors))


@pytest.fixture
def screenshot(page, artifacts_dir, request):
    """``screenshot(name)`` saves a full-page PNG under the artefacts folder and returns its path."""

    def take(name: str) -> Path:
        path = artifacts_dir / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
