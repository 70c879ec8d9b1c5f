"""Charts: every chart present, titled and described, one colour per segment, small,
reproducible SVG; no global matplotlib state, no pyplot, no model fitting."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib
import pytest
import report_runs

from reportgen.report.brand import ink, load_brand
from reportgen.report.charts import make_charts
from reportgen.report.colours import segment_palette
from reportgen.report.figures import read_chart_index, segment_slug

SCATTERS = ["pca", "shap_beeswarm"]  # no t-SNE: the PCA map shows enough (see below)
VECTOR = ["elbow", "silhouette_k", "sizes", "kpis", "boxplots", "heatmap", "shap_bar"]


@pytest.fixture(scope="module")
def drawn():
    analysis = report_runs.analysed(report_runs.data_file("sample"))
    palette = load_brand("default").palette(len(analysis.summary.segments))
    before = dict(matplotlib.rcParams)
    first = report_runs.tmp_dir("charts-a")
    second = report_runs.tmp_dir("charts-b")
    charts = make_charts(analysis, first, palette)
    after = dict(matplotlib.rcParams)
    make_charts(analysis, second, palette)
    return analysis, palette, charts, first, second, before, after


def test_every_chart_is_drawn(drawn):
    analysis, _palette, charts, *_ = drawn
    slugs = [segment_slug(s) for s in analysis.summary.segments]
    expected = set(SCATTERS + VECTOR + ["silhouette", "lift", "calibration"])
    expected |= {f"drivers_{s}" for s in slugs} | {f"lime_{s}" for s in slugs}
    assert set(charts) == expected
    for info in charts.values():
        assert info.title and len(info.alt) > 40
        assert info.file == f"charts/{info.name}.svg"


def test_svgs_are_valid_small_and_dateless(drawn):
    _a, _p, charts, first, *_ = drawn
    for info in charts.values():
        body = (first / info.file).read_bytes()
        root = ET.fromstring(body)  # well-formed XML
        assert b"<dc:date>" not in body
        # compacted (charts.compact_svg): no metadata, no group that only names its children
        assert b"<metadata" not in body
        bare = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if set(g.attrib) <= {"id"}]
        assert not bare, info.name
        assert len(body) < 400_000, f"{info.name} is {len(body):,} bytes"


def test_charts_are_reproducible(drawn):
    _a, _p, charts, first, second, *_ = drawn
    for info in charts.values():
        assert (first / info.file).read_bytes() == (second / info.file).read_bytes(), info.name


def test_charts_do_not_depend_on_the_lane_that_draws_them(drawn, monkeypatch):
    """Two lanes take the charts in turn (parallel.Shared); one lane alone draws the same."""
    analysis, palette, charts, first, *_ = drawn
    monkeypatch.setenv("REPORTGEN_NO_FORK", "1")
    alone = report_runs.tmp_dir("charts-one-lane")
    again = make_charts(analysis, alone, palette)
    assert list(again) == list(charts)  # the same charts, in the same order
    assert again == charts
    for info in charts.values():
        assert (first / info.file).read_bytes() == (alone / info.file).read_bytes(), info.name


def test_scatter_points_are_rasterised_and_lines_bars_are_vector(drawn):
    _a, _p, _c, first, *_ = drawn
    for name in SCATTERS:
        body = (first / "charts" / f"{name}.svg").read_text(encoding="utf-8")
        assert body.count("<image") >= 1, name
        # thousands of points would be thousands of paths/uses
        assert body.count("<use") < 200 and body.count("<path") < 300, name
    for name in VECTOR:
        body = (first / "charts" / f"{name}.svg").read_text(encoding="utf-8")
        if name != "heatmap":  # the heat map's cells are one small image
            assert "<image" not in body, name
        assert body.count("<text") >= 5, f"{name}: titles and labels should be text"


def test_one_colour_per_segment_everywhere(drawn):
    analysis, palette, _c, first, *_ = drawn
    segments = sorted(analysis.summary.segments, key=lambda s: s.id)
    assert len(set(palette)) == len(segments)
    for name in ("sizes", "kpis", "boxplots"):
        body = (first / "charts" / f"{name}.svg").read_text(encoding="utf-8").lower()
        for colour in palette:
            assert colour.lower() in body, f"{colour} missing in {name}"
    for colour, segment in zip(palette, segments, strict=True):
        body = (first / "charts" / f"drivers_{segment_slug(segment)}.svg").read_text()
        fills = set(re.findall(r"fill: (#[0-9a-f]{6})", body.lower()))
        assert colour.lower() in fills
        assert not (fills & {c.lower() for c in palette if c != colour}), segment.id


def test_global_matplotlib_state_is_untouched(drawn):
    *_rest, before, after = drawn
    assert before == after
    assert matplotlib.get_backend().lower() == "agg"


def test_chart_module_needs_no_pyplot_and_fits_nothing():
    code = (
        "import sys, reportgen.report.charts, reportgen.report.render; "
        "print('matplotlib.pyplot' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_chart_index_round_trips(drawn):
    _a, palette, charts, first, *_ = drawn
    saved = read_chart_index(first)
    assert saved == (palette, charts)
    index = first / "charts" / "index.json"
    kept = index.read_text(encoding="utf-8")
    index.write_text(kept.replace('"drawn_by": "', '"drawn_by": "0.0.0-older-'), "utf-8")
    assert read_chart_index(first) is None  # another version drew them: draw again
    index.write_text(kept, encoding="utf-8")
    assert read_chart_index(first) == (palette, charts)
    (first / charts["pca"].file).unlink()
    assert read_chart_index(first) is None  # a missing file means: draw again


def test_palette_is_distinct_and_brand_led():
    for n in range(1, 13):
        colours = segment_palette("#1f4e79", "#e07b39", n)
        assert len(colours) == n and len(set(colours)) == n
    assert segment_palette("#1f4e79", "#e07b39", 3)[:2] == ["#1f4e79", "#e07b39"]
    northwind = load_brand("northwind").palette(5)
    assert northwind[:2] == ["#2e6b4f", "#c9a227"]
    assert segment_palette("#000000", "#ffffff", 3, ["#111111", "#222222"]) == [
        "#111111",
        "#222222",
        "#0d0d0d",
    ]


def test_ink_darkens_light_colours_for_text():
    assert ink("#1f4e79") == "#1f4e79"  # dark enough already
    light = ink("#edc948")
    assert light != "#edc948"
    r, g, b = (int(light[i : i + 2], 16) for i in (1, 3, 5))
    assert max(r, g, b) < 0xED


def test_colours_follow_segment_ids_not_positions():
    """When a segment vanishes (ids 0, 2, 3, ...), the others keep the colour of their id."""
    import copy

    from reportgen.report.charts import _Ctx
    from reportgen.report.render import _palette_size
    from reportgen.report.report_context import segment_views

    analysis = copy.deepcopy(report_runs.analysed(report_runs.data_file("sample")))
    shift = {s.id: (s.id if s.id == 0 else s.id + 1) for s in analysis.summary.segments}
    for s in analysis.summary.segments:
        s.id = shift[s.id]
    analysis.customers["segment"] = analysis.customers["segment"].map(shift)
    ids = [s.id for s in analysis.summary.segments]
    assert 1 not in ids
    palette = load_brand("default").palette(_palette_size(analysis.summary))
    assert len(palette) == max(ids) + 1
    ctx = _Ctx(analysis, report_runs.tmp_dir("charts-gap"), palette)
    assert ctx.colour == {sid: palette[sid] for sid in ids}
    views = segment_views(analysis.summary, {}, palette)
    assert {v.id: v.colour for v in views} == {sid: palette[sid] for sid in ids}


def test_tsne_is_drawn_only_where_the_pca_map_shows_too_little():
    import numpy as np

    from reportgen.fitting.segment import TSNE_BELOW_PCA_SHARE, tsne_2d

    X = np.random.default_rng(0).normal(size=(300, 12))  # no direction dominates
    coords, note = tsne_2d(X, 0, 0.2)
    assert np.isfinite(coords).all() and note == "t-SNE map drawn for all 300 customers"
    coords, note = tsne_2d(X, 0, TSNE_BELOW_PCA_SHARE)
    assert np.isnan(coords).all() and note.startswith("No t-SNE map: the PCA map already shows")


def test_the_sample_run_has_no_tsne_map_and_says_why(drawn):
    analysis, palette, charts, *_ = drawn
    share = sum(analysis.summary.model.pca_explained_variance)
    assert share >= 0.5 and "tsne" not in charts
    assert analysis.summary.model.samples["tsne"] == (
        f"No t-SNE map: the PCA map already shows {share:.0%} of the variation "
        "(t-SNE is drawn only when it shows less than 50%)"
    )
    # where there are coordinates, the map is drawn like the PCA one
    analysis.chart_rows["tsne_1"] = analysis.chart_rows["pca_1"]
    analysis.chart_rows["tsne_2"] = analysis.chart_rows["pca_2"]
    try:
        drawn_again = make_charts(analysis, report_runs.tmp_dir("charts-tsne"), palette)
    finally:
        analysis.chart_rows[["tsne_1", "tsne_2"]] = float("nan")
    assert "tsne" in drawn_again and drawn_again["tsne"].title == "Segments on a t-SNE map"


def test_charts_name_segments_by_persona_not_by_number(drawn):
    analysis, _p, charts, _first, second, *_ = drawn
    first = second  # the index test removes a file from the first folder
    names = {s.persona.name for s in analysis.summary.segments}
    for info in charts.values():
        texts = [
            "".join(t.itertext()).strip()
            for t in ET.fromstring((first / info.file).read_bytes()).iter()
            if t.tag.endswith("text")
        ]
        numbered = [t for t in texts if re.match(r"^(Segment )?\d+:", t)]
        assert not numbered, (info.name, numbered)
    body = (first / charts["boxplots"].file).read_text(encoding="utf-8")
    assert all(name in body for name in names)  # the legend names every persona
