"""The persona brief: what an executive reads first on a segment's page.

A headline (how much of the value the segment holds against how many customers it is), a
"so what" (the one action to take first and what it is expected to bring), the risks that
the numbers show, and the trend since the previous run when there is one. Every sentence is
made from figures already in the summary (sizes, KPIs with their intervals and signal tests,
the ranked recommendations, the boundary shares, the month-over-month changes), so the brief
never says more than the data does.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .. import wording
from ..result import Brief, Recommendation, Segment, Summary

#: share of spend / share of customers from which a segment is "worth more than its number"
RICH = 1.5
#: ... and below which it is worth less
POOR = 1 / RICH
#: share of a segment's customers near a boundary from which the brief warns of movement
NEAR_SHARE = 0.25

#: KPIs where higher is worse: field, what it means in words
_WORSE = {
    "retention_risk": "more of them have not bought for a while (retention risk)",
    "complaint_rate": "they complain more often",
}


def _pct(value: float) -> str:
    """23% for shares of 10 % and more, 5.7% below."""
    return wording.percent(value, 0 if value >= 0.1 or value == 0 else 1)


def _money(value: float, currency: str = "") -> str:
    text = wording.signed(value) if value < 0 else wording.number(value)
    return f"{text}\u00a0{currency}" if currency else text


def _spread(value, currency: str) -> str:
    """' (95 % range 42 to 69 EUR)' of an expected value, or '' without a range."""
    low_high = value.expected_value_interval
    if not low_high:
        return ""
    return f" (95 % range {_money(low_high[0])} to {_money(low_high[1], currency)})"


def _worse(seg: Segment, summary: Summary) -> list[tuple[str, str]]:
    """(KPI, its meaning) where the segment is clearly worse than average and the KPI has
    signal in this data."""
    return [
        (field, words)
        for field, words in _WORSE.items()
        if seg.kpis.versus_average.get(field) == "above"
        and (summary.kpi_tests.get(field) is None or summary.kpi_tests[field].signal)
    ]


def _currency(summary: Summary | None) -> str:
    if summary is None:
        return ""
    return str(summary.run.config.get("report", {}).get("currency") or "")


def headline(seg: Segment) -> str:
    """Value against headcount, in one line."""
    share = seg.share
    spend = seg.kpis.revenue_share if seg.kpis is not None else None
    if spend is None or not share:
        return f"{_pct(share)} of customers"
    ratio = spend / share
    if ratio >= RICH:
        return (
            f"{_pct(share)} of customers bring {_pct(spend)} of spend: worth {ratio:.1f}× "
            "their number"
        )
    if ratio <= POOR:
        return f"{_pct(share)} of customers, but only {_pct(spend)} of spend"
    return f"{_pct(share)} of customers and {_pct(spend)} of spend"


def primary(seg: Segment) -> Recommendation | None:
    """The one action the page leads with: the segment's most valuable recommendation
    (they are kept in order of expected value), else its first."""
    return seg.recommendations[0] if seg.recommendations else None


def so_what(seg: Segment, currency: str = "") -> str:
    first = primary(seg)
    if first is None:
        return "No campaign rule fits this segment: keep it in the regular programme."
    action = first.action.rstrip(".")
    value = first.value
    if value is None:
        return f"Do first: {action}. Its value is not estimated (no response model)."
    spread = _spread(value, currency)
    if value.expected_value <= 0:
        return (
            f"Best option: {action}, but at the assumed costs it is expected to lose "
            f"{_money(-value.expected_value, currency)}{spread}: test it small or not at all."
        )
    return (
        f"Do first: {action}. Expected extra profit {_money(value.expected_value, currency)}"
        f"{spread}, "
        f"contacting {value.targeted:,} customers."
    )


def risks(seg: Segment, summary: Summary) -> list[str]:
    """What could go wrong, from the figures: worse-than-average KPIs with signal, customers
    near a boundary, a test that cannot run, an expected value that may be a loss."""
    out = []
    kpis = seg.kpis
    if kpis is not None:
        for field, words in _worse(seg, summary):
            everyone = getattr(summary.everyone, field, None) if summary.everyone else None
            against = f" ({_pct(getattr(kpis, field))} against {_pct(everyone)})"
            out.append(f"Than the average customer, {words}{against if everyone else ''}.")
    near = (summary.boundary or {}).get("per_segment", {}).get(str(seg.id))
    if near is not None and near >= NEAR_SHARE:
        out.append(
            f"{_pct(near)} of them sit close to another segment: some will move between months."
        )
    first = primary(seg)
    if first is not None:
        if not first.ab_test.feasible:
            out.append("Its first campaign cannot be proven by an A/B test at this size.")
        value = first.value
        interval = value.expected_value_interval if value is not None else []
        if value is not None and value.expected_value > 0 and interval and interval[0] < 0:
            out.append("The expected value's range includes a loss.")
    return out


def trend(seg: Segment, summary: Summary) -> str:
    """Size since the previous run, when there is one ("" otherwise)."""
    changes = summary.changes
    if changes is None:
        return ""
    change = next((c for c in changes.segments if c.id == seg.id), None)
    if change is None or change.status == "vanished":
        return ""
    if change.status == "new":
        return f"New since {changes.previous_period}."
    moved = change.share_change or 0.0
    noise = change.share_noise or 0.0
    if abs(moved) <= noise:
        return f"Since {changes.previous_period}: about the same share of customers."
    grew = "grew" if moved > 0 else "shrank"
    return (
        f"Since {changes.previous_period}: {grew} by {abs(moved) * 100:.1f} percentage points "
        f"({change.size_change:+,} customers)."
    )


def write_briefs(summary: Summary) -> None:
    """Fill `segment.brief` for every segment and the summary's insights (in place); call
    once names and changes are final."""
    views = [
        SimpleNamespace(name=s.persona.name, share=s.share, revenue_share=s.kpis.revenue_share)
        for s in _described(summary)
    ]
    summary.concentration = concentration(views) or ""
    summary.insights = insights(summary)
    for seg in summary.segments:
        seg.brief = Brief(
            headline=headline(seg),
            so_what=so_what(seg, _currency(summary)),
            risks=risks(seg, summary),
            trend=trend(seg, summary),
        )


def concentration(views: list[Any]) -> str | None:
    """The sentence the sizes and spend shares say loudest, when they say it: the segments
    whose customers spend most each, taken until they bring half of all spending, if they
    are clearly fewer of the customers (spend share at least 1.5 times their customer
    share); None otherwise. From summary.json's sizes and KPIs alone."""
    ranked = sorted(
        (v for v in views if v.revenue_share == v.revenue_share and v.share > 0),
        key=lambda v: v.revenue_share / v.share,  # spend per customer, relative to average
        reverse=True,
    )
    top: list[Any] = []
    for view in ranked:
        top.append(view)
        if sum(v.revenue_share for v in top) >= 0.5:
            break
    spend, customers = sum(v.revenue_share for v in top), sum(v.share for v in top)
    if not top or len(top) == len(views) or spend < 0.5 or spend < 1.5 * customers:
        return None
    names = [v.name for v in top]
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    are, bring = ("is", "brings") if len(names) == 1 else ("are", "bring")
    return (
        f"{who} {are} {wording.percent(customers)} of customers but {bring} "
        f"{wording.percent(spend)} of all spending."
    )


def _described(summary: Summary) -> list[Segment]:
    return [s for s in summary.segments if s.persona is not None and s.kpis is not None]


def insights(summary: Summary) -> list[str]:
    """Three to five sentences for the executive summary, each from figures in the summary:
    where the value is concentrated (`summary.concentration`), the most valuable campaign,
    the biggest risk, what the data shows no signal for, and the largest change since last
    month."""
    segments = _described(summary)
    currency = _currency(summary)
    out = [summary.concentration] if summary.concentration else []
    ranked = [(r.rank, r, s) for s in segments for r in s.recommendations if r.rank]
    if ranked:
        _rank, best, seg = min(ranked, key=lambda t: t[0])
        value = best.value
        if value is not None and value.expected_value > 0:
            out.append(
                f"The most valuable campaign: {best.action[0].lower() + best.action[1:]} for "
                f"{seg.persona.name}, expected extra profit "
                f"{_money(value.expected_value, currency)}"
                f"{_spread(value, currency)} from contacting {value.targeted:,} customers."
            )
    for seg in sorted(segments, key=lambda s: -s.kpis.revenue_share):
        worse = [words for _field, words in _worse(seg, summary)]
        if worse:
            out.append(
                f"The biggest risk: {seg.persona.name} ({_pct(seg.kpis.revenue_share)} of "
                f"spend) — {' and '.join(worse)} than the average customer."
            )
            break
    quiet = [wording.KPIS[k][0] for k, t in summary.kpi_tests.items() if not t.signal]
    quiet = quiet[:1] + [q[0].lower() + q[1:] for q in quiet[1:]]
    if quiet:
        listed = ", ".join(quiet[:-1]) + " and " + quiet[-1] if len(quiet) > 1 else quiet[0]
        verb = "do" if len(quiet) > 1 else "does"
        out.append(f"{listed} {verb} not differ between segments in this data: no finding there.")
    if summary.changes is not None and summary.changes.highlights:
        out.append(summary.changes.highlights[0])
    return out[:5]
