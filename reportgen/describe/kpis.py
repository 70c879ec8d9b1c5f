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
from ..scoring.aggregates import CAMPAIGNS, SegmentTotals

#: channel -> purchase column. Deals are not a channel of their own: discounted purchases
#: are also counted in the web, catalogue or store column (see features.py).
CHANNELS = {
    "web": "NumWebPurchases",
    "catalog": "NumCatalogPurchases",
    "store": "NumStorePurchases",
}


def preferred_channel(mix: dict[str, float], deals: float, population: dict[str, float]) -> str:
    """The channel (web, catalog, store or deals) this segment uses most *relative to* all
    customers: highest ratio of its share to the population's share."""
    ratios = {c: mix[c] / population[c] for c in mix if population.get(c)}
    if population.get("deals"):
        ratios["deals"] = deals / population["deals"]
    if not ratios:
        return max(mix, key=mix.get) if mix else "store"
    return max(ratios, key=lambda c: (ratios[c], c))


def kpis_from_totals(totals: SegmentTotals) -> dict[int, Kpis]:
    """KPIs per segment id from merged per-segment sums (see aggregates.py)."""
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
        sums, size = totals.sums[i], int(totals.count[i])

        def rate(column: str, sums=sums, size=size) -> float:
            return float(sums[columns[column]]) / size if column in columns and size else 0.0

        mix, deals = mix_of(sums)
        out[int(s)] = Kpis(
            size=size,
            customer_share=size / n if n else 0.0,
            revenue_share=float(sums[columns["TotalSpend"]]) / total_spend if total_spend else 0.0,
            avg_spend=rate("TotalSpend"),
            response_rate=rate("Response"),
            campaign_acceptance={c: rate(c) for c in earlier},
            any_campaign_acceptance=float(totals.any_campaign[i]) / size
            if earlier and size
            else 0.0,
            retention_risk=float(totals.recency_over[i]) / size if size else 0.0,
            complaint_rate=rate("Complain"),
            preferred_channel=preferred_channel(mix, deals, population),
            main_channel=max(mix, key=lambda c: (mix[c], c)) if mix else None,
            channel_mix=mix,
            deals_share=deals,
            avg_income=rate("Income") if size else None,
        )
    return out


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


def population_kpis(totals: SegmentTotals) -> dict[str, float]:
    """The same KPIs for all customers (the 'average customer' the segments compare to)."""
    k = kpis_from_totals(totals.pooled())[0]
    return {
        "avg_spend": k.avg_spend,
        "response_rate": k.response_rate,
        "retention_risk": k.retention_risk,
        "complaint_rate": k.complaint_rate,
        "any_campaign_acceptance": k.any_campaign_acceptance or 0.0,
        "deals_share": k.deals_share or 0.0,
        **{f"channel_{c}": v for c, v in k.channel_mix.items()},
    }
