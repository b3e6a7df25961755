"""``liuliang serve``: the read-only web dashboard over a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from liuliang.cli.common import WorkspaceOpt
from liuliang.cli.info import existing_workspace
from liuliang.web.security import TOKEN_ENV, resolve_token
from liuliang.web.server import DEFAULT_HOST, DEFAULT_PORT, serve


def serve_command(
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but 127.0.0.1/localhost/::1 needs a token.")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    token: Annotated[
        str | None,
        typer.Option(
            help=f"Require this token on every request (prefer ${TOKEN_ENV}: a command line is visible to others).",
            envvar=TOKEN_ENV,
            show_envvar=True,
        ),
    ] = None,
    warm: Annotated[bool, typer.Option("--warm/--no-warm", help="Compute the default views at start-up.")] = True,
) -> None:
    """Serve the report's views as a read-only web dashboard with filters, and a JSON API (schema at /openapi.json)."""
    serve(existing_workspace(workspace), host=host, port=port, token=resolve_token(token), warm=warm)
