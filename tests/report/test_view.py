"""The view base: knobs are validated where they enter, and one failing view becomes a note, not a broken report."""

from __future__ import annotations

import datetime as dt
import json

import plotly.graph_objects as go
import pyarrow as pa
import pytest

from liuliang.errors import LiuliangError
from liuliang.report import view as view_module
from liuliang.report.view import View, ViewSpec, build_view, build_views


def test_spec_rejects_bad_knobs() -> None:
    with pytest.raises(LiuliangError, match="lang"):
        ViewSpec(lang="fr")  # type: ignore[arg-type]
    with pytest.raises(LiuliangError, match="period"):
        ViewSpec(period="hour")  # type: ignore[arg-type]
    with pytest.raises(LiuliangError, match="criterion"):
        ViewSpec(criterion="streak")  # type: ignore[arg-type]
    with pytest.raises(LiuliangError, match="after end"):
        ViewSpec(start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 1))


def test_data_end_is_local_midnight_after_end() -> None:
    end = ViewSpec(end=dt.date(2026, 3, 1)).data_end("Asia/Shanghai")
    assert end is not None
    assert end.astimezone(dt.UTC).replace(tzinfo=None) == dt.datetime(2026, 3, 1, 16, 0)
    assert ViewSpec().data_end("Asia/Shanghai") is None


def test_view_serialises_figure_and_table() -> None:
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    table = pa.table({"day": [dt.date(2026, 3, 1)], "rate": [float("nan")]})
    v = View("x", "T <b>", "One & only.", fig, table)
    d = json.loads(json.dumps(v.to_dict()))
    assert d["columns"] == ["day", "rate"] and d["rows"] == [["2026-03-01", None]]
    assert d["figure"]["data"][0]["y"] == [1, 2]
    assert "T &lt;b&gt;" in v._repr_html_()


def _fails(ws, spec):
    raise LiuliangError("no assignments table in this workspace")


def _works(ws, spec):
    return View("ok", "ok", view_module.pick(spec.lang, "fine", "好"))


def test_a_failing_view_becomes_a_note(monkeypatch) -> None:
    monkeypatch.setattr(view_module, "VIEWS", {"bad": f"{__name__}:_fails", "ok": f"{__name__}:_works"}, raising=True)
    bad, ok = build_views(None, ViewSpec(lang="zh"))  # type: ignore[arg-type]
    assert bad.figure is None and "assignments" in (bad.note or "") and bad.reading == "暂无数据。"
    assert ok.reading == "好"
    with pytest.raises(LiuliangError, match="unknown view"):
        build_view(None, "nope")  # type: ignore[arg-type]
