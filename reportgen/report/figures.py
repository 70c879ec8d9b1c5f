"""What a chart is, without drawing one: chart records, the chart index, segment names.

Kept apart from charts.py so re-rendering a run with its saved charts never imports
matplotlib.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..result import Segment, Summary

#: charts/index.json: the palette the charts were drawn with and their records
INDEX_FILE = "index.json"


@dataclass(frozen=True)
class ChartInfo:
    """One chart file: `file` is relative to the run folder (e.g. 'charts/pca.svg')."""

    name: str
    file: str
    title: str
    alt: str


def segment_names(summary: Summary) -> dict[int, str]:
    """Segment id -> persona name (or 'Segment <id>' before interpretation)."""
    return {s.id: s.persona.name if s.persona else f"Segment {s.id}" for s in summary.segments}


def segment_slug(segment: Segment) -> str:
    """A safe file and anchor name for the segment (from its persona slug)."""
    raw = segment.persona.slug if segment.persona and segment.persona.slug else ""
    slug = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")[:40]
    return slug or f"segment-{segment.id}"


def write_chart_index(folder: Path, palette: list[str], charts: dict[str, ChartInfo]) -> None:
    index = {"palette": palette, "charts": [asdict(c) for c in charts.values()]}
    path = Path(folder) / "charts" / INDEX_FILE
    path.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")


def read_chart_index(folder: Path) -> tuple[list[str], dict[str, ChartInfo]] | None:
    """The palette and charts a previous `make_charts` wrote into folder/charts/, if any."""
    path = Path(folder) / "charts" / INDEX_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        charts = {c["name"]: ChartInfo(**c) for c in data["charts"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all((Path(folder) / c.file).is_file() for c in charts.values()):
        return None
    return list(data["palette"]), charts


def revenue_shares(summary: Summary) -> dict[int, float]:
    """Share of total spend per segment, from the KPIs (NaN where a segment has none)."""
    return {
        s.id: float(s.kpis.revenue_share) if s.kpis is not None else float("nan")
        for s in sorted(summary.segments, key=lambda s: s.id)
    }
