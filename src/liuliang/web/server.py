"""Running the dashboard: the binding rule first, then uvicorn, with warm-up progress drawn by Rich.

Uvicorn's own log lines go through the same Rich console as the progress bar (a ``RichHandler``), so a request
logged during the warm-up prints above the bar instead of tearing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from liuliang.web.app import create_app
from liuliang.web.security import check_binding, is_loopback
from liuliang.web.warmup import WarmupStep

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def page_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "<this machine's address>"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


class WarmupProgress:
    """A Rich progress bar fed by :class:`~liuliang.web.warmup.WarmupStep` callbacks from the warm-up thread."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("warming views"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task: Any = None

    def __call__(self, step: WarmupStep) -> None:
        if step.index == 0:
            self.bar.start()
            self.task = self.bar.add_task("", total=step.total)
            return
        label = f"{step.key} ({step.lang}) {step.seconds:.1f}s"
        if step.error:
            self.console.print(f"[yellow]warm-up: {step.key} ({step.lang}) failed: {step.error}")
        self.bar.update(self.task, completed=step.index, description=label)
        if step.index == step.total:
            self.bar.stop()
            self.console.print(f"[green]all {step.total} default views are warm")


def serve(
    workspace: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    warm: bool = True,
    console: Console | None = None,
    run: Callable[..., None] | None = None,
) -> None:
    """Check the binding rule, build the app and run uvicorn until interrupted (``run`` replaces ``uvicorn.run``)."""
    check_binding(host, token)
    console = console or Console(stderr=True)
    app = create_app(workspace, token=token, warm=warm, on_warm=WarmupProgress(console) if warm else None)
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # only uvicorn's: the root logger is the caller's
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
    scope = "this machine only" if is_loopback(host) else "the network, token required"
    console.print(f"liuliang dashboard on {page_url(host, port, token)}  ({scope}; Ctrl-C stops)")
    if run is None:
        import uvicorn

        run = uvicorn.run
    run(app, host=host, port=port, log_config=None, access_log=True)
