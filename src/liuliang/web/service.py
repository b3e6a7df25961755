"""What the dashboard answers, apart from HTTP: validated knobs in, cached encoded views and workspace facts out.

Everything a request may change is a knob checked here against a closed set (a breakdown must be an existing
column of ``users``, a preset one of the known presets), so no request can put its own SQL or column expression
into a query. Answers are cached per (workspace version, view, knobs) in :class:`~liuliang.web.cache.ViewCache`;
a cached answer is served after a file-system stat, without the warehouse lock, so a long computation for one
reader never delays another reader's cached view.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis.expr.datatypes as idt

from liuliang.errors import LiuliangError
from liuliang.metrics.retention.presets import PRESETS
from liuliang.report import view as view_module
from liuliang.report.view import CRITERIA, LANGS, PERIODS, View, ViewSpec
from liuliang.warehouse import Workspace
from liuliang.warehouse import tables as T
from liuliang.warehouse.periods import date_of_day
from liuliang.web.cache import CachedView, CacheKey, ViewCache
from liuliang.web.labels import view_label
from liuliang.web.models import Knobs, MetaResponse, TableCount, ViewLabel
from liuliang.web.source import WorkspaceLockedError, WorkspaceSource

#: Rows of a view's table sent to the page (the report shows the same first 200).
MAX_ROWS = 200


class KnobError(LiuliangError):
    """A filter value outside its allowed set (answered with HTTP 400)."""


class UnknownViewError(LiuliangError):
    """No view has this key (answered with HTTP 404)."""


@dataclass(frozen=True)
class Answer:
    """An encoded view and where it came from."""

    body: bytes
    version: int
    cached: bool
    build_ms: float

    def json_bytes(self) -> bytes:
        """The response body: the cached JSON object with the per-response fields spliced in."""
        tail = f',"workspace_version":{self.version},"cached":{"true" if self.cached else "false"},'
        tail += f'"build_ms":{self.build_ms:.1f}}}'
        return self.body[:-1] + tail.encode()


def view_keys() -> list[str]:
    """The registered views, in report order (read at call time: tests may swap the registry)."""
    return list(view_module.VIEWS)


class Dashboard:
    """The read-only dashboard's state: one :class:`WorkspaceSource`, one :class:`ViewCache`, the meta per version."""

    def __init__(self, source: WorkspaceSource, cache: ViewCache | None = None) -> None:
        self.source = source
        self.cache = cache or ViewCache()
        self._meta: tuple[int, MetaResponse] | None = None

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> Dashboard:
        cache_options = {k: options.pop(k) for k in ("max_entries", "max_bytes") if k in options}
        return cls(WorkspaceSource(path, **options), ViewCache(**cache_options))

    # -- workspace facts -----------------------------------------------------------------------------------
    def meta(self) -> MetaResponse:
        version = self.source.known_version()
        if self._meta is not None and self._meta[0] == version:
            return self._meta[1]
        try:
            with self.source.reading() as (ws, version):
                if self._meta is None or self._meta[0] != version:
                    self._meta = (version, _build_meta(ws, version, self.source.path))
                return self._meta[1]
        except WorkspaceLockedError:
            if self._meta is not None and self._meta[0] == self.source.last_version:
                return self._meta[1]
            raise

    # -- knobs ---------------------------------------------------------------------------------------------
    def spec(
        self,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        breakdown: str | None = None,
        period: str = "day",
        criterion: str = "on",
        preset: str | None = None,
        lang: str = "en",
    ) -> ViewSpec:
        """A :class:`ViewSpec` from request values. ``breakdown``: ``None`` means the default split, ``""`` none."""
        meta = self.meta()
        if breakdown is None:
            breakdown = meta.defaults.breakdown
        elif breakdown == "":
            breakdown = None
        elif breakdown not in meta.breakdowns:
            choices = ", ".join(meta.breakdowns) or "(the workspace has no users table)"
            raise KnobError(f"breakdown must be a column of users: one of {choices}; got {breakdown!r}")
        preset = preset or None
        if preset is not None and preset not in PRESETS:
            raise KnobError(f"preset must be one of {', '.join(PRESETS)} (or empty for liuliang's); got {preset!r}")
        try:
            return ViewSpec(start, end, breakdown, period, criterion, preset, lang)  # type: ignore[arg-type]
        except LiuliangError as exc:
            raise KnobError(str(exc)) from None

    def default_spec(self, lang: str = "en") -> ViewSpec:
        return self.spec(lang=lang)

    # -- views ---------------------------------------------------------------------------------------------
    def view(self, key: str, spec: ViewSpec) -> Answer:
        """The view's encoded answer: from the cache if this version already has it, else built (and cached)."""
        if key not in view_module.VIEWS:
            raise UnknownViewError(f"unknown view {key!r}; choose one of {', '.join(view_keys())}")
        version = self.source.known_version()
        if version is not None:
            hit = self.cache.get(CacheKey(version, key, spec))
            if hit is not None:
                return Answer(hit.body, version, True, hit.build_ms)
        try:
            with self.source.reading() as (ws, version):
                self.cache.retain_version(version)
                cache_key = CacheKey(version, key, spec)
                hit = self.cache.get(cache_key)  # another request may have built it while this one waited
                if hit is not None:
                    return Answer(hit.body, version, True, hit.build_ms)
                t0 = time.perf_counter()
                built = view_module.build_view(ws, key, spec)
                body = encode_view(built, spec)
                build_ms = 1000 * (time.perf_counter() - t0)
                self.cache.put(cache_key, CachedView(body, build_ms))
                return Answer(body, version, False, build_ms)
        except WorkspaceLockedError:
            last = self.source.last_version
            hit = None if last is None else self.cache.get(CacheKey(last, key, spec))
            if hit is None:
                raise
            return Answer(hit.body, last, True, hit.build_ms)

    def close(self) -> None:
        self.source.close()


def encode_view(view: View, spec: ViewSpec) -> bytes:
    """The view as strict JSON (NaN and infinities become null: browsers' JSON.parse rejects them)."""
    data = view.to_dict()
    data["rows"] = data["rows"][:MAX_ROWS]
    data["total_rows"] = 0 if view.table is None else view.table.num_rows
    data["spec"] = knobs_of(spec).model_dump(mode="json")
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    return text.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def knobs_of(spec: ViewSpec) -> Knobs:
    return Knobs(
        start=spec.start,
        end=spec.end,
        breakdown=spec.breakdown,
        period=spec.period,
        criterion=spec.criterion,
        preset=spec.preset,
        lang=spec.lang,
    )


def breakdown_columns(ws: Workspace) -> list[str]:
    """Columns of ``users`` a view can split by: labels (text, flags, whole numbers), not keys, times or amounts."""
    if not ws.has_table(T.USERS):
        return []
    schema = ws.table(T.USERS).schema()
    return [
        name
        for name, dtype in schema.items()
        if not name.startswith("_") and name != "user_key" and isinstance(dtype, idt.String | idt.Boolean | idt.Integer)
    ]


def _build_meta(ws: Workspace, version: int, path: Path) -> MetaResponse:
    info = ws.info()
    span = ws.event_span()
    breakdowns = breakdown_columns(ws)
    default_breakdown = ViewSpec().breakdown if ViewSpec().breakdown in breakdowns else None
    return MetaResponse(
        workspace=path.name,
        workspace_version=version,
        tz=ws.settings.tz,
        week_start=ws.settings.week_start,
        first_date=date_of_day(span.first_day) if span else None,
        last_date=date_of_day(span.last_day) if span else None,
        users=info.users,
        tables=[TableCount(name=t.name, rows=t.rows) for t in info.tables],
        breakdowns=breakdowns,
        presets=list(PRESETS),
        preset_criteria={name: make().criterion for name, make in PRESETS.items()},
        periods=list(PERIODS),
        criteria=list(CRITERIA),
        langs=list(LANGS),
        views=[ViewLabel(key=k, title=view_label(k, "en"), title_zh=view_label(k, "zh")) for k in view_keys()],
        defaults=Knobs(breakdown=default_breakdown),
    )
