"""Plain-language labels, units and number formats shared by the charts and the templates."""

from __future__ import annotations

import math

from . import schema
from .schema import ENGINEERED

#: feature -> (short label, unit shown on axes); units are currency-neutral ("spend").
FEATURES: dict[str, tuple[str, str]] = {
    "Income": ("Income", "per year"),
    "TotalSpend": ("Total spend", "spend, 2 years"),
    "Age": ("Age", "years"),
    "Children": ("Children at home", "count"),
    "IsParent": ("Parent", "share"),
    "Tenure": ("Customer for", "days"),
    "Recency": ("Days since last purchase", "days"),
    "CampaignEngagement": ("Earlier campaigns accepted", "of 5"),
    "TotalPurchases": ("Purchases", "count, 2 years"),
    "AvgPurchaseValue": ("Spend per purchase", "spend"),
    "WebShare": ("Web share (customer average)", "%"),
    "CatalogShare": ("Catalogue share (customer average)", "%"),
    "StoreShare": ("Store share (customer average)", "%"),
    "DealsShare": ("Discount share (customer average)", "%"),
    "NumWebVisitsMonth": ("Web visits per month", "visits"),
    "NumDealsPurchases": ("Discounted purchases", "count"),
    "NumWebPurchases": ("Web purchases", "count"),
    "NumCatalogPurchases": ("Catalogue purchases", "count"),
    "NumStorePurchases": ("Store purchases", "count"),
    "MntWines": ("Wine spend", "spend"),
    "MntFruits": ("Fruit spend", "spend"),
    "MntMeatProducts": ("Meat spend", "spend"),
    "MntFishProducts": ("Fish spend", "spend"),
    "MntSweetProducts": ("Sweets spend", "spend"),
    "MntGoldProds": ("Gold spend", "spend"),
    "Kidhome": ("Small children", "count"),
    "Teenhome": ("Teenagers", "count"),
    "AcceptedCmp1": ("Accepted campaign 1", "share"),
    "AcceptedCmp2": ("Accepted campaign 2", "share"),
    "AcceptedCmp3": ("Accepted campaign 3", "share"),
    "AcceptedCmp4": ("Accepted campaign 4", "share"),
    "AcceptedCmp5": ("Accepted campaign 5", "share"),
    "Complain": ("Complained", "share"),
    "Response": ("Accepted last campaign", "share"),
    "Churned": ("Churned", "share"),
    "Year_Birth": ("Year of birth", "year"),
    "Education": ("Education", ""),
    "Marital_Status": ("Marital status", ""),
}

#: Every KPI, defined once: field -> (name, definition, unit). The population is always
#: the segment's customers without a data issue (sizes count every customer). The persona
#: pages, the glossary and the e-mail use these names; {days} is
#: kpis.retention_recency_days.
KPIS: dict[str, tuple[str, str, str]] = {
    "customer_share": ("Share of customers", "customers in the segment ÷ all customers", "%"),
    "revenue_share": (
        "Share of spend",
        "the segment's spend in the last two years ÷ all customers' spend",
        "%",
    ),
    "avg_spend": (
        "Average spend (2 years)",
        "mean spend on all product categories in the last two years",
        "spend",
    ),
    "median_spend": (
        "Median spend (2 years)",
        "half the customers spent less, half more (spend is skewed: a few big spenders lift "
        "the average); from the fit sample",
        "spend",
    ),
    "avg_income": ("Average income", "mean yearly household income", "per year"),
    "response_rate": (
        "Response to last campaign",
        "share who accepted the last campaign's offer (the outcome; never a clustering input)",
        "%",
    ),
    "any_campaign_acceptance": (
        "Accepted earlier campaigns",
        "share who accepted at least one of campaigns 1–5 (the clustering feature "
        "'Earlier campaigns accepted' counts them)",
        "%",
    ),
    "retention_risk": (
        "Retention risk",
        "share whose last purchase was more than {days} days before the reference date",
        "%",
    ),
    "complaint_rate": ("Complaints", "share who complained in the last two years", "%"),
    "deals_share": (
        "Discount share of purchases",
        "discounted purchases ÷ web, catalogue and store purchases (a discounted purchase "
        "is also one of those)",
        "%",
    ),
    "channel_mix": (
        "Channel mix",
        "web, catalogue and store purchases, each ÷ all three; the preferred channel is the "
        "one used most relative to all customers",
        "%",
    ),
}


def kpi_name(field: str) -> str:
    return KPIS[field][0]


_SHARES = {"WebShare", "CatalogShare", "StoreShare", "DealsShare"}
_DASH = "–"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def label(feature: str) -> str:
    """Short human label of a feature (one-hot columns 'Education=PhD' -> 'Education: PhD')."""
    if feature in FEATURES:
        return FEATURES[feature][0]
    if "=" in feature:
        column, value = feature.split("=", 1)
        return f"{label(column)}: {value}"
    if feature in schema.COLUMNS:
        return schema.COLUMNS[feature][1]
    return feature.replace("_", " ")


def unit(feature: str) -> str:
    return FEATURES.get(feature, ("", ""))[1]


def axis_label(feature: str) -> str:
    """Label with its unit for chart axes ("Age (years)")."""
    u = unit(feature)
    return f"{label(feature)} ({u})" if u else label(feature)


def meaning(feature: str) -> str:
    """One-line definition for the data dictionary."""
    if feature in ENGINEERED:
        return ENGINEERED[feature]
    if feature in schema.COLUMNS:
        return schema.COLUMNS[feature][1]
    if "=" in feature:
        column, value = feature.split("=", 1)
        return f"{label(column)} is {value} (one-hot)"
    return label(feature)


def number(value: float | int | None, digits: int = 0) -> str:
    """1234567.8 -> '1,234,568'; None/NaN -> '–'."""
    if _missing(value):
        return _DASH
    return f"{value:,.{digits}f}"


def compact(value: float | None) -> str:
    """Short form for big numbers: 1234 -> '1,234', 56400 -> '56.4k', 2.1e6 -> '2.1M'."""
    if _missing(value):
        return _DASH
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if a >= 1e4:
        return f"{value / 1e3:,.1f}k"
    if a >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def signed(value: float | None, digits: int = 0) -> str:
    """An amount with its sign: 239.4 -> '+239', -61 -> '−61', 0 -> '0'."""
    if _missing(value):
        return _DASH
    text = f"{abs(value):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return text
    return ("+" if value > 0 else "−") + text


def percent(value: float | None, digits: int = 0) -> str:
    """0.2345 -> '23%' (digits=0) or '23.5%'."""
    if _missing(value):
        return _DASH
    return f"{value * 100:,.{digits}f}%"


def feature_value(feature: str, value: float | None) -> str:
    """A feature value in its unit, formatted for people."""
    if _missing(value):
        return _DASH
    if feature in _SHARES or unit(feature) == "share":
        return percent(value)
    if unit(feature) == "year":
        return f"{value:.0f}"
    if feature in ("Income", "TotalSpend", "AvgPurchaseValue") or feature.startswith("Mnt"):
        return number(value)
    if abs(value) >= 100:
        return number(value)
    return number(value, 1)


def index_text(ratio: float | None) -> str:
    """Segment value / overall value in words: 1.42 -> '+42% vs average', 3.4 -> '3.4× average'."""
    if _missing(ratio):
        return ""
    change = (ratio - 1) * 100
    if abs(change) < 5:
        return "about average"
    if ratio >= 3:
        return f"{ratio:.1f}× average"
    return f"{change:+,.0f}% vs average"
