"""Compacted chart SVGs draw the same picture with fewer nodes (report/charts.compact_svg)."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from weasyprint import HTML

from reportgen.report.charts import compact_svg

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")


def _figure_svg() -> bytes:
    """A chart with what matplotlib wraps in groups: clipped lines, marker <use>s, bars,
    a legend, rotated labels and a rasterised image."""
    import io

    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "t"}):
        fig = Figure(figsize=(5, 3.5))
        ax = fig.add_subplot()
        x = np.linspace(0, 6, 40)
        ax.plot(x, np.sin(x), marker="o", label="response")
        ax.bar([1, 2, 3], [0.4, 0.8, 0.6], color=["#1f4e79", "#c55a11", "#2e6b4f"], label="share")
        ax.imshow([[0, 1], [1, 0]], extent=(4, 5, 0.2, 0.6), aspect="auto")
        ax.set_xticks([1, 2, 3], ["Young families", "Affluent", "Responders"], rotation=30)
        ax.set_title("Customers by segment")
        ax.legend()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _pixels(tmp_path, name, svg: bytes):
    path = tmp_path / f"{name}.svg"
    path.write_bytes(svg)
    pdf = tmp_path / f"{name}.pdf"
    HTML(string=f'<img src="{path.as_uri()}" style="width:14cm">').write_pdf(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "100", "-png", "-singlefile", str(pdf), str(pdf)[:-4]], check=True
    )
    return np.asarray(Image.open(tmp_path / f"{name}.png").convert("RGB"), dtype=int)


def _bare_groups(root) -> int:
    return sum(1 for e in root.iter("{http://www.w3.org/2000/svg}g") if set(e.attrib) <= {"id"})


def test_the_compact_svg_draws_the_same_picture_with_fewer_nodes(tmp_path):
    original = _figure_svg()
    compact = compact_svg(original)
    before, after = ET.fromstring(original), ET.fromstring(compact)
    assert _bare_groups(before) > 20 and _bare_groups(after) == 0
    assert len(list(after.iter())) < 0.7 * len(list(before.iter()))
    drawn = ("path", "text", "use", "image", "rect", "clipPath")
    for tag in drawn:  # nothing drawn is lost, and it stays in drawing order
        name = f"{{http://www.w3.org/2000/svg}}{tag}"
        assert [e.attrib for e in before.iter(name)] == [e.attrib for e in after.iter(name)]
    ids = {e.get("id") for e in after.iter()}
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', compact.decode()))
    assert refs and refs <= ids  # every clip path and marker a node points at is still there
    a, b = _pixels(tmp_path, "original", original), _pixels(tmp_path, "compact", compact)
    assert a.std() > 10  # not a blank page
    assert a.shape == b.shape and np.array_equal(a, b)


def test_a_group_something_points_at_is_kept():
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<defs><g id="mark"><path d="M 0 0 L 1 1"/></g></defs>'
        b'<g id="wrapper"><use xlink:href="#mark"/></g><g id="moved" transform="scale(2)">'
        b"<path/></g></svg>"
    )
    root = ET.fromstring(compact_svg(svg))
    kept = [e.get("id") for e in root.iter("{http://www.w3.org/2000/svg}g")]
    assert kept == ["mark", "moved"]  # referenced and transformed groups stay; the bare one goes
