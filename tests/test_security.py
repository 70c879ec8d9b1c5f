"""Data from files the user does not control is escaped, and rendering never fetches anything.

A real HTTP server on 127.0.0.1 counts requests: hostile category values and column names in
the input, and a hostile brand stylesheet, must not reach it.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pandas as pd
import pytest
import report_runs
from bs4 import BeautifulSoup
from pypdf import PdfReader

from reportgen.config import load_config
from reportgen.errors import InputError
from reportgen.report.pdf import LocalFetcher, RefusedURL


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = type("Counter", (_Counter,), {"hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], handler.hits
    httpd.shutdown()
    httpd.server_close()


def test_the_server_counts_requests(server):
    """The counter works, so 'zero requests' below means something."""
    import urllib.request

    port, hits = server
    before = len(hits)
    urllib.request.urlopen(f"http://127.0.0.1:{port}/probe", timeout=5).read()
    assert len(hits) == before + 1 and hits[-1] == "/probe"
    hits.remove("/probe")


# --------------------------------------------------------------------------- fetcher


def test_fetcher_serves_only_data_and_files_inside_its_roots(tmp_path, server):
    port, hits = server
    root = tmp_path / "theme"
    root.mkdir()
    (root / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    fetcher = LocalFetcher([root])

    response = fetcher.fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"
    response = fetcher.fetch((root / "logo.svg").as_uri())
    assert response.read().startswith(b"<svg") and response.content_type == "image/svg+xml"

    refused = [
        f"http://127.0.0.1:{port}/x",
        f"https://127.0.0.1:{port}/x",
        f"ftp://127.0.0.1:{port}/x",
        outside.as_uri(),
        (root / ".." / "secret.txt").as_uri(),
        "file:///etc/passwd",
        "javascript:alert(1)",
    ]
    for url in refused:
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert fetcher.refused == refused
    assert hits == []


# --------------------------------------------------------------------------- hostile data


@pytest.fixture(scope="module")
def hostile_run(server):
    from reportgen.input.load import load_customers
    from reportgen.output.files import write_files
    from reportgen.pipeline import analyse
    from reportgen.report.render import render_run

    port, hits = server
    img = f'<img src="http://127.0.0.1:{port}/category">'
    script = '<script>alert("x")</script>'
    column = f'<img src="http://127.0.0.1:{port}/column">'
    frame = pd.read_csv(report_runs.data_file("small"), sep="\t", dtype=str)
    frame.loc[frame.index % 5 != 0, "Marital_Status"] = img
    frame.loc[frame.index % 5 != 1, "Education"] = script
    frame[column] = "1"
    folder = report_runs.tmp_dir("hostile")
    source = folder / "hostile.tsv"
    frame.to_csv(source, sep="\t", index=False)
    config = load_config()
    analysis = analyse(load_customers(source, config), config)
    out = folder / "run"
    write_files(analysis, out)
    with report_runs.capture_warnings() as records:
        result = render_run(analysis, out, config)
    return out, result, [r.getMessage() for r in records], hits, img, script, column


def test_hostile_values_trigger_no_request(hostile_run):
    _out, result, warnings, hits, *_ = hostile_run
    assert hits == []
    assert result.refused == []
    assert warnings == []


def test_hostile_values_show_as_text_not_markup(hostile_run):
    out, _result, _w, _hits, img, script, column = hostile_run
    soup = BeautifulSoup((out / "report.html").read_text(encoding="utf-8"), "html.parser")
    assert soup.find_all("script") == []
    for tag in soup.find_all("img"):
        assert tag["src"].startswith("data:")
    for tag in soup.find_all(True):
        for value in tag.attrs.values():
            assert "127.0.0.1" not in str(value), tag.name
    text = soup.get_text()
    assert img in text  # shown, as text, on the persona pages
    assert script in text
    assert column in text  # the extra column's name, in the methodology
    pdf_text = " ".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages)
    assert 'alert("x")' in pdf_text and "<script>" in pdf_text


def test_hostile_values_are_escaped_inside_the_charts(hostile_run):
    out = hostile_run[0]
    for svg in (out / "charts").glob("*.svg"):
        body = svg.read_text(encoding="utf-8")
        assert "<script" not in body and "127.0.0.1" not in body
        assert "<img" not in body


# --------------------------------------------------------------------------- hostile theme


HOSTILE_CSS = """@import url("http://127.0.0.1:{port}/import.css");
@import "other.css";
body {{ background: url(http://127.0.0.1:{port}/css.png) no-repeat; }}
h1 {{ background: url(file:///etc/passwd); }}
h2 {{ background-image: u\\72l(http://127.0.0.1:{port}/escaped.png); }}
h3 {{ background: url('../../../etc/passwd'); }}
h4 {{ background: image-set("own.png" 1x, "http://127.0.0.1:{port}/set.png" 2x); }}
@media print {{ p {{ background: url(//127.0.0.1:{port}/protocol-relative.png) }} }}
@font-face {{ font-family: X; src: url(http://127.0.0.1:{port}/font.woff2) format("woff2"); }}
.own {{ background: url(own.png); }}
"""


def _hostile_brand(port: int):
    brand = report_runs.tmp_dir("hostile-brand-theme")
    (brand / "brand.toml").write_text(
        'name = "Hostile"\nprimary = "#123456"\naccent = "#654321"\n', encoding="utf-8"
    )
    (brand / "own.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"own image")
    (brand / "style.css").write_text(HOSTILE_CSS.format(port=port), encoding="utf-8")
    return brand


def _style_urls(html: str) -> list[str]:
    """Every url() and image-set() string in the report's <style> elements."""
    import tinycss2

    soup = BeautifulSoup(html, "html.parser")
    urls: list[str] = []

    def walk(tokens):
        for t in tokens:
            if t.type == "url":
                urls.append(t.value)
            elif t.type == "function" and t.lower_name == "url":
                urls.extend(a.value for a in t.arguments if a.type == "string")
            elif t.type == "function" and t.lower_name.endswith("image-set"):
                urls.extend(a.value for a in t.arguments if a.type == "string")
            elif t.type == "at-keyword" and t.lower_value == "import":
                urls.append("@import")
            for child in (getattr(t, "content", None), getattr(t, "arguments", None)):
                if child:
                    walk(child)

    for style in soup.find_all("style"):
        walk(tinycss2.parse_component_value_list(style.get_text().replace("<\\/", "</")))
    return urls


def test_a_brand_stylesheet_reaches_nothing_outside_the_brand(server):
    """The brand's own files become data URIs; every other reference is removed from
    report.html with a warning, so neither WeasyPrint nor a browser opening the HTML fetches
    anything (a browser would have fetched what WeasyPrint refused)."""
    from reportgen.report.render import render_from

    port, hits = server
    folder = report_runs.copy_run(report_runs.rendered("sample"), "hostile-brand")
    with report_runs.capture_warnings() as records:
        result = render_from(folder, load_config(), brand=str(_hostile_brand(port)))
    assert hits == [] and result.refused == []
    html = (folder / "report.html").read_text(encoding="utf-8")
    urls = _style_urls(html)
    assert urls and all(u.startswith("data:") or u == "" for u in urls), urls
    own = (
        "data:image/png;base64,"
        + __import__("base64").b64encode(b"\x89PNG\r\n\x1a\n" + b"own image").decode()
    )
    assert urls.count(own) == 2  # url(own.png) and image-set("own.png" 1x)
    warned = " ".join(r.getMessage() for r in records)
    for removed in ("import.css", "css.png", "escaped.png", "etc/passwd", "set.png", "font"):
        assert removed in warned, removed
    assert warned.count("@import") == 2
    assert "127.0.0.1" not in html and "passwd" not in html


def test_a_brand_stylesheet_that_links_elsewhere_is_refused(tmp_path):
    from reportgen.report.brand import load_brand

    (tmp_path / "brand.toml").write_text(
        'name = "x"\nprimary = "#123456"\naccent = "#654321"\n', encoding="utf-8"
    )
    (tmp_path / "style.css").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="style.css 'style.css' must be a file inside the brand"):
        load_brand(tmp_path).stylesheet()


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "folder-symlink"])
def test_a_tampered_chart_index_embeds_no_outside_file(tmp_path, how):
    """render --from reads only the run's own chart files: an index pointing out of the
    folder, or a chart replaced by a link, gets the charts drawn again (with a warning)."""
    import base64
    import json
    import re

    from reportgen.report.render import render_from

    folder = report_runs.copy_run(report_runs.rendered("sample"), f"tampered-{how}")
    secret = tmp_path / "secret.svg"
    secret.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text>TOP SECRET</text></svg>')
    index = json.loads((folder / "charts" / "index.json").read_text())
    first = index["charts"][0]
    if how == "dotdot":
        first["file"] = "charts/../../" + "../" * 12 + str(secret).lstrip("/")
    elif how == "absolute":
        first["file"] = str(secret)
    elif how == "symlink":
        target = folder / first["file"]
        target.unlink()
        target.symlink_to(secret)
    else:
        moved = tmp_path / "charts"
        (folder / "charts").rename(moved)
        (folder / "charts").symlink_to(moved)
        (moved / Path(first["file"]).name).write_bytes(secret.read_bytes())
    (folder / "charts" / "index.json").write_text(json.dumps(index))
    with report_runs.capture_warnings() as records:
        render_from(folder, load_config())
    html = (folder / "report.html").read_text(encoding="utf-8")
    embedded = [
        base64.b64decode(data) for data in re.findall(r"data:[^;,]+;base64,([A-Za-z0-9+/=]+)", html)
    ]
    assert len(embedded) > 10  # the charts are there...
    assert not any(b"TOP SECRET" in data for data in embedded)  # ...but not the secret
    assert "TOP SECRET" not in html
    assert any("not a chart of this run" in r.getMessage() for r in records)


@pytest.mark.parametrize(
    "toml, message",
    [
        ('primary = "red; } body { x: url(http://e/)"\naccent = "#000000"\n', "primary"),
        ('primary = "#000000"\naccent = "#000000"\nlogo = "../../etc/hostname"\n', "logo"),
        ('primary = "#000000"\naccent = "#000000"\nfont_family = "x; } *{"\n', "font_family"),
        ('primary = "#000000"\naccent = "#000000"\nextra = 1\n', "unknown setting"),
    ],
)
def test_brand_values_are_validated(tmp_path, toml, message):
    from reportgen.report.brand import load_brand

    (tmp_path / "brand.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_brand(tmp_path)


def test_templates_autoescape_everything():
    from reportgen.report.templating import environment

    env = environment()
    assert env.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"
    assert env.autoescape("report.html") and env.autoescape("anything.txt")


def test_css_cannot_close_its_style_element(tmp_path):
    """A brand's style.css that tries to close the <style> element (the default CSS has no
    "</" at all, so only a hostile brand can show the escape works)."""
    from reportgen.report.brand import load_brand
    from reportgen.report.render import _css

    (tmp_path / "brand.toml").write_text(
        'name = "hostile"\nprimary = "#112233"\naccent = "#445566"\n', encoding="utf-8"
    )
    (tmp_path / "style.css").write_text(
        "p { color: red; }</style><script>alert(1)</script><style>", encoding="utf-8"
    )
    brand = load_brand(tmp_path)
    assert brand.css_file is not None
    css = str(_css(brand, "A4"))
    assert "alert(1)" in css  # the brand's CSS is there, as text
    assert "</style" not in css.lower() and "</script" not in css.lower()


@pytest.mark.parametrize(
    "payload",
    [
        "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__ }}",
    ],
)
def test_a_hostile_template_cannot_run_code(tmp_path, monkeypatch, payload):
    """User templates render sandboxed: reaching Python internals stops the render with one
    line (exit 2) and runs nothing."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    base = report_runs.rendered("sample")
    folder = report_runs.copy_run(base, "sandbox")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "report.html").write_text(
        '{% extends "default:report.html" %}{% block cover %}' + payload + "{% endblock %}",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["render", "--from", str(folder), "--templates", str(templates), "--quiet"]
    )
    assert result.exit_code == 2, result.output
    assert "SecurityError" in result.output or "UndefinedError" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "PWNED").exists()


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(small_file, tmp_path):
    """OWASP CSV injection: an id such as =HYPERLINK(...) reaches segments.csv (and the
    assign output) as text with a leading apostrophe; ordinary ids and numbers are untouched."""
    import csv

    from click.testing import CliRunner

    from reportgen.cli import cli

    frame = pd.read_csv(small_file, sep="\t", dtype={"ID": str})
    hostile = ['=HYPERLINK("http://x.test","y")', "+1+1", "-2+3", "@SUM(A1)"]
    frame.loc[: len(hostile) - 1, "ID"] = hostile
    data = tmp_path / "hostile.tsv"
    frame.to_csv(data, sep="\t", index=False)
    out = tmp_path / "run"
    args = ["run", "--data", str(data), "--out", str(out), "--no-history", "--no-report"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    scored = tmp_path / "scored.csv"
    args = ["assign", "--model", str(out), "--data", str(data), "--out", str(scored)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    for path in (out / "segments.csv", scored):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        ids = [r["customer_id"] for r in rows]
        assert ids[: len(hostile)] == ["'" + h for h in hostile]
        assert ids[len(hostile) :] == frame["ID"].iloc[len(hostile) :].tolist()
        assert all(not r["distance_to_centroid"].startswith("'") for r in rows)
        float(rows[0]["propensity"])  # numbers stay numbers


@pytest.mark.parametrize("kind", ["string", "large_string"])
def test_every_formula_start_is_neutralised_and_numbers_are_not(kind):
    import pyarrow as pa

    from reportgen.output.files import neutralised

    text = pa.array(["=1", "+1", "-1", "@a", "\tb", "\rc", "ok", None], type=getattr(pa, kind)())
    table = pa.table({"text": text, "n": [-1.5, -2, 0, 1, 2, 3, 4, 5]})
    out = neutralised(table).to_pydict()
    assert out["text"] == ["'=1", "'+1", "'-1", "'@a", "'\tb", "'\rc", "ok", None]
    assert out["n"] == table.column("n").to_pylist()  # negative numbers untouched
