"""Readable labels and number formats for business features, used in explanations and personas.

Explanations speak in the business's units: "Income 31,336", "Deals share 23%",
"Web visits/month 6.8". Nothing here computes anything beyond formatting.
"""

from __future__ import annotations

import math

from . import wording

#: feature -> kind of value, which decides how it is written. Kinds: money, count, share,
#: years, days, flag. Labels come from `wording`, so explanations and the report use one
#: vocabulary.
KINDS: dict[str, str] = {
    "Income": "money",
    "TotalSpend": "money",
    "AvgPurchaseValue": "money",
    "MntWines": "money",
    "MntFruits": "money",
    "MntMeatProducts": "money",
    "MntFishProducts": "money",
    "MntSweetProducts": "money",
    "MntGoldProds": "money",
    "Age": "years",
    "Year_Birth": "count",
    "Children": "count",
    "Kidhome": "count",
    "Teenhome": "count",
    "IsParent": "share",
    "Recency": "days",
    "Tenure": "days",
    "NumWebVisitsMonth": "count",
    "NumWebPurchases": "count",
    "NumCatalogPurchases": "count",
    "NumStorePurchases": "count",
    "NumDealsPurchases": "count",
    "TotalPurchases": "count",
    "CampaignEngagement": "count",
    "WebShare": "share",
    "CatalogShare": "share",
    "StoreShare": "share",
    "DealsShare": "share",
    "Response": "flag",
    "Complain": "flag",
    "Churned": "flag",
}


def label(feature: str) -> str:
    """Readable name of a feature ("TotalSpend" -> "Total spend"), as the report writes it."""
    return wording.label(feature)


def kind(feature: str) -> str:
    return KINDS.get(feature, "count")


def number(value: float, decimals: int = 0) -> str:
    """12345.6 -> "12,346"; with decimals=1 -> "12,345.6" (the report's one number format)."""
    return wording.number(value, decimals)


def value(feature: str, x: float) -> str:
    """A feature value in its own unit: money and days as integers, shares as percent."""
    k = kind(feature)
    if k == "share":
        return percent(x)
    if k in ("money", "days", "years"):
        return number(x)
    if k == "flag":
        return "yes" if x >= 0.5 else "no"
    return number(x) if float(x).is_integer() else number(x, 1)


def mean_value(feature: str, x: float) -> str:
    """An average of a feature: counts keep one decimal ("0.8 children"), shares as percent."""
    k = kind(feature)
    if k == "share" or k == "flag":
        return percent(x)
    if k in ("money", "days", "years"):
        return number(x)
    return number(x, 1)


def percent(x: float, decimals: int = 0) -> str:
    """0.2345 -> "23%" (the report's one percent format)."""
    return wording.percent(x, decimals)


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
