"""The whole-string SVG text shim draws the same picture as WeasyPrint's letter-by-letter path."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from weasyprint import HTML

from reportgen.report import svgtext

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")


def _chart_svg(path):
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "t"}):
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot()
        ax.bar(["Young families", "Affluent loyal", "Responders"], [3, 7, 5])
        ax.set_title("Customers by segment (thousands)")
        ax.set_ylabel("Customers")
        ax.text(1, 7.2, "1,327 spend", ha="center")
        fig.savefig(path, format="svg", metadata={"Date": None})


@pytest.fixture()
def spy(monkeypatch):
    """Records the class of every text node WeasyPrint's text routine receives."""
    seen = []
    original = svgtext._original

    def record(svg, node, font_size):
        seen.append(type(node).__name__)
        return original(svg, node, font_size)

    monkeypatch.setattr(svgtext, "_original", record)
    return seen


def _pdf(tmp_path, name, svg, whole):
    html = (
        f'<html><body style="margin:0"><img src="{svg.as_uri()}" style="width:14cm"></body></html>'
    )
    out = tmp_path / f"{name}.pdf"
    with svgtext.whole_string_text(enabled=whole):
        HTML(string=html, base_url=tmp_path.as_uri() + "/").write_pdf(out)
    return out


def _pixels(pdf):
    subprocess.run(
        ["pdftoppm", "-r", "100", "-png", "-singlefile", str(pdf), str(pdf.with_suffix(""))],
        check=True,
    )
    return np.asarray(Image.open(pdf.with_suffix(".png")).convert("L"), dtype=float)


def _text(pdf):
    return subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(not svgtext.applies(), reason="shim checked for other WeasyPrint versions")
def test_simple_text_looks_the_same_and_keeps_its_words(tmp_path, spy):
    svg = tmp_path / "chart.svg"
    _chart_svg(svg)
    slow = _pdf(tmp_path, "slow", svg, False)
    assert spy == []  # without the block WeasyPrint's own routine runs, untouched
    fast = _pdf(tmp_path, "fast", svg, True)
    assert spy and set(spy) == {"_WholeStringNode"}  # every label went the whole-string way
    a, b = _pixels(slow), _pixels(fast)
    assert a.shape == b.shape
    assert a.std() > 10  # the page is not blank
    diff = np.abs(a - b)
    # only kerning moves a few glyph edges; a missing or misplaced label would cost far more
    assert diff.mean() < 1.0 and (diff > 64).mean() < 0.01
    words = _text(fast)
    for word in ["Customers by segment (thousands)", "Young families", "1,327 spend"]:
        assert word in words.replace("\n", " ")


def test_text_with_per_letter_positions_takes_weasyprints_own_path(tmp_path, spy):
    svg = tmp_path / "letters.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60">'
        '<text x="10 40 70" y="30" font-size="20" font-family="DejaVu Sans">abc</text>'
        '<text x="10" y="55" letter-spacing="6" font-size="12" font-family="DejaVu Sans">'
        "spaced</text>"
        "</svg>"
    )
    slow, fast = _pdf(tmp_path, "slow", svg, False), _pdf(tmp_path, "fast", svg, True)
    if svgtext.applies():
        assert spy == ["Node", "Node"]  # both nodes fell back to the letter-by-letter path
    assert np.array_equal(_pixels(slow), _pixels(fast))


def test_weasyprint_is_restored_after_the_block():
    import weasyprint.svg as svg

    before = svg.TAGS["text"], svg.text
    with svgtext.whole_string_text():
        pass
    assert (svg.TAGS["text"], svg.text) == before
    assert svg.text is sys.modules["weasyprint.svg.text"].text
