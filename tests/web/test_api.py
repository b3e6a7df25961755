"""The dashboard's JSON API through FastAPI's TestClient: meta, views, knob checks, tokens, caching, read-only.

Most tests swap the view registry for the stand-ins in ``stubviews`` (their numbers are recomputed here with plain
DuckDB SQL), so they test the dashboard and not the views; ``test_every_real_view`` runs the real builders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import stubviews
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liuliang.cli.serve import serve_command
from liuliang.errors import LiuliangError
from liuliang.report import view as view_module
from liuliang.warehouse import Workspace
from liuliang.web import create_app, serve
from liuliang.web.models import MetaResponse, ViewResponse
from liuliang.web.security import check_binding, is_loopback, resolve_token

BASE = "http://127.0.0.1"
TOKEN = "t0ken-for-the-tests-0123456789"
QUICK_VIEWS = ("retention", "stickiness", "lifecycle")
KNOBS = {"start", "end", "breakdown", "period", "criterion", "preset", "lang"}


@pytest.fixture
def stub_views(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    registry = stubviews.registry("active", "echo", "missing", "slow")
    monkeypatch.setattr(view_module, "VIEWS", registry)
    stubviews.CALLS.clear()
    return registry


@pytest.fixture
def ws_copy(small_world_workspace: Path, tmp_path: Path) -> Path:
    """A private copy: the tests that ingest or lock it must not disturb the shared one."""
    path = tmp_path / "ws.duckdb"
    shutil.copyfile(small_world_workspace, path)
    return path


@pytest.fixture
def client(stub_views: dict[str, str], small_world_workspace: Path):
    with TestClient(create_app(small_world_workspace, release_after=None), base_url=BASE) as c:
        yield c


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference_active(path: Path, start: dt.date | None, end: dt.date | None, by: str | None) -> dict[str, int]:
    """Distinct active users per group, by hand in DuckDB SQL on the user_day rollup."""
    epoch = dt.date(1970, 1, 1)
    where = []
    if start:
        where.append(f"d.day >= {(start - epoch).days}")
    if end:
        where.append(f"d.day <= {(end - epoch).days}")
    group = f"CAST(u.{by} AS VARCHAR)" if by else "'all'"
    sql = (
        f"SELECT {group} AS g, count(DISTINCT d.user_key) FROM user_day d JOIN users u USING (user_key) "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY g"
    )
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(con.execute(sql).fetchall())


# -- meta -------------------------------------------------------------------------------------------------------
def test_meta_describes_the_workspace(client: TestClient, small_world_workspace: Path) -> None:
    r = client.get("/api/meta")
    assert r.status_code == 200
    meta = MetaResponse.model_validate(r.json())
    assert meta.tz == "Asia/Shanghai"
    assert meta.users == 3000
    assert meta.breakdowns == ["channel", "campaign"]  # labels only: no keys, times or amounts
    assert meta.presets == ["posthog", "amplitude", "mixpanel"]
    assert meta.preset_criteria == {"posthog": "on", "amplitude": "on", "mixpanel": "on_or_after"}
    assert [v.key for v in meta.views] == ["active", "echo", "missing", "slow"]
    assert meta.defaults.breakdown == "channel"
    with duckdb.connect(str(small_world_workspace), read_only=True) as con:
        rows = dict(con.execute("SELECT table_name, estimated_size FROM duckdb_tables()").fetchall())
        first, last, version = con.execute(
            "SELECT min(day), max(day), (SELECT max(ingest_id) FROM ingests) FROM user_day"
        ).fetchone()
    counts = {t.name: t.rows for t in meta.tables}
    assert counts["events"] == rows["events"] and counts["users"] == 3000
    assert meta.first_date == dt.date(1970, 1, 1) + dt.timedelta(days=first)
    assert meta.last_date == dt.date(1970, 1, 1) + dt.timedelta(days=last)
    assert meta.workspace_version == version


# -- views ------------------------------------------------------------------------------------------------------
def test_view_numbers_follow_the_knobs(client: TestClient, small_world_workspace: Path) -> None:
    cases = [
        ({}, None, None, "channel"),
        ({"breakdown": ""}, None, None, None),
        ({"breakdown": "campaign", "start": "2026-02-01", "end": "2026-02-28"}, "2026-02-01", "2026-02-28", "campaign"),
    ]
    for params, start, end, by in cases:
        r = client.get("/api/views/active", params=params)
        assert r.status_code == 200, r.text
        body = ViewResponse.model_validate(r.json())
        got = {row[0]: row[1] for row in body.rows}
        s = dt.date.fromisoformat(start) if start else None
        e = dt.date.fromisoformat(end) if end else None
        assert got == reference_active(small_world_workspace, s, e, by)
        assert body.spec.breakdown == by
        assert body.figure is not None and body.figure["data"][0]["type"] == "bar"
        assert body.columns == ["group", "users", "user_days"]
    assert len({tuple(map(tuple, client.get("/api/views/active", params=p).json()["rows"])) for p, *_ in cases}) == 3


def test_knobs_reach_the_builder_normalised(client: TestClient) -> None:
    params = {"start": "2026-02-01", "period": "week", "criterion": "on_or_after", "preset": "mixpanel", "lang": "zh"}
    body = client.get("/api/views/echo", params=params).json()
    row = dict(zip(body["columns"], body["rows"][0], strict=True))
    assert row["start"] == "2026-02-01" and row["end"] is None
    assert row["breakdown"] == "channel"  # absent: the default split
    assert (row["period"], row["criterion"], row["preset"], row["lang"]) == ("week", "on_or_after", "mixpanel", "zh")
    assert row["nan"] is None  # NaN is not JSON: sent as null
    assert row["when"] == "2026-01-01"
    assert body["reading"] == "参数。"
    assert body["spec"] == {**params, "end": None, "breakdown": "channel"}
    assert client.get("/api/views/echo", params={"preset": ""}).json()["spec"]["preset"] is None


def test_a_view_without_data_answers_with_a_note(client: TestClient) -> None:
    body = client.get("/api/views/missing").json()
    assert body["figure"] is None and body["note"] == "no experiments in this workspace"
    assert body["reading"] == "Not available."


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"breakdown": "user_key"}, 400, "breakdown must be a column of users: one of channel, campaign"),
        ({"breakdown": "acquisition_cost"}, 400, "one of channel, campaign"),
        ({"breakdown": "channel; DROP TABLE users"}, 400, "breakdown must be"),
        ({"breakdown": "upper(channel)"}, 400, "breakdown must be"),
        ({"preset": "looker"}, 400, "preset must be one of posthog, amplitude, mixpanel"),
        ({"start": "2026-03-01", "end": "2026-02-01"}, 400, "start 2026-03-01 is after end 2026-02-01"),
        ({"period": "month"}, 422, "Input should be 'day' or 'week'"),
        ({"criterion": "ever"}, 422, "'on' or 'on_or_after'"),
        ({"lang": "fr"}, 422, "'en' or 'zh'"),
        ({"start": "yesterday"}, 422, "valid date"),
    ],
)
def test_bad_knobs_are_refused_clearly(client: TestClient, params: dict, status: int, words: str) -> None:
    r = client.get("/api/views/active", params=params)
    assert r.status_code == status
    assert words in str(r.json()["detail"])
    assert "active" not in stubviews.CALLS  # refused before any query


def test_unknown_view_is_404(client: TestClient) -> None:
    r = client.get("/api/views/users")
    assert r.status_code == 404
    assert r.json()["detail"].startswith("unknown view 'users'; choose one of active, echo")


def test_page_follows_the_dom_contract(client: TestClient) -> None:
    r = client.get("/", params={"lang": "zh", "period": "week"})
    assert r.status_code == 200
    html = r.text
    assert '<html lang="zh-CN">' in html and '<form id="filters"' in html and 'id="spinner"' in html
    for key in ("active", "echo", "missing", "slow"):
        assert f'<section class="view" id="view-{key}" data-view="{key}">' in html
        assert f'<div class="chart" id="chart-{key}">' in html
    for name in KNOBS:
        assert f'name="{name}"' in html
    assert '<option value="week" data-label="week" selected>' in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert client.get("/static/plotly.min.js").text.startswith("/**")
    assert "Plotly.react" in client.get("/static/dashboard.js").text


# -- the API is read-only and takes no SQL ---------------------------------------------------------------------
def test_openapi_lists_the_endpoints_and_every_field(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/api/meta", "/api/views/{key}"}
    for path, item in schema["paths"].items():
        assert set(item) == {"get"}, path  # nothing but reads
    params = {p["name"] for p in schema["paths"]["/api/views/{key}"]["get"]["parameters"]}
    assert params == KNOBS | {"key"}  # no sql, no expression, no column list
    view_fields = set(schema["components"]["schemas"]["ViewResponse"]["properties"])
    body = client.get("/api/views/active").json()
    assert set(body) == view_fields
    meta_fields = set(schema["components"]["schemas"]["MetaResponse"]["properties"])
    assert set(client.get("/api/meta").json()) == meta_fields
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_every_route_only_reads(stub_views: dict[str, str], small_world_workspace: Path) -> None:
    app = create_app(small_world_workspace)
    for route in app.routes:
        methods = getattr(route, "methods", None)
        if methods is not None:
            assert methods <= {"GET", "HEAD"}, route.path
    with TestClient(app, base_url=BASE) as c:
        assert c.post("/api/views/active").status_code == 405
        assert c.get("/api/sql", params={"q": "SELECT 1"}).status_code == 404


def test_serving_leaves_the_workspace_file_unchanged(stub_views: dict[str, str], ws_copy: Path) -> None:
    before = sha256(ws_copy)
    with TestClient(create_app(ws_copy), base_url=BASE) as c:
        for params in ({}, {"breakdown": "campaign"}, {"period": "week"}):
            for key in stub_views:
                assert c.get(f"/api/views/{key}", params=params).status_code == 200
        c.get("/api/meta")
        with c.app.state.dashboard.source.reading() as (ws, _):
            assert ws.read_only
            with pytest.raises(LiuliangError, match="opened read-only; cannot ingest"):
                ws.ingest(ws_copy)
            with pytest.raises(duckdb.Error, match="read-only"):
                ws.engine.raw.execute("CREATE TABLE sneaky (a INT)")
    assert sha256(ws_copy) == before
    assert not ws_copy.with_name(ws_copy.name + ".wal").exists()


def test_read_only_open_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LiuliangError, match="no workspace file to open read-only"):
        Workspace.open(tmp_path / "none.duckdb", read_only=True)
    assert not (tmp_path / "none.duckdb").exists()
    with pytest.raises(LiuliangError, match="no workspace here"):
        create_app(tmp_path / "none.duckdb")


# -- cache ------------------------------------------------------------------------------------------------------
def new_events(path: Path) -> Path:
    """A few events of one new user on the workspace's last day (a new ingest with visible effect)."""
    with duckdb.connect(str(path), read_only=True) as con:
        last = con.execute("SELECT max(ts) FROM events").fetchone()[0]
    ts = [last.replace(tzinfo=dt.UTC) - dt.timedelta(minutes=m) for m in (1, 2, 3)]
    table = pa.table(
        {
            "event_id": [f"new-{i}" for i in range(3)],
            "user_id": ["u-newcomer"] * 3,
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event": ["app_open"] * 3,
        }
    )
    out = path.with_name("new_events.parquet")
    pq.write_table(table, out)
    return out


def test_cache_hits_then_an_ingest_invalidates(stub_views: dict[str, str], ws_copy: Path) -> None:
    app = create_app(ws_copy, release_after=None)
    with TestClient(app, base_url=BASE) as c:
        params = {"breakdown": ""}
        first = c.get("/api/views/active", params=params).json()
        second = c.get("/api/views/active", params=params).json()
        assert (first["cached"], second["cached"]) == (False, True)
        assert stubviews.CALLS["active"] == 1
        assert {k: v for k, v in first.items() if k != "cached"} == {k: v for k, v in second.items() if k != "cached"}
        other = c.get("/api/views/active", params={**params, "lang": "zh"}).json()
        assert other["cached"] is False  # another knob set is another answer

        # While a writer holds the file, cached answers still come; uncached ones get a clear 503.
        c.app.state.dashboard.source.release()
        extra = new_events(ws_copy)
        writer = Workspace.open(ws_copy)
        try:
            assert c.get("/api/views/active", params=params).json()["cached"] is True
            busy = c.get("/api/views/active", params={"breakdown": "campaign"})
            assert busy.status_code == 503 and "being written by another process" in busy.json()["detail"]
            report = writer.ingest(extra)
            assert report.added == 3
        finally:
            writer.close()

        third = c.get("/api/views/active", params=params).json()
        assert third["cached"] is False
        assert third["workspace_version"] == first["workspace_version"] + 1
        assert third["rows"][0][1] == first["rows"][0][1] + 1  # the newcomer is counted
        assert c.get("/api/meta").json()["workspace_version"] == third["workspace_version"]
        assert len(c.app.state.dashboard.cache) == 1  # the old version's answers are gone


def test_idle_connection_is_released_for_writers(stub_views: dict[str, str], ws_copy: Path) -> None:
    with TestClient(create_app(ws_copy, release_after=0.2), base_url=BASE) as c:
        assert c.get("/api/views/echo").status_code == 200
        time.sleep(0.5)
        with Workspace.open(ws_copy):  # would fail with a lock/configuration error if the reader still held it
            pass
        assert c.get("/api/views/echo").json()["cached"] is True


def test_warmup_fills_the_cache(stub_views: dict[str, str], small_world_workspace: Path) -> None:
    steps = []
    app = create_app(small_world_workspace, warm=True, warm_langs=("en", "zh"), on_warm=steps.append)
    with TestClient(app, base_url=BASE) as c:
        assert app.state.warmup.done.wait(30)
        assert [(s.key, s.lang) for s in steps[1:]] == [(k, lang) for lang in ("en", "zh") for k in stub_views]
        assert steps[0].index == 0 and steps[-1].index == steps[-1].total == 8
        for key in stub_views:
            assert c.get(f"/api/views/{key}").json()["cached"] is True
            assert c.get(f"/api/views/{key}", params={"lang": "zh"}).json()["cached"] is True


# -- access rules -----------------------------------------------------------------------------------------------
def test_token_is_required_on_every_request(stub_views: dict[str, str], small_world_workspace: Path) -> None:
    with TestClient(create_app(small_world_workspace, token=TOKEN), base_url="http://10.1.2.3:8765") as c:
        for url in ("/", "/api/meta", "/api/views/echo", "/openapi.json", "/static/plotly.min.js"):
            r = c.get(url)
            assert r.status_code == 401, url
            assert "needs its token" in r.json()["detail"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/api/meta", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        assert c.get("/api/meta", params={"token": TOKEN[:-1]}).status_code == 401
        assert c.get("/api/meta", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/api/views/echo", params={"token": TOKEN}).status_code == 200
        page = c.get("/", params={"token": TOKEN})
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        # the cookie from the page lets its <script src> requests through
        assert c.get("/static/dashboard.js").status_code == 200


def test_without_token_only_loopback_host_headers(client: TestClient) -> None:
    assert client.get("/api/meta").status_code == 200
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
        assert client.get("/api/meta", headers={"host": host}).status_code == 200, host
    r = client.get("/api/meta", headers={"host": "attacker.example:8765"})
    assert r.status_code == 400 and "only to localhost" in r.json()["detail"]
    assert client.get("/").headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_binding_rules() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_binding(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.5", "dashboard.example.com"):
        assert not is_loopback(host)
        with pytest.raises(LiuliangError, match=f"refusing to serve on {host} without a token"):
            check_binding(host, None)
        check_binding(host, TOKEN)
    with pytest.raises(LiuliangError, match="use at least 16"):
        check_binding("0.0.0.0", "short")
    assert resolve_token(None, {"LIULIANG_TOKEN": " abc "}) == "abc"
    assert resolve_token("cli", {"LIULIANG_TOKEN": "env"}) == "cli"
    assert resolve_token(None, {"LIULIANG_TOKEN": ""}) is None


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve_command)
    return app


def test_cli_refuses_a_public_host_without_token(small_world_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIULIANG_TOKEN", raising=False)
    ran = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: ran.append(k))
    result = CliRunner().invoke(cli(), ["--workspace", str(small_world_workspace), "--host", "0.0.0.0"])
    assert isinstance(result.exception, LiuliangError)
    assert "refusing to serve on 0.0.0.0 without a token" in str(result.exception)
    assert ran == []
    monkeypatch.setenv("LIULIANG_TOKEN", TOKEN)
    args = ["--workspace", str(small_world_workspace), "--host", "0.0.0.0", "--port", "9999", "--no-warm"]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    assert ran == [{"host": "0.0.0.0", "port": 9999, "log_config": None, "access_log": True}]


def test_serve_runs_uvicorn_on_loopback(small_world_workspace: Path) -> None:
    calls = []
    serve(small_world_workspace, port=8799, warm=False, run=lambda app, **kw: calls.append((app, kw)))
    ((app, kw),) = calls
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8799
    assert {r.path for r in app.routes} >= {"/", "/api/meta", "/api/views/{key}"}


# -- the real views ---------------------------------------------------------------------------------------------
def _available(key: str) -> bool:
    module = view_module.VIEWS[key].split(":")[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def real_client(small_world_workspace: Path):
    with TestClient(create_app(small_world_workspace, release_after=None), base_url=BASE) as c:
        yield c


@pytest.mark.parametrize("key", QUICK_VIEWS)
def test_real_views(real_client: TestClient, key: str) -> None:
    """The quick real views through the API, in both languages; all ten are checked (response model included) in
    tests/browser/test_dashboard_browser.py, which pays for the model views' seconds once."""
    if not _available(key):
        pytest.skip(f"the {key} view's builder module is not written yet")
    r = real_client.get(f"/api/views/{key}")
    assert r.status_code == 200, r.text
    body = ViewResponse.model_validate(r.json())
    assert body.key == key and body.title and body.reading
    assert body.figure is not None or body.note
    assert real_client.get(f"/api/views/{key}").json()["cached"] is True
    zh = real_client.get(f"/api/views/{key}", params={"lang": "zh"}).json()
    assert zh["title"] != body.title and zh["rows"] == body.rows  # translated, same numbers
