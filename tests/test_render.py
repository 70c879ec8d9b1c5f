"""The HTML and PDF report: structure, outline, persona pages, brands, templates, render --from.

Two full runs are rendered once per session (see report_runs.py): the bundled synthetic sample
(always) and the real file from ../shared (skipped when absent). Structural checks parse the
HTML with BeautifulSoup and read the PDF's text, outline and metadata with pypdf; pages are
rasterised with pdftoppm to check none is blank.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
import report_runs
from bs4 import BeautifulSoup
from click.testing import CliRunner
from pypdf import PdfReader

from reportgen.cli import cli
from reportgen.errors import InputError

SECTIONS = [
    "Executive summary",
    "Segment personas",
    "The segments compared",
    "What decides the segments",
    "Who is likely to respond",
    "Methodology",
    "Appendix",
]
GLOBAL_CHARTS = [
    "elbow",
    "silhouette_k",
    "silhouette",
    "pca",
    "heatmap",
    "boxplots",
    "sizes",
    "kpis",
    "shap_bar",
    "shap_beeswarm",
]


@pytest.fixture(scope="module", params=["sample", "real"])
def run(request) -> report_runs.Run:
    return report_runs.rendered(request.param)


def _outline_titles(reader: PdfReader) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                out.append((depth, item.title))

    walk(reader.outline, 1)
    return out


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained(run):
    html = (run.folder / "report.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    assert len(html.encode()) < 5_000_000, "report.html should stay a few MB at most"
    imgs = soup.find_all("img")
    assert len(imgs) >= len(GLOBAL_CHARTS) + 2 * run.analysis.summary.model.k
    for tag in soup.find_all(src=True):
        assert tag["src"].startswith("data:"), tag["src"][:80]
    for tag in soup.find_all(href=True):
        assert tag["href"].startswith("#"), tag["href"]
    assert not soup.find_all("script")
    assert not soup.find_all("link")
    assert not soup.find_all(["iframe", "object", "embed"])
    css = " ".join(s.get_text() for s in soup.find_all("style"))
    assert "url(" not in css.replace("url(#", "")
    assert "@import" not in css
    assert not re.search(r"https?://", css)


def test_html_has_every_chart_with_alt_text(run):
    soup = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    index = report_runs_index(run)
    assert set(GLOBAL_CHARTS) <= set(index)
    for name, info in index.items():
        figure = soup.find(id=f"fig-{name}")
        assert figure is not None, f"chart {name} missing from report.html"
        img = figure.find("img")
        assert img["alt"] == info.alt and len(info.alt) > 40
        assert img["src"].startswith("data:image/svg+xml;base64,")


def test_html_toc_links_every_persona_and_section(run):
    soup = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    toc = soup.find("nav", class_="toc")
    links = {a["href"]: a.get_text(strip=True) for a in toc.find_all("a")}
    for target in links:
        assert soup.find(id=target[1:]) is not None, f"TOC link {target} has no target"
    for name in run.names:
        assert name in links.values()
    for section in SECTIONS:
        assert section in links.values()
    personas = soup.find_all("article", class_="persona")
    assert [a.find("h2").get_text(strip=True) for a in personas] == [
        s.persona.name for s in sorted(run.analysis.summary.segments, key=lambda s: s.id)
    ]


def test_html_reads_on_a_phone(run):
    soup = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    viewport = soup.find("meta", attrs={"name": "viewport"})
    assert viewport and "width=device-width" in viewport["content"]
    screen = soup.find("style", attrs={"media": "screen"})
    assert screen is not None and "@media (max-width" in screen.get_text()


def report_runs_index(run):
    from reportgen.report.figures import read_chart_index

    saved = read_chart_index(run.folder)
    assert saved is not None
    return saved[1]


# --------------------------------------------------------------------------- PDF


def test_pdf_pages_text_and_outline(run):
    reader = PdfReader(run.folder / "report.pdf")
    k = run.analysis.summary.model.k
    assert 4 + k <= len(reader.pages) <= 30
    text = _flat(_text(reader))
    for name in run.names:
        assert name in text
    titles = _outline_titles(reader)
    top = [t for depth, t in titles if depth == 1]
    assert top[: len(SECTIONS)] == SECTIONS
    second = [t for depth, t in titles if depth == 2]
    for name in run.names:
        assert name in second
    assert {"Data quality", "Glossary", "Data dictionary"} <= set(second)


def test_pdf_toc_has_page_numbers_and_running_header_footer(run):
    reader = PdfReader(run.folder / "report.pdf")
    n = len(reader.pages)
    toc = _flat(reader.pages[1].extract_text())
    assert "Contents" in toc
    # each TOC line ends with the page number of its target (leader dots in between)
    first = run.analysis.summary.segments[0]
    persona_page = _page_of(reader, f"Segment {first.id} · {first.size:,} customers")
    assert re.search(re.escape(first.persona.name) + r"[ .]*" + str(persona_page + 1), toc)
    for i in (2, n - 1):
        page = _flat(reader.pages[i].extract_text())
        assert f"Page {i + 1} of {n}" in page
        assert "Confidential" in page  # the default brand's footer
        assert "Customer segment report" in page  # running header


def _page_of(reader: PdfReader, needle: str) -> int:
    for i, page in enumerate(reader.pages):
        if needle in _flat(page.extract_text()):
            return i
    raise AssertionError(f"{needle} on no page")


def test_pdf_metadata_and_embedded_fonts(run):
    reader = PdfReader(run.folder / "report.pdf")
    meta = reader.metadata
    assert meta.title.startswith("Customer segment report")
    assert meta.author == run.config.report.author
    assert meta.subject == run.config.report.subject
    assert meta.get("/CreationDate", "").startswith("D:20")
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4
    fonts = _fonts(reader)
    assert fonts, "no fonts found"
    assert all(embedded for _, embedded in fonts), fonts


def _figure_alts(reader: PdfReader) -> list[str]:
    """The /Alt text of every /Figure in the PDF's structure tree."""
    out, seen = [], set()

    def walk(node):
        node = node.get_object()
        if not isinstance(node, dict) or id(node) in seen:
            return
        seen.add(id(node))
        if node.get("/S") == "/Figure":
            out.append(str(node.get("/Alt", "")))
        kids = node.get("/K")
        for kid in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            if hasattr(kid, "get_object"):
                walk(kid)

    walk(reader.trailer["/Root"]["/StructTreeRoot"])
    return out


def test_the_pdfs_are_tagged_with_language_and_chart_alt_texts(run):
    """Screen readers get a structure tree: the language, and every chart as a figure with
    the alt text the HTML gives it (report and persona PDFs)."""
    reader = PdfReader(run.folder / "report.pdf")
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "en" and root["/MarkInfo"]["/Marked"]
    alts = _figure_alts(reader)
    assert all(len(a) > 10 for a in alts), alts
    for info in report_runs_index(run).values():  # every chart, with the HTML's alt text
        assert info.alt in alts, info.name
    persona = next((run.folder / "personas").glob("*.pdf"))
    assert "/StructTreeRoot" in PdfReader(persona).trailer["/Root"]


def _fonts(reader: PdfReader) -> list[tuple[str, bool]]:
    out = []
    for page in reader.pages[:4]:
        resources = page.get("/Resources") or {}
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            desc = font.get("/FontDescriptor")
            if desc is None and "/DescendantFonts" in font:
                desc = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            desc = desc.get_object() if desc is not None else {}
            embedded = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            out.append((str(font.get("/BaseFont")), embedded))
    return out


def test_persona_pdfs_are_one_page_documents_of_their_own(run):
    """Each persona PDF is read alone: one page with the persona's own footer (name, period,
    page 1 of 1), the running header and a one-line glossary."""
    k = run.analysis.summary.model.k
    files = sorted((run.folder / "personas").glob("*.pdf"))
    assert len(files) == k
    period = run.analysis.summary.run.period
    for segment in run.analysis.summary.segments:
        from reportgen.report.figures import segment_slug

        path = run.folder / "personas" / f"{segment_slug(segment)}.pdf"
        reader = PdfReader(path)
        assert len(reader.pages) == 1
        text = _flat(reader.pages[0].extract_text())
        name = segment.persona.name
        assert name in text and "Primary action" in text
        assert reader.metadata.title.startswith(name)
        assert "Page 1 of 1" in text
        assert f"{name} · {period} · Confidential" in text  # its own footer
        assert "Customer segment report" in text  # the running header
        assert "Terms: index = " in text


def _page_images(run, dpi: int) -> list:
    """report.pdf's pages as grey images (pdftoppm), in page order."""
    out = report_runs.tmp_dir(f"pages-{dpi}-{run.name}")
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", str(run.folder / "report.pdf"), str(out / "p")],
        check=True,
    )
    return sorted(out.glob("p-*.pgm"))


def test_every_page_has_ink(run):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    from PIL import Image

    pages = _page_images(run, 24)
    assert len(pages) == len(PdfReader(run.folder / "report.pdf").pages)
    for path in pages:
        with Image.open(path) as image:
            pixels = image.tobytes()
        ink = sum(1 for v in pixels if v < 200) / len(pixels)
        assert ink > 0.01, f"{path.name} looks blank ({ink:.2%} ink)"


def test_no_page_is_mostly_empty_but_the_last_of_a_section(run):
    """A page whose content spans less than 40 % of its height must end a section (the next
    page starts a top-level bookmark) or the report; the cover is exempt."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    import numpy as np
    from PIL import Image

    pages = _page_images(run, 30)
    reader = PdfReader(run.folder / "report.pdf")
    starts = {
        reader.get_destination_page_number(o) for o in reader.outline if not isinstance(o, list)
    }
    for i, path in enumerate(pages[1:], start=1):
        with Image.open(path) as image:
            pixels = np.asarray(image)
        h = pixels.shape[0]
        body = pixels[int(0.09 * h) : int(0.91 * h)]  # inside the running header and footer
        rows = np.flatnonzero((body < 235).any(axis=1))
        fill = (rows[-1] - rows[0] + 1) / len(body) if len(rows) else 0.0
        if fill < 0.4:
            assert i + 1 in starts or i == len(pages) - 1, f"page {i + 1} is {fill:.0%} filled"


def test_no_weasyprint_warnings_or_refused_urls(run):
    assert run.warnings == []


def test_all_charts_appear_in_the_pdf(run):
    """Figure captions name each chart; persona charts carry their own SVG titles."""
    text = _flat(_text(PdfReader(run.folder / "report.pdf")))
    index = report_runs_index(run)
    for name, info in index.items():
        if name.startswith(("drivers_", "lime_")):
            continue
        assert info.title in text, f"chart {name} ({info.title}) not in the PDF"
    k = run.analysis.summary.model.k
    assert text.count("Drivers (SHAP)") >= k
    assert text.count("(LIME)") >= k


def test_executive_summary_is_one_page(run):
    reader = PdfReader(run.folder / "report.pdf")
    texts = [_flat(p.extract_text()) for p in reader.pages]
    start = next(i for i, t in enumerate(texts) if "Segments at a glance" in t)
    assert "Executive summary" in texts[start]
    # the page after the summary is the first persona page
    first = sorted(run.analysis.summary.segments, key=lambda s: s.id)[0]
    assert f"Segment {first.id} · {first.size:,} customers" in texts[start + 1]
    assert "Segments at a glance" not in texts[start + 1]


# --------------------------------------------------------------------------- re-render


@pytest.fixture(scope="module")
def rerendered():
    """The sample run re-rendered through the CLI with the second brand, a block override
    and Letter paper (one render for all the checks below)."""
    base = report_runs.rendered("sample")
    folder = report_runs.copy_run(base, "rerender")
    templates = report_runs.tmp_dir("override-templates")
    (templates / "report.html").write_text(
        '{% extends "default:report.html" %}\n'
        "{% block executive_summary %}\n"
        '<section class="section" id="executive-summary"><h1>Executive summary</h1>'
        "<p>OVERRIDE-MARKER {{ segments | length }} segments</p></section>\n"
        "{% endblock %}\n",
        encoding="utf-8",
    )
    slug = base.analysis.summary.segments[0].persona.slug
    (templates / f"persona-{slug}.html").write_text(
        '{% include "default:persona.html" %}<p>ONE-PERSONA-MARKER {{ seg.name }}</p>\n',
        encoding="utf-8",
    )
    config = report_runs.tmp_dir("rerender-config") / "reportgen.toml"
    config.write_text('[report]\npaper = "Letter"\n', encoding="utf-8")
    before = (folder / "report.html").read_text(encoding="utf-8")
    with report_runs.capture_warnings() as records:
        result = CliRunner().invoke(
            cli,
            [
                "render",
                "--from",
                str(folder),
                "--brand",
                "northwind",
                "--templates",
                str(templates),
                "--config",
                str(config),
                "-q",
            ],
        )
    return folder, result, before, [r.getMessage() for r in records], base


def test_render_from_cli_succeeds(rerendered):
    folder, result, _before, warnings, _base = rerendered
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("report.pdf")
    assert warnings == []
    assert not list(folder.glob(".render-*")), "staging folder left behind"


def test_second_brand_changes_name_logo_and_colours(rerendered):
    folder, _result, before, _w, base = rerendered
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Reportgen Analytics" in before and "Reportgen Analytics" not in html
    assert "Northwind Traders" in html
    assert "--brand-primary: #2e6b4f" in html and "--brand-primary: #1f4e79" in before
    soup, old = BeautifulSoup(html, "html.parser"), BeautifulSoup(before, "html.parser")
    assert soup.find("img", class_="logo")["src"] != old.find("img", class_="logo")["src"]
    # charts are redrawn in the new brand's palette
    assert "#2e6b4f" in (folder / "charts" / "sizes.svg").read_text(encoding="utf-8")
    assert "#1f4e79" in (base.folder / "charts" / "sizes.svg").read_text(encoding="utf-8")
    text = _flat(_text(PdfReader(folder / "report.pdf")))
    assert "Northwind Traders" in text and "Reportgen Analytics" not in text
    old_text = _flat(_text(PdfReader(base.folder / "report.pdf")))
    assert "Reportgen Analytics" in old_text


def test_second_brand_colours_reach_the_pdf_pixels(rerendered):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    folder, _result, _before, _w, base = rerendered

    def cover_colours(pdf):
        png = subprocess.run(
            ["pdftoppm", "-r", "30", "-f", "1", "-l", "1", "-png", str(pdf)],
            check=True,
            capture_output=True,
        ).stdout
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            return {c for _n, c in image.convert("RGB").getcolors(1_000_000)}

    def near(colours, hex_colour, tol=12):
        target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return any(all(abs(a - b) <= tol for a, b in zip(c, target, strict=True)) for c in colours)

    new = cover_colours(folder / "report.pdf")
    old = cover_colours(base.folder / "report.pdf")
    assert near(new, "#2e6b4f") and not near(new, "#1f4e79")
    assert near(old, "#1f4e79") and not near(old, "#2e6b4f")


def test_template_override_replaces_one_block(rerendered):
    folder, _result, _before, _w, base = rerendered
    html = (folder / "report.html").read_text(encoding="utf-8")
    k = base.analysis.summary.model.k
    assert f"OVERRIDE-MARKER {k} segments" in html
    assert "Segments at a glance" not in html  # the replaced block
    soup = BeautifulSoup(html, "html.parser")
    assert len(soup.find_all("article", class_="persona")) == k  # the rest is intact
    first = base.analysis.summary.segments[0].persona.name
    assert html.count("ONE-PERSONA-MARKER") == 1 and f"ONE-PERSONA-MARKER {first}" in html
    text = _flat(_text(PdfReader(folder / "report.pdf")))
    assert "OVERRIDE-MARKER" in text


def test_letter_paper_from_config(rerendered):
    folder = rerendered[0]
    box = PdfReader(folder / "report.pdf").pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)


def test_failed_render_keeps_the_old_report():
    from reportgen.config import load_config
    from reportgen.report.render import render_from

    base = report_runs.rendered("sample")
    folder = report_runs.copy_run(base, "failing-render")
    before = {p: p.read_bytes() for p in [folder / "report.html", folder / "report.pdf"]}
    broken = report_runs.tmp_dir("broken-templates")
    (broken / "report.html").write_text("{% block oops %}", encoding="utf-8")
    with pytest.raises(InputError, match="--templates"):
        render_from(folder, load_config(), templates=broken)
    for path, data in before.items():
        assert path.read_bytes() == data
    assert not list(folder.glob(".render-*"))
    assert len(list((folder / "personas").glob("*.pdf"))) == base.analysis.summary.model.k


def test_render_from_a_folder_without_a_run_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["render", "--from", str(tmp_path)])
    assert result.exit_code == 2
    assert "no summary.json" in result.output


def test_unknown_brand_exits_2():
    base = report_runs.rendered("sample")
    result = CliRunner().invoke(
        cli, ["render", "--from", str(base.folder), "--brand", "no-such-brand"]
    )
    assert result.exit_code == 2
    assert "default" in result.output and "northwind" in result.output


def test_changes_block_in_the_executive_summary():
    """With `summary.changes` (monthly operations) the summary shows what changed; the block
    lives in its own template and stays on the summary page."""
    from fake_changes import fake_changes

    from reportgen.config import load_config
    from reportgen.report.brand import load_brand
    from reportgen.report.figures import read_chart_index
    from reportgen.report.render import _css, _render_html, _screen_css
    from reportgen.report.report_context import build_context

    base = report_runs.rendered("sample")
    analysis = base.analysis
    summary = analysis.summary.model_copy(deep=True)
    summary.changes = fake_changes(analysis)
    brand = load_brand("default")
    palette, charts = read_chart_index(base.folder)
    config = load_config()
    context = build_context(summary, charts, base.folder, brand, palette, config.report, None)
    context.update(css=_css(brand, "A4"), screen_css=_screen_css(), compact=set())
    soup = BeautifulSoup(_render_html(context, None), "html.parser")
    block = soup.find(id="changes")
    assert block is not None
    assert block.find_parent("section")["id"] == "executive-summary"
    text = _flat(block.get_text(" "))
    assert "Changes since 2024-05" in text
    assert summary.changes.highlights[0] in text
    rows = block.find("tbody").find_all("tr")
    assert len(rows) == len(summary.segments)
    first = summary.changes.segments[0]
    assert f"{first.size_change:+d}" in _flat(rows[0].get_text(" "))
    # without changes there is no block
    context = build_context(
        analysis.summary, charts, base.folder, brand, palette, config.report, None
    )
    context.update(css=_css(brand, "A4"), screen_css=_screen_css(), compact=set())
    assert BeautifulSoup(_render_html(context, None), "html.parser").find(id="changes") is None


def test_effective_configuration_in_the_appendix_is_valid_toml(run):
    """The appendix shows the run's settings as TOML a user can paste into reportgen.toml."""
    import tomllib

    from reportgen.config import Config
    from reportgen.report.report_context import halves, to_toml

    text = to_toml(run.analysis.summary.run.config)
    assert Config.model_validate(tomllib.loads(text)) == Config.model_validate(
        run.analysis.summary.run.config
    )
    soup = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    shown = "".join(pre.get_text() for pre in soup.select("div.config pre"))
    assert shown == "".join(halves(text))


def test_cycle_collector_is_paused_only_while_documents_are_written():
    import gc

    from reportgen.report.render import _collector_paused

    @_collector_paused
    def inside(fail: bool = False) -> bool:
        if fail:
            raise RuntimeError("layout failed")
        return gc.isenabled()

    assert gc.isenabled()
    assert inside() is False
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        inside(fail=True)
    assert gc.isenabled()
    gc.disable()
    try:
        inside()
        assert not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()


def test_the_spend_concentration_sentence_says_only_what_the_shares_say():
    """Stated when the highest-spending customers' segments bring half of all spending from
    clearly fewer customers; silent when spending follows headcount."""
    from types import SimpleNamespace as View

    from reportgen.describe.brief import concentration

    real = [  # the real file's shares (customers, spend)
        View(name="Young Budget-Conscious Families", share=0.295, revenue_share=0.06),
        View(name="Campaign-Shy Parents of Teens", share=0.268, revenue_share=0.32),
        View(name="Budget-Conscious Deal-Seeking Families", share=0.20, revenue_share=0.07),
        View(name="Affluent Loyal Spenders", share=0.181, revenue_share=0.40),
        View(name="Affluent Campaign Responders", share=0.057, revenue_share=0.15),
    ]
    assert concentration(real) == (
        "Affluent Campaign Responders and Affluent Loyal Spenders are 24% of customers but "
        "bring 55% of all spending."
    )
    even = [View(name=f"S{i}", share=0.25, revenue_share=0.25) for i in range(4)]
    assert concentration(even) is None
    mild = [
        View(name="A", share=0.4, revenue_share=0.55),
        View(name="B", share=0.6, revenue_share=0.45),
    ]
    assert concentration(mild) is None  # 55 % of spend from 40 % of customers: not 1.5x
    one = [
        View(name="A", share=0.3, revenue_share=0.7),
        View(name="B", share=0.7, revenue_share=0.3),
    ]
    assert concentration(one) == "A is 30% of customers but brings 70% of all spending."


def test_the_one_page_parts_fit_without_a_second_layout(run):
    """The executive summary and every persona page fit in normal type on the sample and the
    real file: a spill costs a second layout pass (about 2.5 s at 100,000 customers; a new
    sentence on the executive summary once did that unnoticed)."""
    assert run.compact == []
