"""Segment sizes and key figures over the last periods on record (`summary.trends`).

Built from the summaries earlier runs published (history.db keeps each run's segments with
their sizes and KPIs) and this run's summary. Segment ids are stable across months (the
identity matching of fitting/identity.py), so one id is one segment over the window. Below
three periods there is no trend to show: `build` returns None.
"""

from __future__ import annotations

import math
from typing import Any

from .. import wording
from ..result import Summary, Trends, TrendSegment
from .changes import proportion_noise

#: periods shown, this one included
WINDOW = 12
#: fewest periods that make a trend
MIN_PERIODS = 3


def build(past: list[tuple[str, list[dict[str, Any]]]], summary: Summary) -> Trends | None:
    """Trends over `past` ((period, recorded segments), oldest first) and this run."""
    period = summary.run.period
    past = [p for p in past if p[0] != period][-(WINDOW - 1) :]
    if len(past) + 1 < MIN_PERIODS:
        return None
    periods = [p for p, _ in past] + [period]
    rows: dict[int, dict[str, list[float | None]]] = {}
    names: dict[int, str | None] = {}
    current = [
        {
            "id": s.id,
            "size": s.size,
            "share": s.share,
            "persona": s.persona.name if s.persona else None,
            "kpis": s.kpis.model_dump() if s.kpis else {},
        }
        for s in summary.segments
    ]
    for i, (_period, segments) in enumerate([*past, (period, current)]):
        for seg in segments:
            sid = int(seg["id"])
            row = rows.setdefault(
                sid, {k: [None] * len(periods) for k in ("share", "revenue_share", "response")}
            )
            kpis = seg.get("kpis") or {}
            row["share"][i] = _number(seg.get("share"))
            row["revenue_share"][i] = _number(kpis.get("revenue_share"))
            row["response"][i] = _number(kpis.get("response_rate"))
            names[sid] = seg.get("persona") or names.get(sid)
    totals = [_total(segments) for _p, segments in [*past, (period, current)]]
    out = [
        TrendSegment(
            id=sid,
            persona=names.get(sid),
            share=row["share"],
            revenue_share=row["revenue_share"],
            response_rate=row["response"],
        )
        for sid, row in sorted(rows.items())
    ]
    return Trends(periods=periods, segments=out, headline=_headline(periods, out, totals))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _total(segments: list[dict[str, Any]]) -> int:
    return sum(int(s.get("size") or 0) for s in segments)


def _headline(periods: list[str], segments: list[TrendSegment], totals: list[int]) -> str:
    """The largest move in share of customers between the first and the last period, when
    it is larger than sampling noise (95 %, binomial, on each period's customer count)."""
    best: tuple[float, TrendSegment, int] | None = None
    for seg in segments:
        known = [i for i, v in enumerate(seg.share) if v is not None]
        if len(known) < 2 or known[-1] != len(periods) - 1:
            continue
        first, last = known[0], known[-1]
        a, b = seg.share[first], seg.share[last]
        noise = proportion_noise(a, max(totals[first], 1), b, max(totals[last], 1))
        if abs(b - a) > noise and (best is None or abs(b - a) > best[0]):
            best = (abs(b - a), seg, first)
    span = f"{periods[0]} to {periods[-1]}"
    if best is None:
        return (
            f"From {span}, no segment's share of customers moved by more than its noise: "
            "the segments held steady."
        )
    _moved, seg, first = best
    a, b = seg.share[first], seg.share[-1]
    verb = "grew" if b > a else "shrank"
    since = periods[first]
    return (
        f"{seg.persona or f'Segment {seg.id}'} {verb} from {wording.percent(a, 1)} to "
        f"{wording.percent(b, 1)} of customers since {since} — the largest move over the last "
        f"{len(periods) - first} periods."
    )
