"""Readable labels and number formats for business features, used in explanations and personas.

Explanations speak in the business's units: "Income 31,336", "Deals share 23%",
"Web visits/month 6.8". Nothing here computes anything beyond formatting.
"""

from __future__ import annotations

import math

#: feature -> (readable label, kind). Kinds: money, count, share, years, days, flag.
FEATURES: dict[str, tuple[str, str]] = {
    "Income": ("Income", "money"),
    "TotalSpend": ("Total spend", "money"),
    "AvgPurchaseValue": ("Average purchase value", "money"),
    "MntWines": ("Wine spend", "money"),
    "MntFruits": ("Fruit spend", "money"),
    "MntMeatProducts": ("Meat spend", "money"),
    "MntFishProducts": ("Fish spend", "money"),
    "MntSweetProducts": ("Sweets spend", "money"),
    "MntGoldProds": ("Gold spend", "money"),
    "Age": ("Age", "years"),
    "Year_Birth": ("Year of birth", "count"),
    "Children": ("Children", "count"),
    "Kidhome": ("Small children", "count"),
    "Teenhome": ("Teenagers", "count"),
    "IsParent": ("Parents", "share"),
    "Recency": ("Days since last purchase", "days"),
    "Tenure": ("Days as customer", "days"),
    "NumWebVisitsMonth": ("Web visits/month", "count"),
    "NumWebPurchases": ("Web purchases", "count"),
    "NumCatalogPurchases": ("Catalogue purchases", "count"),
    "NumStorePurchases": ("Store purchases", "count"),
    "NumDealsPurchases": ("Deal purchases", "count"),
    "TotalPurchases": ("Purchases", "count"),
    "CampaignEngagement": ("Offers accepted", "count"),
    "WebShare": ("Web share", "share"),
    "CatalogShare": ("Catalogue share", "share"),
    "StoreShare": ("Store share", "share"),
    "DealsShare": ("Deals share", "share"),
    "Response": ("Accepted last offer", "flag"),
    "Complain": ("Complained", "flag"),
}


def label(feature: str) -> str:
    """Readable name of a feature ("TotalSpend" -> "Total spend"); unknown names unchanged."""
    return FEATURES.get(feature, (feature, ""))[0]


def kind(feature: str) -> str:
    return FEATURES.get(feature, (feature, "count"))[1]


def number(value: float, decimals: int = 0) -> str:
    """12345.6 -> "12,346"; with decimals=1 -> "12,345.6"; trailing ".0" is kept only if asked."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{decimals}f}"


def value(feature: str, x: float) -> str:
    """A feature value in its own unit: money and days as integers, shares as percent."""
    k = kind(feature)
    if k == "share":
        return f"{100 * x:.0f}%"
    if k in ("money", "days", "years"):
        return number(x)
    if k == "flag":
        return "yes" if x >= 0.5 else "no"
    return number(x) if float(x).is_integer() else number(x, 1)


def mean_value(feature: str, x: float) -> str:
    """An average of a feature: counts keep one decimal ("0.8 children"), shares as percent."""
    k = kind(feature)
    if k == "share" or k == "flag":
        return f"{100 * x:.0f}%"
    if k in ("money", "days", "years"):
        return number(x)
    return number(x, 1)


def percent(x: float, decimals: int = 0) -> str:
    return f"{100 * x:.{decimals}f}%"


def nice_threshold(low: float, high: float) -> float:
    """The roundest number v with low < v <= high (low < high: two adjacent observed values).

    `x >= v` then splits the observed values exactly like `x > low`, so a rule written with v
    has the same precision and recall as the tree it comes from.
    """
    if not high > low:
        raise ValueError("nice_threshold needs low < high")
    span = max(abs(low), abs(high), 1e-12)
    exponent = math.floor(math.log10(span))
    for e in range(exponent, exponent - 12, -1):
        for step in (10.0**e * 5, 10.0**e * 2.5, 10.0**e):
            v = math.floor(high / step) * step
            if v > low and v <= high:
                return float(round(v, 12))
    return float(high)
