"""Charts of a finished analysis, written as small reproducible SVG files.

Only reads the result (`Analysis`): coordinates, silhouettes and SHAP values were computed by
the analysis; nothing here fits a model. Uses explicit `Figure` objects (no pyplot state), an
rc context that restores global settings, one colour per segment everywhere, vector lines and
bars, rasterised scatter points, a fixed SVG hash salt and no dates in the metadata.
"""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .. import wording  # noqa: E402
from ..parallel import in_two_lanes  # noqa: E402
from ..result import Analysis, Segment  # noqa: E402
from .figures import (  # noqa: E402, F401  (re-exported: charts.ChartInfo etc.)
    ChartInfo,
    read_chart_index,
    revenue_shares,
    segment_names,
    segment_slug,
    write_chart_index,
)

RASTER_DPI = 150

#: the smallest text in any chart, in points at the size the chart is drawn. Charts are
#: placed in the PDF at their own size or smaller than the column (never stretched), so
#: this is also the smallest chart text on paper.
SMALL_PT = 8.5
TEXT_PT = 9.0
TITLE_PT = 10.0

RC = {
    "svg.hashsalt": "reportgen",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": TEXT_PT,
    "axes.titlesize": TITLE_PT,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": TEXT_PT,
    "axes.edgecolor": "#888888",
    "axes.labelcolor": "#333333",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    # no tick marks (grid lines guide the eye): each mark is an SVG node WeasyPrint must draw
    "xtick.bottom": False,
    "ytick.left": False,
    "xtick.labelsize": SMALL_PT,
    "ytick.labelsize": SMALL_PT,
    "legend.fontsize": SMALL_PT,
    "legend.frameon": False,
    "figure.dpi": 100,
    "path.simplify": True,
}

#: features shown in boxplots when the model uses other ones
KEY_FEATURES = ["Income", "TotalSpend", "Age", "Children", "CampaignEngagement", "Recency"]


def make_charts(analysis: Analysis, folder: Path, palette: list[str]) -> dict[str, ChartInfo]:
    """Draw every chart of the report into `folder`/charts/; returns name -> ChartInfo."""
    out_dir = Path(folder) / "charts"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Ctx(analysis, out_dir, list(palette))
    # (builder, rough cost): the costly ones are taken first, so the two lanes end together
    builders: list[tuple[Callable[[_Ctx], None], int]] = [
        (_elbow, 1),
        (_silhouette_by_k, 1),
        (_silhouette_plot, 2),
        (_pca, 3),
        (_tsne, 3),
        (_heatmap, 3),
        (_boxplots, 5),
        (_sizes, 1),
        (_kpis, 3),
        (_shap_bar, 2),
        (_shap_beeswarm, 3),
        (_drivers, 4),
        (_lime, 4),
        (_lift, 1),
        (_calibration, 1),
        (_trends, 1),
    ]
    # two lanes, this process and a forked child, take the next chart as they finish one;
    # both draw into the same folder
    order = sorted(range(len(builders)), key=lambda i: -builders[i][1])
    drawn = in_two_lanes(lambda taken: _draw(ctx, builders, taken), order)
    ctx.charts = {}
    for _index, charts in sorted(drawn, key=lambda t: t[0]):  # in the order of `builders`
        ctx.charts.update(charts)
    write_chart_index(Path(folder), ctx.palette, ctx.charts)
    return ctx.charts


def _draw(ctx: _Ctx, builders: list, taken) -> list[tuple[int, dict[str, ChartInfo]]]:
    """Draw the builders this lane takes (their indices); what each one added, by index."""
    out = []
    with matplotlib.rc_context(RC):
        for index in taken:
            before = set(ctx.charts)
            builders[index][0](ctx)
            out.append((index, {k: v for k, v in ctx.charts.items() if k not in before}))
    return out


# --------------------------------------------------------------------------- helpers


def _segs(analysis: Analysis) -> list[Segment]:
    return sorted(analysis.summary.segments, key=lambda s: s.id)


_SVG_NS = "http://www.w3.org/2000/svg"


def compact_svg(body: bytes) -> bytes:
    """The same drawing with fewer nodes: matplotlib's RDF `<metadata>` is dropped and every
    `<g>` that carries nothing but an unreferenced `id` is replaced by its children.

    Such a group changes nothing drawn (no transform, style or clip; its children match the
    same style rules), but WeasyPrint cascades and draws each node in Python: about half of a
    chart's nodes were these wrappers, and drawing the charts is half of writing the PDF."""
    referenced = set(re.findall(rb'(?:url\(#|href="#)([^)"]+)', body))
    root = ET.fromstring(body)

    def flatten(parent: ET.Element) -> None:
        kept: list[ET.Element] = []
        for child in parent:
            flatten(child)
            if child.tag == f"{{{_SVG_NS}}}metadata":
                continue
            bare = child.tag == f"{{{_SVG_NS}}}g" and set(child.attrib) <= {"id"}
            if bare and child.get("id", "").encode() not in referenced:
                kept.extend(child)
            else:
                kept.append(child)
        parent[:] = kept

    flatten(root)
    # ElementTree's prefixes are process-wide (WeasyPrint registers its own, "" included,
    # when its PDF metadata module is imported): set ours just before writing, or the tags
    # come out as ns0:svg
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class _Ctx:
    def __init__(self, analysis: Analysis, out_dir: Path, palette: list[str]):
        self.analysis = analysis
        self.summary = analysis.summary
        self.customers = analysis.chart_rows
        self.segments = _segs(analysis)
        self.out_dir = out_dir
        ids = [s.id for s in self.segments]
        while len(palette) <= max(ids, default=0):
            palette = palette + palette
        # indexed by segment id, not position: ids keep their colour across months
        self.palette = palette
        self.colour = {sid: palette[sid] for sid in ids}
        self.names = segment_names(analysis.summary)
        self.charts: dict[str, ChartInfo] = {}

    def save(self, fig: Figure, name: str, title: str, alt: str) -> None:
        drawn = io.BytesIO()
        fig.savefig(drawn, format="svg", metadata={"Date": None}, dpi=RASTER_DPI)
        (self.out_dir / f"{name}.svg").write_bytes(compact_svg(drawn.getvalue()))
        self.charts[name] = ChartInfo(name, f"charts/{name}.svg", title, alt)

    def legend_handles(self) -> list[Patch]:
        return [Patch(color=self.colour[s.id], label=self.names[s.id]) for s in self.segments]

    def seg_colours(self, labels: np.ndarray) -> np.ndarray:
        lut = {sid: matplotlib.colors.to_rgba(c) for sid, c in self.colour.items()}
        return np.array([lut.get(int(v), (0.6, 0.6, 0.6, 1.0)) for v in labels])


def _figure(
    width: float,
    height: float,
    left: float = 0.55,
    right: float = 0.15,
    top: float = 0.3,
    bottom: float = 0.45,
    wspace: float = 0.2,
    hspace: float = 0.2,
) -> Figure:
    """A figure with fixed margins in inches (a layout engine costs a second draw)."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=wspace,
        hspace=hspace,
    )
    return fig


def _text_width(labels: list[str], size: float = SMALL_PT) -> float:
    """Rough width in inches of the longest label in DejaVu Sans at `size` points."""
    longest = max((len(str(t)) for t in labels), default=0)
    return longest * size * 0.6 / 72 + 0.12


def _fits(text: str, inches: float, size: float = SMALL_PT) -> str:
    """`text` wrapped into lines that fit `inches` at `size` points (DejaVu Sans, roughly)."""
    return _wrap(text, max(12, int(inches * 72 / (size * 0.6))))


def _title(fig: Figure, text: str) -> None:
    """A chart's title at the figure's left edge (an axes title starts after the labels and
    would run off a narrow figure)."""
    fig.suptitle(text, x=0.02, ha="left", fontsize=TITLE_PT, fontweight="bold")


def _mark_k(ax, ks: list[int], values: list[float], k: int, colour: str, text: str) -> None:
    if k in ks:
        y = values[ks.index(k)]
        ax.axvline(k, color=colour, linestyle="--", linewidth=1)
        ax.scatter([k], [y], s=40, color=colour, zorder=3)
        ax.annotate(
            text,
            (k, y),
            xytext=(8, 8),
            textcoords="offset points",
            color=colour,
            fontweight="bold",
            fontsize=SMALL_PT,
        )


# --------------------------------------------------------------------------- model selection


def _k_line(c: _Ctx, values: list[float], ylabel: str, title: str) -> Figure:
    """A metric over the k range with the chosen k marked (elbow and silhouette charts)."""
    ks = [s.k for s in c.summary.model.k_selection]
    k = c.summary.model.k
    fig = _figure(3.3, 2.3)
    ax = fig.add_subplot()
    ax.plot(ks, values, marker="o", markersize=3.5, color="#555555", linewidth=1.4)
    _mark_k(ax, ks, values, k, c.palette[0], f"chosen k = {k}")
    ax.set_xticks(ks)
    ax.set_xlabel("Number of segments k")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def _elbow(c: _Ctx) -> None:
    scores = c.summary.model.k_selection
    if not scores:
        return
    inertia = [s.inertia for s in scores]
    fig = _k_line(c, inertia, "Inertia (within-segment spread)", "Elbow curve")
    c.save(
        fig,
        "elbow",
        "Elbow curve: spread inside segments by number of segments",
        f"Line chart of inertia for k = {scores[0].k} to {scores[-1].k}, falling from "
        f"{inertia[0]:,.0f} to {inertia[-1]:,.0f}; the elbow is at k = "
        f"{c.summary.model.k_choice.elbow_k} and the chosen k = {c.summary.model.k} is marked.",
    )


def _silhouette_by_k(c: _Ctx) -> None:
    scores = c.summary.model.k_selection
    if not scores:
        return
    fig = _k_line(c, [s.silhouette for s in scores], "Mean silhouette (−1 to 1)", "Silhouette by k")
    best = max(scores, key=lambda s: s.silhouette)
    c.save(
        fig,
        "silhouette_k",
        "Silhouette score by number of segments",
        f"Line chart of the mean silhouette for k = {scores[0].k} to {scores[-1].k}; highest at "
        f"k = {best.k} ({best.silhouette:.2f}); the chosen k = {c.summary.model.k} is marked.",
    )


def _silhouette_plot(c: _Ctx) -> None:
    cust = c.customers
    if "silhouette" not in cust:
        return
    data = cust[["segment", "silhouette"]].dropna()
    if data.empty:
        return
    left = _text_width(list(c.names.values())) + 0.1
    fig = _figure(6.6, 2.6, left=left, bottom=0.5)
    ax = fig.add_subplot()
    y0 = 0
    gap = max(10, len(data) // 60)
    ticks, tick_labels = [], []
    for s in c.segments:
        vals = np.sort(data.loc[data["segment"] == s.id, "silhouette"].to_numpy())
        if len(vals) == 0:
            continue
        # a sorted curve needs no more than ~150 points to look the same: keeps the SVG light
        pick = np.unique(np.linspace(0, len(vals) - 1, min(len(vals), 150)).round().astype(int))
        ax.fill_betweenx(y0 + pick, 0, vals[pick], color=c.colour[s.id], linewidth=0)
        ticks.append(y0 + len(vals) / 2)
        tick_labels.append(c.names[s.id])
        y0 += len(vals) + gap
    mean = float(data["silhouette"].mean())
    ax.axvline(mean, color="#333333", linestyle="--", linewidth=1)
    ax.annotate(
        f"average {mean:.2f}",
        (mean, y0),
        xytext=(4, -10),
        textcoords="offset points",
        fontsize=SMALL_PT,
    )
    ax.set_yticks(ticks, tick_labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Silhouette of each customer (−1 = closer to another segment, 1 = well placed)")
    ax.set_title("How well each customer fits their segment")
    negative = float((data["silhouette"] < 0).mean())
    c.save(
        fig,
        "silhouette",
        "Silhouette of every customer, by segment",
        f"Per-customer silhouette values sorted within each of {len(c.segments)} segments; "
        f"average {mean:.2f}; {negative:.0%} of customers have a negative value.",
    )


# --------------------------------------------------------------------------- maps


def _scatter(c: _Ctx, xcol: str, ycol: str, name: str, title: str, xl: str, yl: str, note: str):
    cust = c.customers
    if xcol not in cust or ycol not in cust:
        return
    data = cust[["segment", xcol, ycol]].dropna()
    if data.empty:
        return
    fig = _figure(6.6, 3.4, right=_text_width(list(c.names.values())) + 0.4)
    ax = fig.add_subplot()
    ax.scatter(
        data[xcol],
        data[ycol],
        c=c.seg_colours(data["segment"].to_numpy()),
        s=5,
        linewidths=0,
        alpha=0.75,
        rasterized=True,
    )
    for s in c.segments:
        pts = data.loc[data["segment"] == s.id, [xcol, ycol]]
        if len(pts):
            cx, cy = pts.median()
            ax.scatter([cx], [cy], marker="X", s=60, color=c.colour[s.id], edgecolors="white")
    for axis, col in ((ax.set_xlim, xcol), (ax.set_ylim, ycol)):
        lo, hi = np.percentile(data[col], [0.5, 99.5])
        pad = (hi - lo) * 0.06 or 1.0
        axis(lo - pad, hi + pad)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title)
    ax.legend(handles=c.legend_handles(), loc="center left", bbox_to_anchor=(1.0, 0.5))
    c.save(
        fig,
        name,
        title,
        f"Scatter plot of {len(data):,} customers coloured by segment ({note}); crosses mark "
        "the middle of each segment.",
    )


def _pca(c: _Ctx) -> None:
    var = c.summary.model.pca_explained_variance
    xl = f"Component 1 ({var[0]:.0%} of variation)" if len(var) > 0 else "Component 1"
    yl = f"Component 2 ({var[1]:.0%} of variation)" if len(var) > 1 else "Component 2"
    share = sum(var[:2]) if var else None
    note = f"the two PCA components explain {share:.0%} of the variation" if share else "PCA"
    _scatter(c, "pca_1", "pca_2", "pca", "Segments on a PCA map", xl, yl, note)


def _tsne(c: _Ctx) -> None:
    note = c.summary.model.samples.get("tsne", "t-SNE map")
    _scatter(
        c,
        "tsne_1",
        "tsne_2",
        "tsne",
        "Segments on a t-SNE map",
        "t-SNE dimension 1 (no unit)",
        "t-SNE dimension 2 (no unit)",
        note[0].lower() + note[1:] if note else "t-SNE",
    )


# --------------------------------------------------------------------------- profiles


def _profile_features(c: _Ctx) -> list[str]:
    feats = [f for f in c.summary.model.features if f in c.customers]
    # channel shares are the persona pages' channel mix (shares of all purchases), a
    # different figure from the average of each customer's shares: not repeated here
    extra = ["TotalPurchases", "Recency", "Tenure"]
    for f in extra:
        if f in c.customers and f not in feats:
            feats.append(f)
    return feats[:14]


def _fit_rows(c: _Ctx) -> pd.DataFrame:
    cust = c.customers
    if "excluded_from_fit" in cust:
        return cust.loc[~cust["excluded_from_fit"].astype(bool)]
    return cust


def _heatmap(c: _Ctx) -> None:
    feats = _profile_features(c)
    if not feats:
        return
    # the numbers are the summary's (segment profiles and all-customer means, over every
    # customer but those with a data issue, like the persona pages); the chart sample only
    # gives the spread the colours are scaled by
    feats = [f for f in feats if all(f in s.profile for s in c.segments) and f in c.summary.overall]
    if not feats:
        return
    rows = _fit_rows(c)
    mean = pd.Series({f: c.summary.overall[f] for f in feats})
    std = rows[feats].std().replace(0, np.nan)
    means = pd.DataFrame(
        [{f: s.profile[f] for f in feats} for s in c.segments], index=[s.id for s in c.segments]
    )
    z = ((means - mean) / std).fillna(0.0)
    ylabels = [wording.axis_label(f) for f in feats]
    # the segments' names head the columns (a column is narrower than a name at 8.5 pt):
    # slanted at 45 degrees up to five segments, upright beyond (slanted names overhang to
    # the right and would leave the columns too narrow for their numbers)
    xlabels = [_wrap(c.names[s.id], 20) for s in c.segments]
    longest = _text_width([line for x in xlabels for line in x.split("\n")])
    lines = max(x.count("\n") + 1 for x in xlabels)
    slanted = len(c.segments) <= 5
    if slanted:
        top, right = 0.2 + 0.71 * (longest + 0.16 * lines), max(0.7, 0.71 * longest - 0.1)
    else:
        top, right = 0.25 + longest, 0.7
    left = _text_width(ylabels) + 0.05
    column = (6.6 - left - right - 0.3) / max(len(c.segments), 1)  # inches, minus the bar
    texts = {
        (s.id, f): wording.feature_value(f, float(means.loc[s.id, f]))
        for s in c.segments
        for f in feats
    }
    if _text_width(list(texts.values())) > 0.95 * column:
        texts = {
            k: (
                wording.compact(float(means.loc[k[0], k[1]]))
                if abs(means.loc[k[0], k[1]]) >= 1000
                else v
            )
            for k, v in texts.items()
        }
    fig = _figure(
        6.6,
        0.2 + top + 0.26 * len(feats),
        left=left,
        right=right,
        top=top,
        bottom=0.1,
    )
    ax = fig.add_subplot()
    cmap = LinearSegmentedColormap.from_list("brand", ["#3b6ea8", "#f7f7f7", "#c8553d"])
    lim = max(1.0, float(np.nanmax(np.abs(z.to_numpy()))))
    im = ax.imshow(z.to_numpy().T, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    for j, f in enumerate(feats):
        for i, s in enumerate(c.segments):
            zz = z.iloc[i, j]
            ax.text(
                i,
                j,
                texts[(s.id, f)],
                ha="center",
                va="center",
                fontsize=SMALL_PT,
                color="white" if abs(zz) > 0.6 * lim else "#222222",
            )
    if slanted:
        ax.set_xticks(
            range(len(c.segments)), xlabels, rotation=45, ha="left", va="bottom", linespacing=1.0
        )
    else:
        ax.set_xticks(range(len(c.segments)), xlabels, rotation=90, ha="center", va="bottom")
    ax.tick_params(axis="x", pad=2)
    ax.set_yticks(range(len(feats)), ylabels)
    for tick, s in zip(ax.get_xticklabels(), c.segments, strict=True):
        tick.set_color(c.colour[s.id])
        tick.set_fontweight("bold")
    ax.tick_params(length=0)
    ax.grid(False)
    ax.xaxis.tick_top()
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, fraction=0.04)
    bar.set_label("Standard deviations from the average customer", fontsize=SMALL_PT)
    bar.outline.set_visible(False)
    top = z.abs().stack().sort_values(ascending=False).index[:1]
    extreme = ""
    if len(top):
        sid, f = top[0]
        extreme = (
            f" The largest difference: {c.names[sid]} on {wording.label(f)} "
            f"({z.loc[sid, f]:+.1f} standard deviations)."
        )
    c.save(
        fig,
        "heatmap",
        "Segment profiles (standardised)",
        f"Heat map of {len(feats)} features by segment: colour shows how far each segment's "
        f"average is above (red) or below (blue) the average customer; cells show the segment "
        f"average in original units.{extreme}",
    )


def _boxplots(c: _Ctx) -> None:
    rows = _fit_rows(c)
    feats = []
    for f in [*c.summary.model.features, *KEY_FEATURES]:
        # counts with a handful of values (children, campaigns) make empty boxes: the heat map
        # shows their averages instead
        if f in rows and f not in feats and rows[f].nunique() >= 8:
            feats.append(f)
    feats = feats[:8]
    if not feats:
        return
    cols = 4
    nrows = math.ceil(len(feats) / cols)
    ids = [s.id for s in c.segments]
    legend_cols = 2 if len(ids) > 2 else len(ids)  # long persona names at 8.5 pt
    legend_rows = math.ceil(len(ids) / legend_cols)
    bottom = 0.3 + 0.19 * legend_rows
    fig = _figure(
        6.6,
        1.75 * nrows + 0.45 + bottom,
        left=0.45,
        top=0.75,
        bottom=bottom,
        wspace=0.5,
        hspace=0.9,
    )
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, f in zip(axes.flat, feats, strict=False):
        data = [rows.loc[rows["segment"] == i, f].dropna().to_numpy() for i in ids]
        _boxes(ax, data, [c.colour[i] for i in ids])
        ax.set_xticks([])  # the segments are named by colour in the legend, never by number
        ax.set_title(_wrap(wording.axis_label(f), 18), fontsize=SMALL_PT)
        ax.tick_params(labelsize=SMALL_PT)
        ax.tick_params(axis="x", length=0)
        ax.grid(axis="x", visible=False)
        if f in ("WebShare", "CatalogShare", "StoreShare", "DealsShare"):
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        else:
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_tick))
    for ax in list(axes.flat)[len(feats) :]:
        ax.set_visible(False)
    fig.legend(
        handles=[Patch(color=c.colour[s.id], label=c.names[s.id]) for s in c.segments],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=legend_cols,
    )
    fig.suptitle("Key features by segment", fontsize=TITLE_PT, fontweight="bold", x=0.02, ha="left")
    c.save(
        fig,
        "boxplots",
        "Key features by segment",
        f"Box plots of {', '.join(wording.label(f) for f in feats)} for each segment "
        "(box = middle half of customers, line = median, whiskers = 1.5 × IQR; "
        "outliers not drawn).",
    )


def _boxes(ax, data: list[np.ndarray], colours: list[str], width: float = 0.6) -> None:
    """Box plots drawn as few SVG paths: one rectangle per box, and all whiskers, caps and
    medians as two compound paths (matplotlib's boxplot makes ~6 clipped paths per box).
    Box = quartiles, line = median, whiskers = furthest values within 1.5 × IQR."""
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    whiskers, medians = [], []
    for x, values in enumerate(data):
        if len(values) == 0:
            continue
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        iqr = q3 - q1
        low = values[values >= q1 - 1.5 * iqr].min()
        high = values[values <= q3 + 1.5 * iqr].max()
        ax.add_patch(
            Rectangle(
                (x - width / 2, q1),
                width,
                max(q3 - q1, 1e-9),
                facecolor=colours[x],
                edgecolor=colours[x],
                alpha=0.85,
            )
        )
        h = width / 4
        whiskers += [(x, q1), (x, low), (x - h, low), (x + h, low)]
        whiskers += [(x, q3), (x, high), (x - h, high), (x + h, high)]
        medians += [(x - width / 2, med), (x + width / 2, med)]
    for points, colour, line in ((whiskers, "#777777", 0.9), (medians, "#222222", 1.1)):
        if points:
            codes = [MplPath.MOVETO, MplPath.LINETO] * (len(points) // 2)
            path = MplPath(points, codes)
            ax.add_patch(PathPatch(path, fill=False, edgecolor=colour, linewidth=line))
    ax.set_xlim(-0.6, len(data) - 0.4)
    ax.autoscale_view(scalex=False)


# --------------------------------------------------------------------------- value


def _sizes(c: _Ctx) -> None:
    revenue = revenue_shares(c.summary)
    segs = c.segments
    fig = _figure(6.6, 0.75 + 0.37 * len(segs), left=_text_width(list(c.names.values())))
    ax = fig.add_subplot()
    y = np.arange(len(segs))
    h = 0.38
    cust_share = [s.share for s in segs]
    rev_share = [revenue[s.id] for s in segs]
    colours = [c.colour[s.id] for s in segs]
    ax.barh(y - h / 2, cust_share, height=h, color=colours, alpha=0.45, label="Share of customers")
    ax.barh(y + h / 2, rev_share, height=h, color=colours, label="Share of spend")
    for yi, a, b in zip(y, cust_share, rev_share, strict=True):
        ax.text(a + 0.004, yi - h / 2, f"{a:.0%} of customers", va="center", fontsize=SMALL_PT)
        ax.text(b + 0.004, yi + h / 2, f"{b:.0%} of spend", va="center", fontsize=SMALL_PT)
    ax.set_yticks(y, [c.names[s.id] for s in segs])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, max(cust_share + rev_share) * 1.35)
    ax.set_xlabel("Share of all customers / of total spend (%)")
    ax.grid(axis="y", visible=False)
    ax.set_title("Segment size and share of spend")
    top = max(segs, key=lambda s: revenue[s.id])
    c.save(
        fig,
        "sizes",
        "Segment size and share of spend",
        "Bar chart of each segment's share of customers and share of total spend; "
        f"{c.names[top.id]} brings {revenue[top.id]:.0%} of spend with {top.share:.0%} "
        "of customers.",
    )


def _kpis(c: _Ctx) -> None:
    segs = c.segments
    if not all(s.kpis is not None for s in segs):
        return
    panels = [
        ("avg_spend", "Average spend", "spend per customer, 2 years", False),
        ("response_rate", "Response to last campaign", "% of customers", True),
        ("retention_risk", "Retention risk", "% not buying recently", True),
        ("complaint_rate", "Complaints", "% of customers", True),
    ]
    panel_h = 0.55 + 0.22 * len(segs)
    fig = _figure(
        6.6,
        2 * panel_h + 0.35,
        left=_text_width(list(c.names.values())),
        right=0.25,
        top=0.25,
        bottom=0.45,
        wspace=0.08,
        hspace=0.8,
    )
    axes = fig.subplots(2, 2, sharey=True).flatten()
    y = np.arange(len(segs))
    overall = c.summary.overall
    everyone = c.summary.everyone
    for ax, (key, title, unit, pct) in zip(axes, panels, strict=True):
        vals = [float(getattr(s.kpis, key)) for s in segs]
        test = c.summary.kpi_tests.get(key)
        quiet = test is not None and not test.signal  # no signal: grey, never a finding
        colours = ["#bbbbbb" if quiet else c.colour[s.id] for s in segs]
        ax.barh(y, vals, color=colours, height=0.65)
        ranges = [s.kpis.intervals.get(key) for s in segs]
        if all(ranges):
            lo = [v - r[0] for v, r in zip(vals, ranges, strict=True)]
            hi = [r[1] - v for v, r in zip(vals, ranges, strict=True)]
            ax.errorbar(vals, y, xerr=[lo, hi], fmt="none", ecolor="#333333", lw=0.7, capsize=1.5)
        if everyone is not None:
            avg = float(getattr(everyone, key))
        else:  # run folders from before summary.everyone
            avg = _weighted_mean(vals, [s.size for s in segs])
            if key == "avg_spend" and "TotalSpend" in overall:
                avg = overall["TotalSpend"]
        if quiet:
            title = f"{title} (no signal)"
        ax.axvline(avg, color="#333333", linestyle="--", linewidth=0.9)
        small = pct and max(vals) < 0.1
        ends = [r[1] if r else v for v, r in zip(vals, ranges, strict=True)]
        for yi, v, end in zip(y, vals, ends, strict=True):
            txt = (f"{v:.1%}" if small else f"{v:.0%}") if pct else wording.compact(v)
            ax.text(max(v, end), yi, f" {txt}", va="center", fontsize=SMALL_PT)
        ax.set_title(title, fontsize=SMALL_PT)
        ax.set_xlabel(unit, fontsize=SMALL_PT)
        ax.set_xlim(0, max(vals + ends + [avg]) * 1.3 or 1)
        ax.grid(axis="y", visible=False)
        if pct:
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=None))
        else:
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_tick))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
        ax.tick_params(axis="x", labelsize=SMALL_PT)
    for ax in (axes[0], axes[2]):
        ax.set_yticks(y, [c.names[s.id] for s in segs])
    axes[0].invert_yaxis()
    c.save(
        fig,
        "kpis",
        "Key figures by segment",
        "Bar charts comparing segments on average spend, response to the last campaign, "
        "retention risk and complaint rate, with 95 % ranges; dashed lines mark the average "
        "customer; grey panels show a figure that does not differ between segments.",
    )


def _trends(c: _Ctx) -> None:
    """Share of customers, share of spend and response per segment over the last periods."""
    trends = c.summary.trends
    if trends is None or len(trends.periods) < 2:
        return
    periods = trends.periods
    panels = [
        ("share", "Share of customers"),
        ("revenue_share", "Share of spend"),
        ("response_rate", "Response rate"),
    ]
    legend_rows = math.ceil(len(trends.segments) / 2)
    bottom = 0.75 + 0.19 * legend_rows
    fig = _figure(6.6, 1.9 + bottom, left=0.5, right=0.1, top=0.45, bottom=bottom, wspace=0.45)
    axes = fig.subplots(1, 3)
    x = np.arange(len(periods))
    step = max(1, math.ceil(len(periods) / 4))  # at most about four dates on an axis
    ticks = sorted({*range(len(periods) - 1, -1, -step)})
    for ax, (field, title) in zip(axes, panels, strict=True):
        for seg in trends.segments:
            values = np.array([np.nan if v is None else v for v in getattr(seg, field)])
            colour = c.palette[seg.id % len(c.palette)]
            ax.plot(x, values, color=colour, linewidth=1.6, marker="o", markersize=3)
        ax.set_title(title, fontsize=SMALL_PT)
        ax.set_xticks(ticks, [periods[i] for i in ticks], rotation=30, ha="right")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.set_ylim(bottom=0)
        ax.grid(axis="x", visible=False)
    fig.legend(
        handles=[
            Patch(color=c.palette[s.id % len(c.palette)], label=s.persona or f"Segment {s.id}")
            for s in trends.segments
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=2,
    )
    _title(fig, f"The segments over {len(periods)} periods")
    c.save(
        fig,
        "trends",
        "The segments over time",
        f"Line charts of each segment's share of customers, share of spend and response to "
        f"the last campaign for the {len(periods)} periods from {periods[0]} to "
        f"{periods[-1]}.",
    )


def _tick(value: float, _pos: int) -> str:
    """Axis numbers: 1,500 / 20k / 1.5M, no trailing '.0'."""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:g}M"
    if a >= 1e4:
        return f"{value / 1e3:g}k"
    if a >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def _weighted_mean(values: list[float], weights: list[int]) -> float:
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total if total else 0.0


# --------------------------------------------------------------------------- explanations


def shap_layout(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray] | None:
    """(SHAP values [n, features], feature values [n, features], names, segment ids) or None.

    The values are each sampled customer's exact SHAP values of K-Means' margin between
    their own segment and the next-nearest one (interpret.py)."""
    arrays = analysis.arrays
    values = arrays.get("shap_values")
    if values is None or values.ndim != 2:  # run folders from before the exact drivers: 3-D
        return None
    expl = analysis.summary.explanations
    names = list(expl.shap_features) if expl and expl.shap_features else []
    if len(names) != values.shape[1]:
        names = [f"feature {i}" for i in range(values.shape[1])]
    x = arrays.get("shap_data")
    if x is None or x.shape != values.shape:
        x = np.full(values.shape, np.nan)
    labels = arrays.get("shap_segment")
    if labels is None or len(labels) != len(values):
        return None
    return values, x, names, labels.astype(int)


MARGIN_AXIS = "share of what sets the segment apart (mean |SHAP| of K-Means' margin)"


def _shap_bar(c: _Ctx) -> None:
    layout = shap_layout(c.analysis)
    if layout is None:
        return
    values, _x, names, labels = layout
    k = len(c.summary.segments)
    importance = c.analysis.arrays.get("shap_importance")
    if importance is not None and importance.shape == (k, values.shape[1]):
        mean_abs = np.asarray(importance, dtype=float).T  # [features, k] over all explained
    else:
        mean_abs = np.stack(
            [np.abs(values[labels == s.id]).mean(axis=0) for s in c.summary.segments], axis=1
        )
    sizes = np.array([s.size for s in c.summary.segments], dtype=float)
    # each segment's bar part weighted by its share of customers: the bars add up to the mean
    # over all customers, shown as a share of the whole
    weighted = mean_abs * (sizes / sizes.sum())[None, :]
    total = weighted.sum()
    weighted = weighted / total if total > 0 else weighted
    order = np.argsort(weighted.sum(axis=1))[::-1][:10][::-1]
    ylabels = [wording.label(names[i]) for i in order]
    legend_rows = math.ceil(len(c.summary.segments) / 2)
    left_margin = _text_width(ylabels)
    xlabel = _fits(f"Overall {MARGIN_AXIS}", 6.6 - left_margin - 0.15, TEXT_PT)
    xlines = xlabel.count("\n") + 1
    fig = _figure(
        6.6,
        1.0 + 0.25 * len(order) + 0.2 * legend_rows + 0.16 * (xlines - 1),
        left=left_margin,
        bottom=0.55 + 0.2 * legend_rows + 0.16 * (xlines - 1),
    )
    ax = fig.add_subplot()
    left = np.zeros(len(order))
    for j, s in enumerate(c.summary.segments):
        part = weighted[order, j]
        ax.barh(range(len(order)), part, left=left, color=c.colour[s.id], label=c.names[s.id])
        left += part
    ax.set_yticks(range(len(order)), ylabels)
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(xlabel)
    _title(fig, "What decides segment membership (exact SHAP of K-Means)")
    fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=2)
    top = [wording.label(names[i]) for i in order[::-1][:3]]
    c.save(
        fig,
        "shap_bar",
        "Overall feature importance (SHAP)",
        f"Stacked bar chart of each feature's share of K-Means' margin, split by segment; the "
        f"most important features are {', '.join(top)}.",
    )


def _shap_beeswarm(c: _Ctx) -> None:
    layout = shap_layout(c.analysis)
    if layout is None:
        return
    own, x, names, _labels = layout
    order = np.argsort(np.abs(own).mean(axis=0))[::-1][:8][::-1]
    ylabels = [wording.label(names[i]) for i in order]
    left_margin = _text_width(ylabels)
    xlabel = _fits(
        "SHAP value: how far the feature moves the customer towards their own segment "
        "(right) or the next-nearest one (left)",
        6.6 - left_margin - 0.7,
        TEXT_PT,
    )
    extra = 0.16 * xlabel.count("\n")
    fig = _figure(
        6.6,
        0.85 + 0.32 * len(order) + extra,
        left=left_margin,
        right=0.6,
        bottom=0.45 + extra,
    )
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    cmap = LinearSegmentedColormap.from_list("value", ["#3b6ea8", "#bbbbbb", "#c8553d"])
    for row, j in enumerate(order):
        sv = own[:, j]
        xv = x[:, j]
        lo, hi = np.nanpercentile(xv, [5, 95]) if np.isfinite(xv).any() else (0.0, 1.0)
        scaled = np.clip((xv - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        scaled = np.where(np.isfinite(scaled), scaled, 0.5)
        jitter = _swarm_offsets(sv, rng) * 0.35
        ax.scatter(sv, row + jitter, c=cmap(scaled), s=3, linewidths=0, rasterized=True, alpha=0.8)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(order)), ylabels)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    _title(fig, "How each feature pushes customers into their segment (SHAP)")
    sm = matplotlib.cm.ScalarMappable(cmap=cmap)
    bar = fig.colorbar(sm, ax=ax, shrink=0.7, pad=0.02, fraction=0.03, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("Feature value")
    bar.outline.set_visible(False)
    c.save(
        fig,
        "shap_beeswarm",
        "SHAP values of every sampled customer",
        f"Beeswarm plot of SHAP values of {len(own):,} sampled customers for their own "
        "segment, one row per feature, coloured from low (blue) to high (red) feature value.",
    )


def _swarm_offsets(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertical offsets in [-1, 1] that grow with local density (a cheap beeswarm)."""
    if len(values) == 0:
        return values
    hist, edges = np.histogram(values, bins=40)
    idx = np.clip(np.digitize(values, edges[1:-1]), 0, len(hist) - 1)
    density = hist[idx] / max(hist.max(), 1)
    return rng.uniform(-1, 1, len(values)) * density


def _drivers(c: _Ctx) -> None:
    for s in c.segments:
        if not s.drivers:
            continue
        drivers = s.drivers[:6][::-1]
        arrows = {"+": " ▲", "-": " ▼"}
        labels = [
            _wrap(f"{wording.label(d.feature)}{arrows.get(d.direction, '')}", 22) for d in drivers
        ]
        row = 0.34 if any("\n" in x for x in labels) else 0.22
        left_margin = _text_width([line for x in labels for line in x.split("\n")])
        xlabel = "\n".join(
            _fits(line, 3.35 - left_margin - 0.12)
            for line in ("Share of what sets them apart", "▲ higher / ▼ lower values point here")
        )
        extra = 0.15 * (xlabel.count("\n") - 1)
        fig = _figure(
            3.35,
            0.9 + row * len(drivers) + extra,
            left=left_margin,
            right=0.12,
            top=0.3,
            bottom=0.6 + extra,
        )
        ax = fig.add_subplot()
        vals = [d.share for d in drivers]
        ax.barh(range(len(drivers)), vals, color=c.colour[s.id], height=0.65)
        ax.set_yticks(range(len(drivers)), labels, fontsize=SMALL_PT)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(xlabel, fontsize=SMALL_PT)
        ax.tick_params(axis="x", labelsize=SMALL_PT)
        fig.suptitle("Drivers (SHAP)", x=0.02, ha="left", fontsize=TEXT_PT, fontweight="bold")
        slug = segment_slug(s)
        c.save(
            fig,
            f"drivers_{slug}",
            f"Drivers of {c.names[s.id]}",
            f"Bar chart of the {len(drivers)} features that most decide membership of "
            f"{c.names[s.id]}, led by {wording.label(s.drivers[0].feature)}.",
        )


def _lime(c: _Ctx) -> None:
    for s in c.segments:
        if not s.lime_examples:
            continue
        ex = s.lime_examples[0]
        weights = sorted(ex.weights, key=lambda w: abs(w.weight))[-6:]
        if not weights:
            continue
        labels = [_wrap(w.condition or wording.label(w.feature), 24) for w in weights]
        row = 0.34 if any("\n" in x for x in labels) else 0.22
        left_margin = _text_width([line for x in labels for line in x.split("\n")])
        xlabel = _fits("Effect on the chance of this segment", 3.35 - left_margin - 0.12)
        extra = 0.15 * xlabel.count("\n")
        fig = _figure(
            3.35,
            0.75 + row * len(weights) + extra,
            left=left_margin,
            right=0.12,
            top=0.3,
            bottom=0.45 + extra,
        )
        ax = fig.add_subplot()
        vals = [w.weight for w in weights]
        colours = [c.colour[s.id] if v >= 0 else "#9a9a9a" for v in vals]
        ax.barh(range(len(weights)), vals, color=colours, height=0.65)
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set_yticks(range(len(weights)), labels)
        ax.tick_params(axis="y", labelsize=SMALL_PT)
        ax.tick_params(axis="x", labelsize=SMALL_PT)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
        ax.set_xlabel(xlabel, fontsize=SMALL_PT)
        fig.suptitle(
            f"Why customer {_short(ex.customer_id, 12)} is here (LIME)",
            x=0.02,
            ha="left",
            fontsize=TEXT_PT,
            fontweight="bold",
        )
        slug = segment_slug(s)
        pos = sum(1 for v in vals if v > 0)
        c.save(
            fig,
            f"lime_{slug}",
            f"Representative customer of {c.names[s.id]} explained",
            f"Bar chart of the LIME explanation for customer {ex.customer_id}: {pos} of "
            f"{len(vals)} conditions push towards {c.names[s.id]} (coloured), the others away "
            "(grey).",
        )


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)[:4]) or str(text)


def _short(text: str, limit: int = 34) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- propensity


def _lift(c: _Ctx) -> None:
    """Response rate by decile of the response propensity (out of fold)."""
    info = c.summary.propensity.get("response")
    if info is None or not info.deciles or info.base_rate is None:
        return
    fig = _figure(3.3, 2.5, left=0.75, bottom=0.6)
    ax = fig.add_subplot()
    x = [d.decile for d in info.deciles]
    rates = [d.rate for d in info.deciles]
    ax.bar(x, rates, color=c.palette[0], width=0.7)
    ax.axhline(info.base_rate, color="#555555", linestyle="--", linewidth=1)
    ax.annotate(
        f"all customers {info.base_rate:.0%}",
        (10.4, info.base_rate),
        xytext=(0, 3),
        textcoords="offset points",
        ha="right",
        fontsize=SMALL_PT,
    )
    ax.text(
        1, rates[0], f"{info.deciles[0].lift:.1f}×", ha="center", va="bottom", fontsize=SMALL_PT
    )
    ax.set_xticks(x)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("Tenth of customers by propensity\n(1 = most likely)")
    ax.set_ylabel("Responded to the\nlast campaign")
    ax.set_title("Response by propensity tenth")
    c.save(
        fig,
        "lift",
        "Response rate by tenth of customers, most likely first",
        f"Bar chart of the share who responded in each tenth of {info.cv_rows:,} customers "
        f"ranked by predicted propensity (out of fold): {rates[0]:.0%} in the top tenth, "
        f"{info.deciles[0].lift:.1f} times the {info.base_rate:.0%} of all customers; "
        f"{rates[-1]:.0%} in the bottom tenth.",
    )


def _calibration(c: _Ctx) -> None:
    """Predicted against observed response, per tenth of the predictions."""
    info = c.summary.propensity.get("response")
    if info is None or not info.calibration:
        return
    fig = _figure(3.3, 2.4, left=0.6)
    ax = fig.add_subplot()
    pred = [b.predicted for b in info.calibration]
    seen = [b.observed for b in info.calibration]
    top = max(pred + seen) * 1.05
    ax.plot([0, top], [0, top], color="#999999", linestyle="--", linewidth=1)
    ax.plot(pred, seen, marker="o", markersize=3.5, color=c.palette[0], linewidth=1.2)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("Predicted chance (mean of a tenth)")
    ax.set_ylabel("Observed response")
    ax.set_title("Calibration: predicted vs observed")
    c.save(
        fig,
        "calibration",
        "Calibration of the response propensity",
        f"Line chart of the observed response against the mean predicted chance in each "
        f"tenth of customers (out of fold); points on the dashed diagonal are exact. Mean "
        f"gap {info.calibration_error:.1%}.",
    )
