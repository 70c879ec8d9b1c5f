"""The report structure: what the templates show, built from the result alone.

Turns an `Analysis` (plus chart files and a brand) into plain values for the Jinja templates:
sections, segments with their KPIs against the average, tables for the methodology and the
appendix. Numbers stay numbers here; the templates format them with the filters in
`templating.py`. Nothing in here is escaped or trusted: autoescaping happens in the templates.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import schema, wording
from ..result import Kpis, Segment, Summary
from ..schema import ENGINEERED
from .brand import Brand, ink
from .figures import ChartInfo, revenue_shares, segment_names, segment_slug


@dataclass
class Figure:
    """A chart ready for a template: `src` is a data: URI (or a relative file URL)."""

    name: str
    src: str
    title: str
    alt: str


@dataclass
class KpiRow:
    label: str
    value: str
    average: str
    #: segment value / average, for the bar (None: no bar)
    ratio: float | None
    note: str = ""
    #: True when higher is worse (retention risk, complaints): the bar turns red above average
    higher_is_worse: bool = False


@dataclass
class SegmentView:
    id: int
    name: str
    slug: str
    anchor: str
    colour: str
    #: the colour darkened for text on white
    ink: str
    size: int
    share: float
    revenue_share: float
    segment: Segment
    kpi_rows: list[KpiRow] = field(default_factory=list)
    top_recommendation: str = ""
    figures: dict[str, Figure] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)
    categories: list[tuple[str, str, float]] = field(default_factory=list)


def data_uri(path: Path) -> str:
    mime = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figures(charts: dict[str, ChartInfo], folder: Path) -> dict[str, Figure]:
    """Charts as data URIs, so the HTML is self-contained and WeasyPrint fetches nothing."""
    return {
        name: Figure(name, data_uri(folder / info.file), info.title, info.alt)
        for name, info in charts.items()
    }


def overall_kpis(segments: list[Segment]) -> dict[str, float]:
    """Size-weighted averages of the segment KPIs (the 'average customer')."""
    with_kpis = [s for s in segments if s.kpis is not None]
    total = sum(s.kpis.size for s in with_kpis)  # type: ignore[union-attr]
    if not total:
        return {}
    out: dict[str, float] = {}
    for key in ("avg_spend", "response_rate", "retention_risk", "complaint_rate", "avg_income"):
        vals = [(getattr(s.kpis, key), s.kpis.size) for s in with_kpis]  # type: ignore[union-attr]
        vals = [(v, n) for v, n in vals if v is not None and math.isfinite(v)]
        if vals:
            out[key] = sum(v * n for v, n in vals) / sum(n for _, n in vals)
    acc = [(_acceptance(s.kpis), s.kpis.size) for s in with_kpis]  # type: ignore[arg-type,union-attr]
    acc = [(v, n) for v, n in acc if v is not None]
    if acc:
        out["campaign_acceptance"] = sum(v * n for v, n in acc) / sum(n for _, n in acc)
    return out


def _acceptance(kpis: Kpis) -> float | None:
    """Share who accepted at least one earlier campaign (else the mean per campaign)."""
    anyone = getattr(kpis, "any_campaign_acceptance", None)
    if anyone is not None:
        return anyone
    values = [v for v in kpis.campaign_acceptance.values() if v is not None]
    return sum(values) / len(values) if values else None


def _ratio(value: float | None, average: float | None) -> float | None:
    if value is None or average is None or not average or not math.isfinite(value):
        return None
    return value / average


def kpi_rows(kpis: Kpis, avg: dict[str, float]) -> list[KpiRow]:
    """The persona page's 'key figures against the average' table."""
    rows = [
        KpiRow(
            "Share of spend",
            wording.percent(kpis.revenue_share),
            wording.percent(kpis.customer_share),
            _ratio(kpis.revenue_share, kpis.customer_share),
            "average = its share of customers",
        ),
        KpiRow(
            "Average spend (2 years)",
            wording.number(kpis.avg_spend),
            wording.number(avg.get("avg_spend")),
            _ratio(kpis.avg_spend, avg.get("avg_spend")),
        ),
    ]
    if kpis.avg_income is not None:
        rows.append(
            KpiRow(
                "Average income",
                wording.number(kpis.avg_income),
                wording.number(avg.get("avg_income")),
                _ratio(kpis.avg_income, avg.get("avg_income")),
            )
        )
    acc = _acceptance(kpis)
    rows += [
        KpiRow(
            "Response to last campaign",
            wording.percent(kpis.response_rate, 1),
            wording.percent(avg.get("response_rate"), 1),
            _ratio(kpis.response_rate, avg.get("response_rate")),
        ),
        KpiRow(
            "Accepted earlier campaigns",
            wording.percent(acc, 1),
            wording.percent(avg.get("campaign_acceptance"), 1),
            _ratio(acc, avg.get("campaign_acceptance")),
            "≥ 1 of campaigns 1–5"
            if getattr(kpis, "any_campaign_acceptance", None) is not None
            else "average of campaigns 1–5",
        ),
        KpiRow(
            "Retention risk",
            wording.percent(kpis.retention_risk),
            wording.percent(avg.get("retention_risk")),
            _ratio(kpis.retention_risk, avg.get("retention_risk")),
            "no recent purchase",
            higher_is_worse=True,
        ),
        KpiRow(
            "Complaints",
            wording.percent(kpis.complaint_rate, 1),
            wording.percent(avg.get("complaint_rate"), 1),
            _ratio(kpis.complaint_rate, avg.get("complaint_rate")),
            higher_is_worse=True,
        ),
    ]
    mix = ", ".join(
        f"{channel} {wording.percent(share)}"
        for channel, share in sorted(kpis.channel_mix.items(), key=lambda kv: -kv[1])
    )
    rows.append(KpiRow("Preferred channel", kpis.preferred_channel, "", None, mix))
    return rows


def segment_views(
    summary: Summary, figs: dict[str, Figure], palette: list[str]
) -> list[SegmentView]:
    segs = sorted(summary.segments, key=lambda s: s.id)
    names = segment_names(summary)
    revenue = revenue_shares(summary)
    avg = overall_kpis(segs)
    views, seen = [], set()
    for s in segs:
        slug = segment_slug(s)
        while slug in seen:
            slug = f"{slug}-{s.id}"
        seen.add(slug)
        view = SegmentView(
            id=s.id,
            name=names[s.id],
            slug=slug,
            anchor=f"persona-{slug}",
            colour=palette[s.id % len(palette)],
            ink=ink(palette[s.id % len(palette)]),
            size=s.size,
            share=s.share,
            revenue_share=revenue[s.id],
            segment=s,
            kpi_rows=kpi_rows(s.kpis, avg) if s.kpis else [],
            top_recommendation=s.recommendations[0].action if s.recommendations else "",
            traits=list(s.persona.traits) if s.persona else _fallback_traits(s),
            categories=_top_categories(s),
        )
        for key in ("drivers", "lime"):
            name = f"{key}_{segment_slug(s)}"
            if name in figs:
                view.figures[key] = figs[name]
        views.append(view)
    return views


def _fallback_traits(segment: Segment) -> list[str]:
    """Until personas exist: the features furthest from average, in words."""
    rel = {
        f: r
        for f, r in segment.relative.items()
        if f in wording.FEATURES and f not in ("Year_Birth",) and math.isfinite(r)
    }
    top = sorted(rel, key=lambda f: abs(math.log(max(rel[f], 1e-3))), reverse=True)[:4]
    return [
        f"{wording.label(f)}: {wording.feature_value(f, segment.profile.get(f))} "
        f"({wording.index_text(rel[f])})"
        for f in top
    ]


def _top_categories(segment: Segment) -> list[tuple[str, str, float]]:
    out = []
    for column, shares in segment.categories.items():
        if shares:
            value, share = max(shares.items(), key=lambda kv: kv[1])
            out.append((wording.label(column), value, share))
    return out


def headline(s: Summary, views: list[SegmentView]) -> list[tuple[str, str, str]]:
    """The executive summary's headline numbers: (value, label, note)."""
    out = [
        (wording.number(s.data_quality.rows_in), "customers analysed", _period_note(s.run.period)),
        (str(s.model.k), "segments", f"silhouette {s.model.metrics.get('silhouette', 0):.2f}"),
    ]
    kpis = [seg.kpis for seg in s.segments if seg.kpis is not None]
    spend = response = None
    if kpis and len(kpis) == len(s.segments):
        spend = sum(k.avg_spend * k.size for k in kpis)
        response = sum(k.response_rate * k.size for k in kpis) / max(sum(k.size for k in kpis), 1)
    if spend is not None:
        out.append((wording.compact(spend), "total spend", "2 years"))
    if response is not None:
        out.append((wording.percent(response, 1), "responded", "last campaign"))
    if views:
        top = max(views, key=lambda v: v.revenue_share)
        out.append(
            (
                wording.percent(top.revenue_share),
                f"of spend from {top.name}",
                f"{wording.percent(top.share)} of customers",
            )
        )
    return out


def _period_note(period: str | None) -> str:
    return f"period {period}" if period else ""


def data_dictionary(summary: Summary) -> list[tuple[str, str, str, str]]:
    """(name, header in the file, kind, meaning) for input columns and engineered features."""
    matched = summary.data_quality.columns_matched
    rows = []
    for name, (kind, meaning) in schema.COLUMNS.items():
        if name in matched or not matched:
            rows.append((name, matched.get(name, name), kind, meaning))
    for name, meaning in ENGINEERED.items():
        rows.append((name, "(derived)", "feature", meaning))
    return rows


def to_toml(data: dict[str, Any]) -> str:
    """The effective configuration as TOML (unset values shown as comments)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            items = [f"{_key(k)} = {value(x)}" for k, x in v.items() if x is not None]
            return "{ " + ", ".join(items) + " }" if items else "{}"
        return str(v)

    def section(prefix: str, d: dict[str, Any]) -> None:
        def is_table(v: Any) -> bool:
            # every top-level setting group is a [table]; deeper maps of maps too
            nested = isinstance(v, dict) and any(isinstance(x, dict) for x in v.values())
            return isinstance(v, dict) and (not prefix or nested)

        simple = {k: v for k, v in d.items() if not is_table(v)}
        if prefix:
            lines.append(f"\n[{prefix}]")
            if not d:
                lines.append("# (none)")
        for k, v in simple.items():
            lines.append(f"# {k} = (not set)" if v is None else f"{_key(k)} = {value(v)}")
        for k, v in d.items():
            if is_table(v):
                section(f"{prefix}.{_key(k)}" if prefix else _key(k), v)

    section("", data)
    return "\n".join(lines).strip() + "\n"


def halves(text: str) -> list[str]:
    """Split TOML text in two at the section header nearest its middle (for two columns)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("[") and i > 0]
    if not starts:
        return [text]
    cut = min(starts, key=lambda i: abs(i - len(lines) / 2))
    return ["\n".join(lines[:cut]).strip() + "\n", "\n".join(lines[cut:]).strip() + "\n"]


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else f'"{k}"'


def samples(s: Summary) -> list[str]:
    """Which figures come from samples, in words."""
    out = [note for note in s.model.samples.values() if note]
    shap = getattr(s.explanations, "shap", None) or {}
    sample, explained = shap.get("chart_sample"), shap.get("rows_explained")
    if sample and explained and sample < explained:
        out.append(
            f"SHAP summary charts drawn for a sample of {sample:,} of the {explained:,} "
            "explained customers (stratified by segment); segment drivers use all of them."
        )
    lime = getattr(s.explanations, "lime", None) or {}
    if lime.get("examples_per_segment"):
        out.append(
            f"LIME explains {lime['examples_per_segment']} representative customers per "
            "segment (those nearest its centre); the persona pages show the first."
        )
    return out


def build_context(
    s: Summary,
    charts: dict[str, ChartInfo],
    chart_folder: Path,
    brand: Brand,
    palette: list[str],
    report: Any,
    logo_uri: str | None,
) -> dict[str, Any]:
    """Everything the templates need (the `report` config section gives title, paper, author).

    The documents read the summary alone; per-customer tables only feed the charts."""
    figs = figures(charts, chart_folder)
    views = segment_views(s, figs, palette)
    return {
        "summary": s,
        "run": s.run,
        "dq": s.data_quality,
        "model": s.model,
        "explanations": s.explanations,
        "changes": s.changes,
        "segments": views,
        "figures": figs,
        "headline": headline(s, views),
        "overall_kpis": overall_kpis(list(s.segments)),
        "dictionary": data_dictionary(s),
        "config_toml": to_toml(s.run.config),
        "config_toml_columns": halves(to_toml(s.run.config)),
        "samples": samples(s),
        "features": [(f, wording.label(f), wording.meaning(f)) for f in s.model.features],
        "brand": brand,
        "logo": logo_uri,
        "title": report.title,
        "author": report.author,
        "subject": report.subject,
        "paper": report.paper,
        "source": Path(s.run.input_path).name,
    }
