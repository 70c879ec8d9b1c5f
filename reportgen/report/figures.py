"""What a chart is, without drawing one: chart records, the chart index, segment names.

Kept apart from charts.py so re-rendering a run with its saved charts never imports
matplotlib.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from ..result import Segment, Summary

LOG = logging.getLogger("reportgen.render")

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
    from .. import __version__

    index = {
        "palette": palette,
        "drawn_by": __version__,
        "charts": [asdict(c) for c in charts.values()],
    }
    path = Path(folder) / "charts" / INDEX_FILE
    path.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")


def read_chart_index(folder: Path) -> tuple[list[str], dict[str, ChartInfo]] | None:
    """The palette and charts a previous `make_charts` wrote into folder/charts/, if any.

    None when there are none, or when another version of reportgen drew them (its charts
    may look different: they are drawn again from the saved data)."""
    from .. import __version__

    path = Path(folder) / "charts" / INDEX_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        charts = {c["name"]: ChartInfo(**c) for c in data["charts"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("drawn_by") != __version__:
        return None
    strangers = [c.file for c in charts.values() if not _own_chart(Path(folder), c.file)]
    if strangers:
        if any((Path(folder) / f).exists() or (Path(folder) / f).is_symlink() for f in strangers):
            LOG.warning(
                "%s: lists %s, which is not a chart of this run — the charts are drawn again",
                path,
                strangers[0][:200],
            )
        return None  # drawn again from the saved data
    return list(data["palette"]), charts


#: the largest chart file a re-render embeds (the real file's largest is about 0.3 MB)
MAX_CHART_BYTES = 20_000_000


def _own_chart(folder: Path, file: str) -> bool:
    """Is `file` a chart this run drew: charts/<name>.svg, a plain file (no symlink), small
    enough? A run folder is data, and may have been edited: its index must not make the
    report embed a file from elsewhere (../, /etc/passwd, a link)."""
    rel = PurePosixPath(file)
    if rel.is_absolute() or len(rel.parts) != 2 or rel.parts[0] != "charts":
        return False
    if rel.suffix != ".svg" or rel.name.startswith("."):
        return False
    charts, path = folder / "charts", folder / rel
    if charts.is_symlink() or path.is_symlink() or not path.is_file():
        return False
    return path.stat().st_size <= MAX_CHART_BYTES


def revenue_shares(summary: Summary) -> dict[int, float]:
    """Share of total spend per segment, from the KPIs (NaN where a segment has none)."""
    return {
        s.id: float(s.kpis.revenue_share) if s.kpis is not None else float("nan")
        for s in sorted(summary.segments, key=lambda s: s.id)
    }
