"""The report structure: what the templates show, built from the result alone.

Turns an `Analysis` (plus chart files and a brand) into plain values for the Jinja templates:
sections, segments with their KPIs against the average, tables for the methodology and the
appendix. Numbers stay numbers here; the templates format them with the filters in
`templating.py`. Nothing in here is escaped or trusted: autoescaping happens in the templates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import schema, wording
from ..describe.brief import concentration
from ..result import Kpis, KpiTest, Segment, Summary
from ..schema import ENGINEERED
from .brand import Brand, data_uri, ink
from .colours import CHECKED
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
    #: True when higher is worse (retention risk, complaints): the bar turns red when the
    #: segment is clearly above average (and the KPI has signal)
    higher_is_worse: bool = False
    #: the 95 % interval, formatted ("9–14%"), or ""
    interval: str = ""
    #: "above" / "below" the average, "same" when the interval covers it, "" unknown
    versus: str = ""
    #: the KPI does not differ between segments in this data (summary.kpi_tests)
    no_signal: bool = False


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


def figures(charts: dict[str, ChartInfo], folder: Path) -> dict[str, Figure]:
    """Charts as data URIs, so the HTML is self-contained and WeasyPrint fetches nothing."""
    return {
        name: Figure(name, data_uri(folder / info.file), info.title, info.alt)
        for name, info in charts.items()
    }


def overall_kpis(summary: Summary) -> dict[str, float]:
    """The all-customer KPIs every page compares with: `summary.everyone` (computed once,
    from the merged totals). Run folders written before it existed: size-weighted averages
    of the segment KPIs (the same numbers, as every customer is in one segment)."""
    if summary.everyone is not None:
        e = summary.everyone
        out = {k: getattr(e, k) for k in ("avg_spend", "response_rate", "retention_risk")}
        out.update(complaint_rate=e.complaint_rate, avg_income=e.avg_income)
        out["campaign_acceptance"] = _acceptance(e)
        out["total_spend"] = e.avg_spend * e.size
        out["median_spend"] = e.median_spend
        return {k: v for k, v in out.items() if v is not None}
    with_kpis = [s for s in summary.segments if s.kpis is not None]
    total = sum(s.kpis.size for s in with_kpis)  # type: ignore[union-attr]
    if not total:
        return {}
    out = {}
    for key in ("avg_spend", "response_rate", "retention_risk", "complaint_rate", "avg_income"):
        vals = [(getattr(s.kpis, key), s.kpis.size) for s in with_kpis]  # type: ignore[union-attr]
        vals = [(v, n) for v, n in vals if v is not None and math.isfinite(v)]
        if vals:
            out[key] = sum(v * n for v, n in vals) / sum(n for _, n in vals)
    acc = [(_acceptance(s.kpis), s.kpis.size) for s in with_kpis]  # type: ignore[arg-type,union-attr]
    acc = [(v, n) for v, n in acc if v is not None]
    if acc:
        out["campaign_acceptance"] = sum(v * n for v, n in acc) / sum(n for _, n in acc)
    out["total_spend"] = sum(s.kpis.avg_spend * s.kpis.size for s in with_kpis)  # type: ignore[union-attr]
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


def _interval(kpis: Kpis, key: str, fmt) -> str:
    """ "9–14%" / "674–735": the KPI's 95 % interval, or "" when it has none."""
    lo_hi = kpis.intervals.get(key)
    if not lo_hi:
        return ""
    if fmt is wording.number and max(abs(v) for v in lo_hi) >= 10_000:
        fmt = wording.compact  # "33.6k–34.1k": a range must fit beside its value
    lo, hi = (fmt(v) for v in lo_hi)
    unit = "%" if lo.endswith("%") and hi.endswith("%") else ""
    return f"{lo.rstrip('%') if unit else lo}–{hi}"


def kpi_rows(
    kpis: Kpis,
    avg: dict[str, float],
    tests: dict[str, KpiTest] | None = None,
    segment_id: int | None = None,
    names: dict[int, str] | None = None,
) -> list[KpiRow]:
    """The persona page's 'key figures against the average' table: each value with its 95 %
    interval; `versus` says whether the interval leaves the average ("above" / "below") or
    covers it ("same"); a KPI without signal in the data (tests) is marked so, never red;
    a rate that does not differ from another segment's says so in its note."""
    tests = tests or {}

    def twins(key: str) -> str:
        test = tests.get(key)
        if test is None or not test.signal or segment_id is None or not names:
            return ""
        other = [
            names.get(b if a == segment_id else a, "")
            for a, b in test.indistinguishable
            if segment_id in (a, b)
        ]
        return f"≈ {', '.join(other)}" if other else ""

    def row(key, value, average, fmt, note="", worse=False):
        """One KPI's row, named as wording.KPIS defines it."""
        test = tests.get(key)
        note = "; ".join(n for n in (note, twins(key)) if n)
        return KpiRow(
            wording.kpi_name(key),
            fmt(value),
            fmt(average),
            _ratio(value, average),
            note,
            higher_is_worse=worse,
            interval=_interval(kpis, key, fmt),
            versus=kpis.versus_average.get(key, ""),
            no_signal=test is not None and not test.signal,
        )

    pct0, pct1 = wording.percent, lambda v: wording.percent(v, 1)
    rows = [
        row(
            "revenue_share",
            kpis.revenue_share,
            kpis.customer_share,
            pct0,
            "average = its share of customers",
        ),
        row(
            "avg_spend",
            kpis.avg_spend,
            avg.get("avg_spend"),
            wording.number,
        ),
    ]
    if kpis.median_spend is not None:  # spend is skewed: the median says what is typical
        rows.append(
            row(
                "median_spend",
                kpis.median_spend,
                avg.get("median_spend"),
                wording.number,
            )
        )
    if kpis.avg_income is not None:
        rows.append(
            row(
                "avg_income",
                kpis.avg_income,
                avg.get("avg_income"),
                wording.number,
            )
        )
    acc = _acceptance(kpis)
    rows += [
        row(
            "response_rate",
            kpis.response_rate,
            avg.get("response_rate"),
            pct1,
        ),
        row(
            "any_campaign_acceptance",
            acc,
            avg.get("campaign_acceptance"),
            pct1,
            "≥ 1 of campaigns 1–5 (clustering feature)"
            if getattr(kpis, "any_campaign_acceptance", None) is not None
            else "average of campaigns 1–5",
        ),
        row(
            "retention_risk",
            kpis.retention_risk,
            avg.get("retention_risk"),
            pct0,
            worse=True,
        ),
        row(
            "complaint_rate",
            kpis.complaint_rate,
            avg.get("complaint_rate"),
            pct1,
            worse=True,
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
    avg = overall_kpis(summary)
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
            kpi_rows=kpi_rows(s.kpis, avg, summary.kpi_tests, s.id, names) if s.kpis else [],
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


def headline(
    s: Summary, views: list[SegmentView], sentence: str | None, currency: str = ""
) -> list[tuple[str, str, str]]:
    """The executive summary's headline numbers: (value, label, note); the top segment's
    share of spend only when there is no `concentration` sentence saying more."""
    out = [
        (wording.number(s.data_quality.rows_in), "customers analysed", _period_note(s.run.period)),
        # a model metric (silhouette) means nothing to this page's readers: it is in the
        # methodology; what they need is how recent the data is
        (str(s.model.k), "segments", f"data as of {s.data_quality.reference_date}"),
    ]
    everyone = overall_kpis(s)
    spend, response = everyone.get("total_spend"), everyone.get("response_rate")
    if spend is not None:
        label = f"total spend ({currency})" if currency else "total spend"
        out.append((wording.compact(spend), label, "2 years"))
    if response is not None:
        out.append((wording.percent(response, 1), "responded", "last campaign"))
    if views and sentence is None:
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
            "explained fitted customers (stratified by segment); segment drivers use all of them."
        )
    lime = getattr(s.explanations, "lime", None) or {}
    if lime.get("examples_per_segment"):
        out.append(
            f"LIME explains {lime['examples_per_segment']} customers per segment, drawn at "
            "random; the persona pages show the first."
        )
    return out


def action_plan(views: list[SegmentView], top: int = 5) -> list[tuple[Any, SegmentView]]:
    """The report's `top` recommendations by expected value: (recommendation, its segment)."""
    ranked = [(r, v) for v in views for r in v.segment.recommendations if r.rank is not None]
    return sorted(ranked, key=lambda t: t[0].rank)[:top]


def _driver_words(feature: str, coefficient: float) -> str:
    """ "Accepted campaign 5: higher → more likely" / "Marital status Single: more likely"."""
    more = "more likely" if coefficient > 0 else "less likely"
    if "=" in feature:
        column, value = feature.split("=", 1)
        return f"{wording.label(column)} {value}: {more}"
    return f"{wording.label(feature)}: higher → {more}"


def targeting(s: Summary, views: list[SegmentView]) -> dict[str, Any]:
    """The propensity section: both models, per-segment rows and the value assumptions."""
    config = s.run.config.get("recommendations", {})
    out: dict[str, Any] = {"models": s.propensity, "rows": [], "churn_rows": []}
    for name, info in s.propensity.items():
        out[f"{name}_drivers"] = [
            (_driver_words(d.feature, d.coefficient), d.coefficient) for d in info.drivers[:5]
        ]
    response = s.propensity.get("response")
    for v in views:
        k = v.segment.kpis
        if k is None:
            continue
        if k.propensity is not None:
            within = response.within_segment_auc.get(v.id) if response else None
            out["rows"].append((v, k, within))
        if k.churn_risk is not None:
            out["churn_rows"].append((v, k))
    used = {}
    for v in views:
        for r in v.segment.recommendations:
            if r.value is not None:
                used.setdefault(r.action, r.value.assumptions)
    out["campaigns"] = sorted(used.items())
    out["margin"] = config.get("margin")
    out["value"] = config.get("value_per_response")
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
    # the insights come from summary.json; a run saved before they existed: the one
    # sentence the shares give
    insights = s.insights or [c for c in [concentration(views)] if c]
    sentence = s.concentration if s.insights else (insights[0] if insights else None)
    return {
        "summary": s,
        "run": s.run,
        "dq": s.data_quality,
        "model": s.model,
        "explanations": s.explanations,
        "changes": s.changes,
        "segments": views,
        "figures": figs,
        "headline": headline(s, views, sentence, report.currency),
        "concentration": sentence,
        "currency": report.currency,
        "insights": insights,
        "action_plan": action_plan(views),
        "targeting": targeting(s, views),
        "overall_kpis": overall_kpis(s),
        "dictionary": data_dictionary(s),
        "kpi_definitions": [
            (name, text.format(days=s.run.config.get("kpis", {}).get("retention_recency_days", 60)))
            for name, text, _unit in wording.KPIS.values()
        ],
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
        # a file by its name; a database by its URL (password masked) and table or query
        "source": s.run.input_path if "://" in s.run.input_path else Path(s.run.input_path).name,
        #: segments beyond this many may share a look for colour-blind readers (colours.py)
        "colours_checked": CHECKED,
    }
