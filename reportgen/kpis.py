"""What each segment is worth: size, shares, spend, response, retention risk, channels.

KPIs count every customer assigned to the segment (outliers excluded from fitting included),
so sizes add up to the file and `customer_share` / `revenue_share` each sum to 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .result import Kpis

#: channel -> purchase column. Deals are not a channel of their own: discounted purchases
#: are also counted in the web, catalogue or store column (see features.py).
CHANNELS = {
    "web": "NumWebPurchases",
    "catalog": "NumCatalogPurchases",
    "store": "NumStorePurchases",
}
CAMPAIGNS = ["AcceptedCmp1", "AcceptedCmp2", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5"]


def _rate(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].mean()) if column in frame and len(frame) else 0.0


def channel_mix(frame: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Purchase shares over web/catalog/store (sum 1) and the share bought with a discount."""
    totals = {c: float(frame[col].sum()) for c, col in CHANNELS.items() if col in frame}
    total = sum(totals.values())
    mix = {c: (v / total if total else 0.0) for c, v in totals.items()}
    deals = float(frame["NumDealsPurchases"].sum()) / total if total else 0.0
    return mix, min(deals, 1.0)


def preferred_channel(mix: dict[str, float], deals: float, population: dict[str, float]) -> str:
    """The channel (web, catalog, store or deals) this segment uses most *relative to* all
    customers: highest ratio of its share to the population's share."""
    ratios = {c: mix[c] / population[c] for c in mix if population.get(c)}
    if population.get("deals"):
        ratios["deals"] = deals / population["deals"]
    if not ratios:
        return max(mix, key=mix.get) if mix else "store"
    return max(ratios, key=lambda c: (ratios[c], c))


def segment_kpis(
    features: pd.DataFrame,
    labels: np.ndarray,
    segment_ids: list[int],
    recency_days: int,
) -> dict[int, Kpis]:
    """KPIs per segment id. `features` holds business features (original units) per customer."""
    labels = np.asarray(labels)
    n = len(features)
    total_spend = float(features["TotalSpend"].sum())
    pop_mix, pop_deals = channel_mix(features)
    population = {**pop_mix, "deals": pop_deals}
    out = {}
    for s in segment_ids:
        members = features.loc[labels == s]
        size = len(members)
        mix, deals = channel_mix(members)
        earlier = [c for c in CAMPAIGNS if c in members]
        out[int(s)] = Kpis(
            size=size,
            customer_share=size / n if n else 0.0,
            revenue_share=float(members["TotalSpend"].sum()) / total_spend if total_spend else 0.0,
            avg_spend=float(members["TotalSpend"].mean()) if size else 0.0,
            response_rate=_rate(members, "Response"),
            campaign_acceptance={c: _rate(members, c) for c in earlier},
            any_campaign_acceptance=float((members[earlier].sum(axis=1) > 0).mean())
            if earlier and size
            else 0.0,
            retention_risk=float((members["Recency"] > recency_days).mean()) if size else 0.0,
            complaint_rate=_rate(members, "Complain"),
            preferred_channel=preferred_channel(mix, deals, population),
            main_channel=max(mix, key=lambda c: (mix[c], c)) if mix else None,
            channel_mix=mix,
            deals_share=deals,
            avg_income=float(members["Income"].mean()) if size else None,
        )
    return out


def population_kpis(features: pd.DataFrame, recency_days: int) -> dict[str, float]:
    """The same KPIs for all customers (the 'average customer' the segments compare to)."""
    k = segment_kpis(features, np.zeros(len(features), dtype=int), [0], recency_days)[0]
    return {
        "avg_spend": k.avg_spend,
        "response_rate": k.response_rate,
        "retention_risk": k.retention_risk,
        "complaint_rate": k.complaint_rate,
        "any_campaign_acceptance": k.any_campaign_acceptance or 0.0,
        "deals_share": k.deals_share or 0.0,
        **{f"channel_{c}": v for c, v in k.channel_mix.items()},
    }
