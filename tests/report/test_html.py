"""The self-contained report without a browser: the DOM contract, nothing fetched, everything escaped, zh labels.

The page is parsed with the standard library's HTML parser into a small tree, so the checks read elements and
attributes the way a browser would rather than grepping strings. The browser-side checks (charts really draw, no
request leaves file://) are in tests/browser/test_report_browser.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from liuliang.errors import LiuliangError
from liuliang.report import html as report_html
from liuliang.report import view as view_module
from liuliang.report.html import MAX_ROWS, render_report, script_json, write_report
from liuliang.report.view import View, ViewSpec
from liuliang.warehouse import Workspace

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "col", "wbr", "area", "base", "embed", "track"}
EVIL = '<script>alert("x")</script> & </script><!--'


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in (n.attrs.get("class") or "").split())]

    def find(self, tag: str, cls: str | None = None) -> Node | None:
        found = self.find_all(tag, cls)
        return found[0] if found else None

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return
        raise AssertionError(f"stray </{tag}>")

    def handle_data(self, data):
        self.stack[-1].text += data


def parse(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert len(builder.stack) == 1, f"unclosed: {[n.tag for n in builder.stack]}"
    return builder.root


def hand_made_views() -> list[View]:
    heat = go.Figure(go.Heatmap(z=[[0.5, 0.25], [0.4, None]], x=["D0", "D1"], y=["2026-02-01", EVIL]))
    heat.update_layout(title=EVIL)
    curve = go.Figure(go.Scatter(x=[0, 1, 7, 30], y=[1.0, 0.31, 0.17, 0.098], name="红包 channel"))
    table = pa.table(
        {
            "cohort": [dt.date(2026, 2, 1), dt.date(2026, 2, 2)],
            "channel": ["red_packet", EVIL],
            "users": [1204, 7],
            "rate": [0.0987654321, float("nan")],
            "revenue": [123456.789, None],
        }
    )
    long_table = pa.table({"day": list(range(MAX_ROWS + 37)), "dau": [float(i) / 3 for i in range(MAX_ROWS + 37)]})
    return [
        View("retention", f"Retention {EVIL}", f"Of the 1,204 users {EVIL} 9.8% stayed.", heat, table),
        View("retention_curves", "Curves", "The organic channel kept 31%.", curve, long_table, note=f"caveat {EVIL}"),
        View("experiment", "Experiment", "Not available.", None, None, note=f"no assignments table {EVIL}"),
    ]


@pytest.fixture(scope="module")
def page_en() -> str:
    return render_report(
        hand_made_views(), lang="en", generated_at=dt.datetime(2026, 3, 1, 8, 30), spec=ViewSpec(preset="posthog")
    )


@pytest.fixture(scope="module")
def tree_en(page_en: str) -> Node:
    return parse(page_en)


def test_nothing_is_fetched(page_en: str, tree_en: Node) -> None:
    """No element loads anything from anywhere: no src/href/srcset/action to a URL, no <link>, no @import/url()."""
    for node in tree_en.iter():
        for name in ("src", "href", "srcset", "action", "data", "poster"):
            value = node.attrs.get(name)
            if value is not None:
                assert name == "href" and value.startswith("#"), f"<{node.tag} {name}={value!r}> fetches"
    assert not tree_en.find_all("link") and not tree_en.find_all("iframe") and not tree_en.find_all("img")
    style = "".join(s.text for s in tree_en.find_all("style"))
    assert "@import" not in style and "url(" not in style
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page_en.split("<script>", 1)[0])


def test_plotly_is_inlined_once(page_en: str, tree_en: Node) -> None:
    plotly_js = plotly.offline.get_plotlyjs()
    scripts = [s for s in tree_en.find_all("script") if "src" not in s.attrs]
    inline = [s for s in scripts if s.attrs.get("type") is None]
    assert sum(s.text == plotly_js for s in inline) == 1
    assert page_en.count(plotly_js[:2000]) == 1
    assert all(s.attrs.get("type") in (None, "application/json") for s in scripts)


def test_dom_contract(tree_en: Node) -> None:
    html = tree_en.find("html")
    assert html is not None and html.attrs["lang"] == "en"
    sections = tree_en.find_all("section", "view")
    assert [s.attrs["id"] for s in sections] == ["view-retention", "view-retention_curves", "view-experiment"]
    assert [s.attrs["data-view"] for s in sections] == ["retention", "retention_curves", "experiment"]
    for s, v in zip(sections, hand_made_views(), strict=True):
        assert s.find("h2").all_text() == v.title
        assert s.find("p", "reading").all_text() == v.reading
        note = s.find("p", "note")
        assert (note.all_text() if note else None) == v.note
        chart = s.find("div", "chart")
        if v.figure is None:
            assert chart is None
        else:
            assert chart.attrs["id"] == f"chart-{v.key}"
            block = next(n for n in s.find_all("script") if n.attrs.get("id") == chart.attrs["data-figure"])
            assert block.attrs["type"] == "application/json"
            assert json.loads(block.text) == v.figure_json()  # the same figure, every label intact
        table = s.find("table", "numbers")
        assert (table is None) == (v.table is None)
    toc = [a.attrs["href"] for a in tree_en.find("nav", "toc").find_all("a")]
    assert toc == ["#view-retention", "#view-retention_curves", "#view-experiment"]


def test_numbers_table_keeps_exact_values_and_caps_rows(tree_en: Node) -> None:
    first, second, _ = tree_en.find_all("section", "view")
    table = first.find("table", "numbers")
    assert [th.all_text() for th in table.find_all("th")] == ["cohort", "channel", "users", "rate", "revenue"]
    rows = [[td for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    assert [td.all_text() for td in rows[0]] == ["2026-02-01", "red_packet", "1,204", "0.09877", "123,456.79"]
    assert float(rows[0][3].attrs["data-value"]) == 0.0987654321  # exact, whatever the display rounds
    assert float(rows[0][4].attrs["data-value"]) == 123456.789
    assert rows[1][1].all_text() == EVIL and rows[1][3].all_text() == "–" and rows[1][4].all_text() == "–"
    long_rows = second.find("table", "numbers").find("tbody").find_all("tr")
    assert len(long_rows) == MAX_ROWS
    assert f"{MAX_ROWS:,} of {MAX_ROWS + 37:,}" in second.find("p", "rows-shown").all_text()


def test_everything_is_escaped(page_en: str) -> None:
    assert page_en.count("<script>alert") == 0
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;/script&gt;&lt;!--" in page_en
    # Every </script> in the file closes one of the page's own script elements.
    assert page_en.count("</script>") == page_en.count("<script")
    assert "<!--" not in page_en.split("<script>", 1)[0]


def test_script_json_round_trips() -> None:
    text = json.dumps({"a": EVIL, "b": ["<", ">", "&", "\u2028"]})
    safe = str(script_json(text))
    assert not set("<>&") & set(safe)
    assert json.loads(safe) == json.loads(text)


def test_zh_labels_and_fonts() -> None:
    page = render_report(hand_made_views(), lang="zh", generated_at=dt.datetime(2026, 3, 1, 8, 30), spec=ViewSpec())
    tree = parse(page)
    assert tree.find("html").attrs["lang"] == "zh-CN"
    assert tree.find("nav", "toc").find("h2").all_text() == "目录"
    assert tree.find("h1").all_text() == report_html.LABELS["zh"]["title"]
    summary = tree.find_all("section", "view")[1].find("summary").all_text()
    assert summary == f"数据明细 ({MAX_ROWS + 37:,} 行)"
    assert "仅显示前" in tree.find_all("section", "view")[1].find("p", "rows-shown").all_text()
    assert "Noto Sans CJK SC" in tree.find("style").text and "Microsoft YaHei" in tree.find("style").text
    assert 'locale: "zh-CN"' in page and "下载图表为 PNG" in page
    # No English fixed text left in the chrome (the views' own text is the builders' job).
    chrome = tree.find("header").all_text() + tree.find("footer").all_text()
    for en in report_html.LABELS["en"].values():
        if en.isascii() and len(en) > 3 and not en.startswith("{"):
            assert en not in chrome, en
    en_page = parse(render_report(hand_made_views(), lang="en"))
    assert "目录" not in en_page.find("header").all_text()
    with pytest.raises(ValueError, match="lang"):
        render_report([], lang="fr")


def test_header_shows_workspace_span_and_generation_time(small_world_workspace: Path) -> None:
    with Workspace.open(small_world_workspace) as ws:
        info = ws.info()
    page = render_report([], lang="en", generated_at=dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC), workspace_info=info)
    meta = {dt_.all_text(): dd.all_text() for dt_, dd in _pairs(parse(page).find("dl", "meta"))}
    assert meta["Workspace"] == info.location
    assert meta["Time zone"] == "Asia/Shanghai"
    assert meta["Users"] == f"{info.users:,}"
    local = info.first_ts.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert meta["Data"].startswith(f"{local:%Y-%m-%d} – ")
    assert meta["Generated"] == "2026-03-01 08:30:00+00:00"


def _pairs(dl: Node) -> list[tuple[Node, Node]]:
    kids = [c for c in dl.children if c.tag in ("dt", "dd")]
    return list(zip(kids[::2], kids[1::2], strict=True))


# -- write_report and the command, with stand-in builders --------------------------------------------------------
def _retention_stub(ws, spec):
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    return View("retention", view_module.pick(spec.lang, "Retention", "留存"), f"{spec.breakdown}", fig)


def _missing_stub(ws, spec):
    raise LiuliangError("no assignments table in this workspace")


STUBS = {"retention": f"{__name__}:_retention_stub", "experiment": f"{__name__}:_missing_stub"}


@pytest.fixture
def stub_views(monkeypatch):
    monkeypatch.setattr(view_module, "VIEWS", STUBS)
    import liuliang.cli.report as cli_report

    monkeypatch.setattr(cli_report, "VIEWS", STUBS)


def test_write_report_builds_views_with_progress(stub_views, small_world_workspace: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    with Workspace.open(small_world_workspace) as ws:
        path = write_report(ws, tmp_path / "sub" / "r.html", ViewSpec(lang="zh"), seen.append)
    assert seen == ["retention", "experiment"]
    tree = parse(path.read_text(encoding="utf-8"))
    sections = tree.find_all("section", "view")
    assert [s.attrs["data-view"] for s in sections] == ["retention", "experiment"]
    assert sections[0].find("h2").all_text() == "留存" and sections[0].find("div", "chart") is not None
    assert "assignments" in sections[1].find("p", "note").all_text()
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.html"]  # no temporary file left behind


def _cli() -> typer.Typer:
    from liuliang.cli.report import report_command

    app = typer.Typer()
    app.command()(report_command)
    app.command("noop")(lambda: None)  # two commands, so Typer keeps "report" as a subcommand name
    return app


def test_report_command(stub_views, small_world_workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    args = ["report-command", "-w", str(small_world_workspace), "--out", str(out), "--lang", "zh"]
    res = CliRunner().invoke(_cli(), [*args, "--breakdown", "none", "--start", "2026-01-20"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out.resolve())
    tree = parse(out.read_text(encoding="utf-8"))
    assert tree.find("html").attrs["lang"] == "zh-CN"
    assert tree.find("p", "reading").all_text() == "None"  # the stub echoes spec.breakdown: 'none' -> None
    assert "开始 2026-01-20" in tree.find("dl", "meta").all_text()
    bad = CliRunner().invoke(_cli(), [*args, "--preset", "looker"])
    assert bad.exit_code != 0 and isinstance(bad.exception, LiuliangError) and "preset" in str(bad.exception)
    bad_date = CliRunner().invoke(_cli(), [*args, "--end", "March"])
    assert bad_date.exit_code != 0 and "YYYY-MM-DD" in bad_date.output


# -- the real views on the small world -------------------------------------------------
def test_full_report_on_the_small_world(small_world_workspace: Path, tmp_path: Path, lang: str = "zh") -> None:
    """Every real view in order, each with a chart or a note (zh here; the browser tests draw en and zh)."""
    t0 = time.perf_counter()
    with Workspace.open(small_world_workspace) as ws:
        path = write_report(ws, tmp_path / "report.html", ViewSpec(lang=lang))
    seconds = time.perf_counter() - t0
    text = path.read_text(encoding="utf-8")
    tree = parse(text)
    sections = tree.find_all("section", "view")
    assert [s.attrs["data-view"] for s in sections] == list(view_module.VIEWS)
    for s in sections:
        assert s.find("h2").all_text().strip() and s.find("p", "reading").all_text().strip()
        assert s.find("div", "chart") is not None or s.find("p", "note") is not None, s.attrs["id"]
    assert seconds < 60, f"report took {seconds:.1f}s"
