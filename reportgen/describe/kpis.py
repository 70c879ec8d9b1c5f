"""What each segment is worth: size, shares, spend, response, retention risk, channels.

KPIs count every customer assigned to the segment (outliers excluded from fitting included),
so sizes add up to the file and `customer_share` / `revenue_share` each sum to 1. They are
computed from merged per-segment sums (aggregates.py), so they cover every customer of a
table read in chunks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..result import Kpis
from ..scoring.aggregates import BINS, CAMPAIGNS, SegmentTotals
from . import intervals as iv

#: channel -> purchase column. Deals are not a channel of their own: discounted purchases
#: are also counted in the web, catalogue or store column (see features.py).
CHANNELS = {
    "web": "NumWebPurchases",
    "catalog": "NumCatalogPurchases",
    "store": "NumStorePurchases",
}


def preferred_channel(mix: dict[str, float], population: dict[str, float]) -> str:
    """The channel (web, catalog or store) this segment uses most *relative to* all
    customers: highest ratio of its share to the population's share. Discounts are not a
    channel (a discounted purchase is also a web, catalogue or store purchase): they are the
    deals share."""
    ratios = {c: mix[c] / population[c] for c in mix if population.get(c)}
    if not ratios:
        return max(mix, key=mix.get) if mix else "store"
    return max(ratios, key=lambda c: (ratios[c], c))


#: rate KPI -> (column summed, or the SegmentTotals count attribute)
RATES = {
    "response_rate": "Response",
    "any_campaign_acceptance": "any_campaign",
    "retention_risk": "recency_over",
    "complaint_rate": "Complain",
}
#: mean KPI -> column
MEANS = {"avg_spend": "TotalSpend", "avg_income": "Income"}


def successes(totals: SegmentTotals, kpi: str) -> np.ndarray | None:
    """[k] customers counted by a rate KPI (None when the file lacks its column)."""
    source = RATES[kpi]
    if hasattr(totals, source):
        return np.asarray(getattr(totals, source), dtype=float)
    if source not in totals.columns:
        return None
    return totals.sums[:, totals.columns.index(source)]


def _intervals(totals: SegmentTotals, out: dict[int, Kpis]) -> None:
    """95 % intervals and the comparison with all customers, for every segment (in place)."""
    everyone = kpis_from_totals(totals.pooled(), intervals=False)[0]
    columns = {c: i for i, c in enumerate(totals.columns)}
    spend = columns.get("TotalSpend")
    all_spend = float(totals.sums[:, spend].sum()) if spend is not None else 0.0
    all_squares = float(totals.squares[:, spend].sum()) if spend is not None else 0.0
    counted = {kpi: successes(totals, kpi) for kpi in RATES}
    for i, s in enumerate(totals.segment_ids):
        kpis, n = out[int(s)], float(totals.count[i])
        if n == 0:
            continue
        found = {"customer_share": iv.wilson(float(totals.sizes[i]), totals.n)}
        for kpi, hits in counted.items():
            if hits is not None:
                found[kpi] = iv.wilson(float(hits[i]), n)
        for kpi, column in MEANS.items():
            if column in columns:
                j = columns[column]
                found[kpi] = iv.mean_interval(totals.sums[i, j], totals.squares[i, j], n)
        if spend is not None:
            found["revenue_share"] = iv.share_of_sum_interval(
                float(totals.sums[i, spend]),
                float(totals.squares[i, spend]),
                all_spend,
                all_squares,
            )
        kpis.intervals.update({k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in found.items()})
        # spend share against customer share: does the segment bring more than its headcount?
        average = {"revenue_share": kpis.customer_share}
        average.update({k: getattr(everyone, k) for k in [*RATES, *MEANS]})
        kpis.versus_average = {
            k: iv.differs(v, average.get(k)) for k, v in found.items() if k in average
        }


def kpis_from_totals(totals: SegmentTotals, intervals: bool = True) -> dict[int, Kpis]:
    """KPIs per segment id from merged per-segment sums (see aggregates.py), with their 95 %
    intervals and how each compares with all customers (`intervals=False`: the figures only)."""
    columns = {c: i for i, c in enumerate(totals.columns)}
    n = totals.n
    total_spend = float(totals.sums[:, columns["TotalSpend"]].sum())

    def mix_of(sums: np.ndarray) -> tuple[dict[str, float], float]:
        found = {c: float(sums[columns[col]]) for c, col in CHANNELS.items() if col in columns}
        total = sum(found.values())
        mix = {c: (v / total if total else 0.0) for c, v in found.items()}
        deals = float(sums[columns["NumDealsPurchases"]]) / total if total else 0.0
        return mix, min(deals, 1.0)

    pop_mix, pop_deals = mix_of(totals.sums.sum(axis=0))
    population = {**pop_mix, "deals": pop_deals}
    earlier = [c for c in CAMPAIGNS if c in columns]
    out = {}
    for i, s in enumerate(totals.segment_ids):
        # size: every customer of the segment; figures: those without a data issue (used)
        sums, size, used = totals.sums[i], int(totals.sizes[i]), int(totals.count[i])

        def rate(column: str, sums=sums, size=used) -> float:
            return float(sums[columns[column]]) / size if column in columns and size else 0.0

        mix, deals = mix_of(sums)
        out[int(s)] = Kpis(
            size=size,
            customer_share=size / n if n else 0.0,
            revenue_share=float(sums[columns["TotalSpend"]]) / total_spend if total_spend else 0.0,
            avg_spend=rate("TotalSpend"),
            response_rate=rate("Response"),
            campaign_acceptance={c: rate(c) for c in earlier},
            any_campaign_acceptance=float(totals.any_campaign[i]) / used
            if earlier and used
            else 0.0,
            retention_risk=float(totals.recency_over[i]) / used if used else 0.0,
            complaint_rate=rate("Complain"),
            preferred_channel=preferred_channel(mix, population),
            main_channel=max(mix, key=lambda c: (mix[c], c)) if mix else None,
            channel_mix=mix,
            deals_share=deals,
            avg_income=rate("Income") if size else None,
        )
    _scores(totals, out)
    if intervals:
        _intervals(totals, out)
    return out


def responders_interval(total: float, squares: float) -> tuple[float, float]:
    """95 % range of the responders among customers with these chances (sum p, sum p²): the
    count is a sum of independent yes/no outcomes, variance sum p(1 - p)."""
    sd = float(np.sqrt(max(total - squares, 0.0)))
    return max(total - 1.96 * sd, 0.0), total + 1.96 * sd


def _scores(totals: SegmentTotals, out: dict[int, Kpis]) -> None:
    """The propensity KPIs (in place), when the run has propensity models."""
    response, churn = totals.scores.get("propensity"), totals.scores.get("churn_risk")
    half = BINS // 2
    for i, s in enumerate(totals.segment_ids):
        kpis, used = out[int(s)], int(totals.count[i])
        if not used:
            continue
        if response is not None:
            kpis.propensity = float(response.sums[i]) / used
            kpis.expected_responders = float(response.sums[i])
            lo, hi = responders_interval(float(response.sums[i]), float(response.squares[i]))
            kpis.intervals["expected_responders"] = [round(lo, 3), round(hi, 3)]
            kpis.intervals["propensity"] = [round(lo / used, 6), round(hi / used, 6)]
        if churn is not None:
            kpis.churn_risk = float(churn.sums[i]) / used
            kpis.churn_at_risk = int(churn.counts[i, half:].sum())
            kpis.revenue_at_risk = float(churn.spend[i])


def segment_kpis(
    features: pd.DataFrame,
    labels: np.ndarray,
    segment_ids: list[int],
    recency_days: int,
) -> dict[int, Kpis]:
    """KPIs per segment id. `features` holds business features (original units) per customer."""
    totals = SegmentTotals.from_chunk(
        features, features.iloc[:, :0], np.asarray(labels), list(segment_ids), recency_days
    )
    return kpis_from_totals(totals)


def population_kpis(k: Kpis) -> dict[str, float]:
    """All customers' KPIs (`k`: those of the pooled totals, summary.everyone) as the flat
    figures the personas compare segments with."""
    return {
        "avg_spend": k.avg_spend,
        "response_rate": k.response_rate,
        "retention_risk": k.retention_risk,
        "complaint_rate": k.complaint_rate,
        "any_campaign_acceptance": k.any_campaign_acceptance or 0.0,
        "deals_share": k.deals_share or 0.0,
        **{f"channel_{c}": v for c, v in k.channel_mix.items()},
    }
