"""The JSON API's response shapes, as pydantic models so ``/openapi.json`` describes every field a client reads."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class Knobs(BaseModel):
    """The normalised filters a view was computed with (what the cache keys on)."""

    start: dt.date | None = Field(None, description="First local date of the cohorts/days shown; null: data start.")
    end: dt.date | None = Field(
        None, description="Last local date shown, also the analysis' data_end; null: last event."
    )
    breakdown: str | None = Field(None, description="Column of `users` the view is split by; null: no split.")
    period: Literal["day", "week"] = Field("day", description="Cohort and activity bucket.")
    criterion: Literal["on", "on_or_after"] = Field("on", description="Retention criterion.")
    preset: str | None = Field(
        None, description="Retention defaults of posthog | amplitude | mixpanel; null: liuliang."
    )
    lang: Literal["en", "zh"] = Field("en", description="Language of titles, readings and chart labels.")


class ViewResponse(BaseModel):
    """One view: what :meth:`liuliang.report.view.View.to_dict` gives, plus where the answer came from."""

    key: str = Field(description="View key, e.g. `retention`.")
    title: str
    reading: str = Field(description="One plain-language sentence computed from the numbers.")
    note: str | None = Field(None, description="Why there is no chart (e.g. no experiment in the workspace).")
    figure: dict[str, Any] | None = Field(None, description="Plotly figure JSON (`data`, `layout`), or null.")
    columns: list[str] = Field(description="Column names of the view's numbers.")
    rows: list[list[Any]] = Field(description="The numbers the chart shows, one list per row (first 200; ISO dates).")
    total_rows: int = Field(description="Rows in the view's full table (``rows`` holds at most the first 200).")
    spec: Knobs
    workspace_version: int = Field(description="Id of the last committed ingest the answer was computed on.")
    cached: bool = Field(description="True when answered from the cache without querying the warehouse.")
    build_ms: float = Field(description="Milliseconds the view took to compute (when it was computed).")


class TableCount(BaseModel):
    name: str
    rows: int


class ViewLabel(BaseModel):
    key: str
    title: str = Field(description="Label in English (the built view carries its own, computed title).")
    title_zh: str = Field(description="Label in Chinese.")


class MetaResponse(BaseModel):
    """What the dashboard's filter bar needs: the workspace, its data span and the choices for each knob."""

    workspace: str = Field(description="File name of the workspace.")
    workspace_version: int = Field(description="Id of the last committed ingest.")
    tz: str = Field(description="Reporting time zone; every date is a local date in it.")
    week_start: str
    first_date: dt.date | None = Field(None, description="Local date of the first event.")
    last_date: dt.date | None = Field(None, description="Local date of the last event.")
    users: int
    tables: list[TableCount]
    breakdowns: list[str] = Field(description="Columns of `users` a view may be split by.")
    presets: list[str]
    preset_criteria: dict[str, str] = Field(
        default_factory=dict,
        description="Each preset's retention criterion; choosing a preset in the page sets the criterion to it.",
    )
    periods: list[str]
    criteria: list[str]
    langs: list[str]
    views: list[ViewLabel]
    defaults: Knobs


class ErrorResponse(BaseModel):
    detail: str = Field(description="What was wrong, and the allowed values where there is a choice.")
