"""The read-only web dashboard: a FastAPI app serving the report's views as JSON and one page that draws them.

Endpoints (all ``GET``; nothing writes, and no parameter is SQL or a column expression — each knob is checked
against a closed set of values in :mod:`liuliang.web.service`):

- ``/`` — the dashboard page (a Jinja2 template, its script and styles from ``web/static``, Plotly from the installed
  ``plotly`` package at ``/static/plotly.min.js``: no CDN, so it works on a closed network);
- ``/api/meta`` — the workspace, its data span and the choices of every knob;
- ``/api/views/{key}`` — one view (title, reading, Plotly figure, numbers) for the given knobs;
- ``/openapi.json`` — the schema of the two API endpoints (the interactive ``/docs`` pages load scripts from a CDN,
  so they are off).

Access rules are in :mod:`liuliang.web.security`, caching in :mod:`liuliang.web.cache` and
:mod:`liuliang.web.service`, background warm-up in :mod:`liuliang.web.warmup`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

import anyio.to_thread
import plotly
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from liuliang.errors import WorkspaceError
from liuliang.report.view import LANGS
from liuliang.web.labels import LABELS, view_label
from liuliang.web.models import ErrorResponse, MetaResponse, ViewResponse
from liuliang.web.security import TOKEN_COOKIE, AccessGuard, check_binding
from liuliang.web.service import Dashboard, KnobError, UnknownViewError, view_keys
from liuliang.web.source import DEFAULT_RELEASE_AFTER, WorkspaceLockedError
from liuliang.web.warmup import Warmup, WarmupStep

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
ERRORS = {
    400: {"model": ErrorResponse, "description": "A knob outside its allowed values."},
    404: {"model": ErrorResponse, "description": "No view with this key."},
    503: {"model": ErrorResponse, "description": "Another process is writing the workspace; retry shortly."},
}

Period = Literal["day", "week"]
Criterion = Literal["on", "on_or_after"]
Lang = Literal["en", "zh"]


def create_app(
    workspace_path: str | Path,
    *,
    token: str | None = None,
    warm: bool = False,
    warm_langs: Sequence[str] = ("en", "zh"),
    on_warm: Callable[[WarmupStep], None] | None = None,
    release_after: float | None = DEFAULT_RELEASE_AFTER,
    memory_limit: str | None = None,
    max_entries: int | None = None,
    max_bytes: int | None = None,
) -> FastAPI:
    """The dashboard app for the DuckDB workspace at ``workspace_path`` (opened read-only, lazily).

    Parameters
    ----------
    token:
        When set, every request must carry it (see :mod:`liuliang.web.security`); binding rules are the server's
        (:func:`liuliang.web.server.serve`).
    warm:
        Compute the default views of ``warm_langs`` in a background thread at start-up; ``on_warm`` sees each step.
    release_after:
        Idle seconds after which the read connection is closed so an ingest can take the file (``None``: never).
    memory_limit, max_entries, max_bytes:
        DuckDB memory limit of the reading connection; bounds of the answer cache.
    """
    path = Path(workspace_path)
    if not path.is_file():
        raise WorkspaceError(f"{path}: no workspace here (create one with liuliang ingest or liuliang demo)")
    check_binding("127.0.0.1", token)  # validates the token itself; where to bind is the server's decision
    cache_options = {"max_entries": max_entries, "max_bytes": max_bytes}
    dashboard = Dashboard.open(
        path,
        release_after=release_after,
        memory_limit=memory_limit,
        **{k: v for k, v in cache_options.items() if v is not None},
    )
    templates = Jinja2Templates(directory=HERE / "templates")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warmup = Warmup(dashboard, langs=warm_langs, progress=on_warm).start() if warm else None
        app.state.warmup = warmup
        try:
            yield
        finally:
            if warmup is not None:
                await anyio.to_thread.run_sync(warmup.stop, 60.0)
            dashboard.close()

    app = FastAPI(
        title="liuliang dashboard",
        summary="Read-only retention, activity, revenue and experiment views of one liuliang workspace.",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.dashboard = dashboard
    app.state.warmup = None
    app.add_middleware(AccessGuard, token=token)

    @app.exception_handler(KnobError)
    async def _knob_error(request: Request, exc: KnobError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(UnknownViewError)
    async def _unknown_view(request: Request, exc: UnknownViewError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(WorkspaceLockedError)
    async def _locked(request: Request, exc: WorkspaceLockedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.get("/api/meta", response_model=MetaResponse, responses={503: ERRORS[503]}, tags=["dashboard"])
    def meta() -> MetaResponse:
        """The workspace (time zone, data span, tables), the allowed value of every knob, and the views."""
        return dashboard.meta()

    @app.get(
        "/api/views/{key}",
        response_model=ViewResponse,
        responses=ERRORS,
        tags=["dashboard"],
    )
    def view(
        key: Annotated[str, PathParam(description="A view key from /api/meta, e.g. `retention`.")],
        start: Annotated[dt.date | None, Query(description="First local date (YYYY-MM-DD).")] = None,
        end: Annotated[dt.date | None, Query(description="Last local date (YYYY-MM-DD), also the data end.")] = None,
        breakdown: Annotated[
            str | None,
            Query(description="A column of `users` from /api/meta `breakdowns`; absent: the default; empty: no split."),
        ] = None,
        period: Annotated[Period, Query(description="Cohort and activity bucket.")] = "day",
        criterion: Annotated[Criterion, Query(description="Retention criterion.")] = "on",
        preset: Annotated[str | None, Query(description="posthog | amplitude | mixpanel; empty: liuliang's.")] = None,
        lang: Annotated[Lang, Query(description="Language of titles, readings and labels.")] = "en",
    ) -> Response:
        """One view for the given filters, from the cache when this workspace version has computed it already."""
        spec = dashboard.spec(
            start=start, end=end, breakdown=breakdown, period=period, criterion=criterion, preset=preset, lang=lang
        )
        answer = dashboard.view(key, spec)
        return Response(answer.json_bytes(), media_type="application/json", headers={"Cache-Control": "no-store"})

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(
            PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "private, max-age=86400"}
        )

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request) -> Response:
        lang = request.query_params.get("lang", "en")
        lang = lang if lang in LANGS else "en"
        current = {k: request.query_params.get(k) for k in ("start", "end", "breakdown", "period", "criterion")}
        current["preset"] = request.query_params.get("preset")
        meta_data = dashboard.meta()
        if current["breakdown"] is None:
            current["breakdown"] = meta_data.defaults.breakdown or ""
        response = templates.TemplateResponse(
            request,
            "dashboard.html",
            {
                "lang": lang,
                "html_lang": "zh-CN" if lang == "zh" else "en",
                "t": LABELS[lang],
                "labels": {**LABELS, "views": {k: [view_label(k, "en"), view_label(k, "zh")] for k in view_keys()}},
                "meta": meta_data,
                "views": [(k, view_label(k, lang)) for k in view_keys()],
                "current": current,
                "plotly_version": plotly.__version__,
            },
            headers={"Cache-Control": "no-store"},
        )
        if token is not None and request.query_params.get("token"):
            # The guard has checked it: remember it for the page's <script src> requests.
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    return app
