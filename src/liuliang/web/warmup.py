"""Warm-up: compute the default views in the background as soon as the server starts.

"Every view answers in under 300 ms once warm" holds for the model views (decay fits, uplift) only if someone has
paid for them before the first reader arrives; the warm-up is that someone. It runs in one daemon thread, one view
at a time under the warehouse lock, so a reader's own request waits for at most the view being warmed, and it stops
between views when the server shuts down. Progress goes to a callback (the CLI draws a Rich progress bar).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from liuliang.web.service import Dashboard, view_keys


@dataclass(frozen=True)
class WarmupStep:
    """One warmed view: which, in which language, its place in the run and how long it took."""

    key: str
    lang: str
    index: int
    total: int
    seconds: float
    error: str | None = None


class Warmup:
    """Warms ``langs`` x every registered view of ``dashboard`` in a background thread.

    Parameters
    ----------
    dashboard:
        The dashboard whose cache to fill.
    langs:
        Languages to warm, in order (the first is what most readers open).
    progress:
        Called after each view with a :class:`WarmupStep` (also with ``index == 0`` before the first).
    """

    def __init__(
        self,
        dashboard: Dashboard,
        *,
        langs: Sequence[str] = ("en", "zh"),
        progress: Callable[[WarmupStep], None] | None = None,
    ) -> None:
        self.dashboard = dashboard
        self.langs = tuple(langs)
        self.progress = progress
        self.steps: list[WarmupStep] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    def start(self) -> Warmup:
        self._thread = threading.Thread(target=self.run, name="liuliang-warmup", daemon=True)
        self._thread.start()
        return self

    def run(self) -> list[WarmupStep]:
        try:
            keys = view_keys()
            total = len(keys) * len(self.langs)
            if self.progress is not None:
                self.progress(WarmupStep("", "", 0, total, 0.0))
            index = 0
            for lang in self.langs:
                for key in keys:
                    if self._stop.is_set():
                        return self.steps
                    index += 1
                    t0 = time.perf_counter()
                    error = None
                    try:
                        self.dashboard.view(key, self.dashboard.default_spec(lang))
                    except Exception as exc:  # a failing view must not stop the others warming
                        error = f"{type(exc).__name__}: {exc}"
                    step = WarmupStep(key, lang, index, total, time.perf_counter() - t0, error)
                    self.steps.append(step)
                    if self.progress is not None:
                        self.progress(step)
            return self.steps
        finally:
            self.done.set()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop after the view it is computing, and wait up to ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
