"""Data from files the user does not control is escaped, and rendering never fetches anything.

A real HTTP server on 127.0.0.1 counts requests: hostile category values and column names in
the input, and a hostile brand stylesheet, must not reach it.
"""

from __future__ import annotations

import http.server
import threading

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


def test_a_brand_stylesheet_cannot_reach_the_network(server):
    from reportgen.report.render import render_from

    port, hits = server
    base = report_runs.rendered("sample")
    folder = report_runs.copy_run(base, "hostile-brand")
    brand = report_runs.tmp_dir("hostile-brand-theme")
    (brand / "brand.toml").write_text(
        'name = "Hostile"\nprimary = "#123456"\naccent = "#654321"\n', encoding="utf-8"
    )
    (brand / "style.css").write_text(
        f"body {{ background: url(http://127.0.0.1:{port}/css.png); }}\n"
        "h1 { background: url(file:///etc/passwd); }\n",
        encoding="utf-8",
    )
    with report_runs.capture_warnings():
        result = render_from(folder, load_config(), brand=str(brand))
    assert hits == []
    assert any(url.startswith("http://127.0.0.1") for url in result.refused)
    assert any(url.startswith("file:///etc/passwd") for url in result.refused)


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
