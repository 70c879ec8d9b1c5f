"""Month over month: compare a finished analysis with the previous run.

Builds `result.Changes`: segment sizes and KPI deltas per matched segment, new and vanished
segments, the migration matrix of customers present in both runs (matched by customer id;
new and departed customers counted separately) and 1-3 plain sentences naming the largest
movements for the executive summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from ..fitting.identity import Match, PreviousRun
from ..result import Changes, MetricChange, Migration, Move, Segment, SegmentChange, Summary
from .intervals import Z95

#: how many off-diagonal migration cells `Migration.top_moves` keeps
TOP_MOVES = 10


def segment_name(segment: Segment) -> str:
    return segment.persona.name if segment.persona else f"Segment {segment.id}"


def _delta(previous: object, current: object) -> MetricChange | None:
    numeric = (int, float)
    if isinstance(previous, bool) or isinstance(current, bool):
        return None
    if not isinstance(previous, numeric) or not isinstance(current, numeric):
        return None
    return MetricChange(
        previous=float(previous),
        current=float(current),
        change=round(float(current) - float(previous), 6),
    )


def _deltas(previous: dict, current: dict, keys: list[str] | None = None) -> dict:
    keys = keys if keys is not None else [k for k in current if k in previous]
    out = {}
    for key in keys:
        if key in previous and key in current:
            d = _delta(previous[key], current[key])
            if d is not None:
                out[key] = d
    return out


RATE_KPIS = ["response_rate", "any_campaign_acceptance", "retention_risk", "complaint_rate"]
MEAN_KPIS = ["avg_spend", "avg_income"]


def proportion_noise(p1: float, n1: float, p2: float, n2: float) -> float | None:
    """± 95 % noise of p2 − p1 for two independent proportions."""
    if n1 <= 0 or n2 <= 0:
        return None
    return Z95 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


def _mean_se(kpis: dict, key: str) -> float | None:
    """A mean's standard error from its 95 % interval (normal approximation)."""
    lo_hi = (kpis.get("intervals") or {}).get(key)
    return None if not lo_hi else (lo_hi[1] - lo_hi[0]) / (2 * Z95)


def _with_noise(deltas: dict, previous: dict, current: dict) -> dict:
    """Add the sampling noise to the KPI changes that have one."""
    for key, d in deltas.items():
        noise = None
        if key in RATE_KPIS:
            n1, n2 = previous.get("size", 0), current["size"]
            noise = proportion_noise(d.previous, n1, d.current, n2)
        elif key in MEAN_KPIS:
            a, b = _mean_se(previous, key), _mean_se(current, key)
            noise = None if a is None or b is None else Z95 * math.hypot(a, b)
        if noise is not None:
            d.noise = round(noise, 6)
            d.beyond_noise = abs(d.change) > noise
    return deltas


@dataclass
class Crossed:
    """Customers of both runs counted by (previous segment, current segment), and those in
    only one of them: what the migration matrix is made of, from any engine."""

    pairs: dict[tuple[int, int], int]
    new: int
    departed: int


def cross(current: pd.DataFrame, previous: pd.Series) -> Crossed:
    """`current` has columns customer_id (str) and segment; `previous` maps customer_id -> id."""
    now = pd.Series(current["segment"].to_numpy(), index=current["customer_id"].astype(str))
    before = previous.copy()
    before.index = before.index.astype(str)
    both = now.index.intersection(before.index)
    counted = pd.DataFrame(
        {"before": before.loc[both].to_numpy(), "now": now.loc[both].to_numpy()}
    ).value_counts()
    return Crossed(
        pairs={(int(f), int(t)): int(n) for (f, t), n in counted.items()},
        new=int(len(now.index.difference(before.index))),
        departed=int(len(before.index.difference(now.index))),
    )


def migration(
    crossed: Crossed,
    current_ids: list[int],
    previous_ids: list[int],
    names: dict[int, str],
) -> Migration:
    """The previous -> current segment matrix of the customers present in both runs."""
    table = pd.DataFrame(0, index=previous_ids, columns=current_ids, dtype=int)
    for (f, t), n in crossed.pairs.items():
        if f in table.index and t in table.columns:
            table.loc[f, t] += n
    counts = table.to_numpy(dtype=int)
    in_both = int(counts.sum())
    stayed = int(sum(table.loc[i, i] for i in previous_ids if i in current_ids))
    moves = [
        Move(
            from_id=int(f),
            from_name=names[f],
            to_id=int(t),
            to_name=names[t],
            customers=int(table.loc[f, t]),
        )
        for f in previous_ids
        for t in current_ids
        if f != t and table.loc[f, t] > 0
    ]
    moves.sort(key=lambda m: (-m.customers, m.from_id, m.to_id))
    return Migration(
        from_ids=[int(i) for i in previous_ids],
        to_ids=[int(i) for i in current_ids],
        names={int(i): names[i] for i in {*previous_ids, *current_ids}},
        counts=counts.tolist(),
        in_both=in_both,
        stayed=stayed,
        moved=in_both - stayed,
        new_customers=crossed.new,
        departed_customers=crossed.departed,
        top_moves=moves[:TOP_MOVES],
    )


def compare(
    summary: Summary,
    crossed: Crossed,
    previous: PreviousRun,
    match: Match,
    mode: Literal["refit", "scored"],
) -> Changes:
    """Changes of `summary` (a finished analysis) against `previous`; `crossed` counts the
    customers of both runs (`cross`, or the Spark engine's join)."""
    current = {s.id: s for s in summary.segments}
    features = [f for f in summary.model.features if "=" not in f]
    names = {sid: segment_name(s) for sid, s in current.items()}
    for p in previous.segments:
        names.setdefault(p.id, p.persona or f"Segment {p.id}")

    current_total = sum(s.size for s in summary.segments)
    previous_total = sum(p.size for p in previous.segments)
    rows: list[SegmentChange] = []
    for sid in sorted(current):
        seg = current[sid]
        prev = None if sid in match.new else previous.segment(sid)
        row = SegmentChange(
            id=sid,
            name=names[sid],
            status="new" if prev is None else "matched",
            size=seg.size,
            share=round(seg.share, 6),
        )
        if prev is not None:
            row.previous_size = prev.size
            row.size_change = seg.size - prev.size
            row.previous_share = round(prev.share, 6)
            row.share_change = round(seg.share - prev.share, 6)
            noise = proportion_noise(prev.share, previous_total, seg.share, current_total)
            row.share_noise = None if noise is None else round(noise, 6)
            row.previous_name = prev.persona or f"Segment {prev.id}"
            row.distance = match.distance.get(sid)
            if seg.kpis is not None and prev.kpis:
                now = seg.kpis.model_dump()
                row.kpis = _with_noise(_deltas(prev.kpis, now), prev.kpis, now)
            row.profile = _deltas(prev.profile, seg.profile, features)
        rows.append(row)
    for sid in match.vanished:
        prev = previous.segment(sid)
        if prev is None:
            continue
        rows.append(
            SegmentChange(
                id=sid,
                name=names[sid],
                status="vanished",
                previous_size=prev.size,
                previous_share=round(prev.share, 6),
                previous_name=names[sid],
            )
        )

    mig = migration(crossed, sorted(current), sorted(p.id for p in previous.segments), names)
    changes = Changes(
        previous_period=previous.period,
        previous_run_id=previous.run_id,
        previous_created_at=previous.created_at,
        mode=mode,
        match_threshold=match.threshold,
        matched_on=match.features,
        customers=mig.in_both + mig.new_customers,
        previous_customers=mig.in_both + mig.departed_customers,
        segments=rows,
        new_segments=list(match.new),
        vanished_segments=list(match.vanished),
        migration=mig,
    )
    changes.highlights = highlights(changes)
    return changes


def highlights(changes: Changes) -> list[str]:
    """At most three plain sentences: the largest movements, new/vanished segments, growth."""
    mig = changes.migration
    since = f"since {changes.previous_period}"
    out: list[str] = []
    moves = mig.top_moves
    if moves:
        first = moves[0]
        text = (
            f"{first.customers:,} customer{'s' if first.customers != 1 else ''} moved from "
            f"{first.from_name} to {first.to_name}"
        )
        if len(moves) > 1:
            second = moves[1]
            text += f", and {second.customers:,} from {second.from_name} to {second.to_name}"
        text += (
            f" ({mig.moved:,} of the {mig.in_both:,} customers in both runs changed segment "
            f"{since})."
        )
        out.append(text)
    elif mig.in_both:
        out.append(f"None of the {mig.in_both:,} customers in both runs changed segment {since}.")

    by_id = {s.id: s for s in changes.segments}
    appeared = [by_id[i] for i in changes.new_segments if i in by_id]
    vanished = [by_id[i] for i in changes.vanished_segments if i in by_id]
    parts = []
    if appeared:
        parts.append(
            "new segment"
            + ("s" if len(appeared) > 1 else "")
            + " "
            + " and ".join(f"{s.name} ({s.size:,} customers)" for s in appeared)
        )
    for seg in vanished:
        clause = f"{seg.name} ({seg.previous_size or 0:,} customers last time) no longer appears"
        if seg.id in mig.from_ids and mig.to_ids:
            row = mig.counts[mig.from_ids.index(seg.id)]
            most = max(range(len(row)), key=lambda j: (row[j], -j))
            if row[most]:
                clause += (
                    f"; {row[most]:,} of its customers are now in {mig.names[mig.to_ids[most]]}"
                )
        parts.append(clause)
    if parts:
        sentence = "; ".join(parts)
        out.append(sentence[0].upper() + sentence[1:] + ".")

    moved = [s for s in changes.segments if s.status == "matched" and s.share_change]
    # a share that moved less than its sampling noise is not a movement
    matched = [s for s in moved if s.share_noise is None or abs(s.share_change) > s.share_noise]
    if moved and not matched and len(out) < 3:
        widest = max(s.share_noise or 0.0 for s in moved)
        out.append(
            "No segment's share of customers moved beyond sampling noise "
            f"(±{widest * 100:.1f} points at most) {since}."
        )
    if matched and len(out) < 3:
        # by share, not head count: a file that grew makes every segment bigger
        top = max(matched, key=lambda s: (abs(s.share_change or 0.0), -s.id))
        verb = "rose" if (top.share_change or 0.0) > 0 else "fell"
        out.append(
            f"The share of {top.name} {verb} from {top.previous_share or 0.0:.1%} to "
            f"{top.share or 0.0:.1%} of all customers ({top.previous_size:,} customers in "
            f"{changes.previous_period}, {top.size:,} now)."
        )
    if len(out) < 3 and (mig.new_customers or mig.departed_customers):
        out.append(
            f"{mig.new_customers:,} new customer{'s' if mig.new_customers != 1 else ''} "
            f"joined and {mig.departed_customers:,} from {changes.previous_period} are no "
            "longer in the file."
        )
    return out[:3]
