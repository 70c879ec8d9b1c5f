"""TEST FIXTURE ONLY: a month-over-month comparison shaped like monthly operations' `Changes`,
for rendering the executive summary's "changes" block without running two periods."""

from __future__ import annotations

from reportgen.result import Analysis, Changes, Migration, SegmentChange


def fake_changes(a: Analysis) -> Changes:
    """Plausible changes against an invented previous period 2024-05."""
    segs = sorted(a.summary.segments, key=lambda s: s.id)
    ids = [s.id for s in segs]
    names = {s.id: s.persona.name if s.persona else f"Segment {s.id}" for s in segs}
    prev = [max(1, int(s.size * (0.9 + 0.05 * i))) for i, s in enumerate(segs)]
    counts = [[p if i == j else 3 for j in range(len(ids))] for i, p in enumerate(prev)]
    total = sum(map(sum, counts))
    stayed = sum(counts[i][i] for i in range(len(ids)))
    return Changes(
        previous_period="2024-05",
        previous_run_id=1,
        previous_created_at="2024-05-31T10:00:00+00:00",
        mode="refit",
        match_threshold=1.5,
        customers=sum(s.size for s in segs),
        previous_customers=sum(prev),
        segments=[
            SegmentChange(
                id=s.id,
                name=names[s.id],
                status="matched",
                size=s.size,
                previous_size=p,
                size_change=s.size - p,
                share=s.share,
                previous_share=p / sum(prev),
                share_change=s.share - p / sum(prev),
            )
            for s, p in zip(segs, prev, strict=True)
        ],
        migration=Migration(
            from_ids=ids,
            to_ids=ids,
            names=names,
            counts=counts,
            in_both=total,
            stayed=stayed,
            moved=total - stayed,
            new_customers=40,
            departed_customers=12,
        ),
        highlights=[f"{names[ids[0]]} grew by {segs[0].size - prev[0]:,} customers."],
    )
