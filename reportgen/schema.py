"""The default customer-table schema (the retail marketing-campaign table).

Column names in a file match these ignoring case, spaces, underscores and hyphens;
a `[columns]` table in the config maps other headers onto them.
"""

import re

ID = "ID"
ENROLLED = "Dt_Customer"

SPEND_COLUMNS = [
    "MntWines",
    "MntFruits",
    "MntMeatProducts",
    "MntFishProducts",
    "MntSweetProducts",
    "MntGoldProds",
]
PURCHASE_COLUMNS = [
    "NumDealsPurchases",
    "NumWebPurchases",
    "NumCatalogPurchases",
    "NumStorePurchases",
]
CAMPAIGN_COLUMNS = ["AcceptedCmp1", "AcceptedCmp2", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5"]
CATEGORY_COLUMNS = ["Education", "Marital_Status"]

#: canonical name -> (kind, meaning). Kinds: id, int, float, category, date, flag.
COLUMNS: dict[str, tuple[str, str]] = {
    "ID": ("id", "Customer id"),
    "Year_Birth": ("int", "Year of birth"),
    "Education": ("category", "Education level"),
    "Marital_Status": ("category", "Marital status"),
    "Income": ("float", "Yearly household income"),
    "Kidhome": ("int", "Number of small children at home"),
    "Teenhome": ("int", "Number of teenagers at home"),
    "Dt_Customer": ("date", "Date the customer enrolled"),
    "Recency": ("int", "Days since the last purchase"),
    "MntWines": ("float", "Spent on wine in the last 2 years"),
    "MntFruits": ("float", "Spent on fruit in the last 2 years"),
    "MntMeatProducts": ("float", "Spent on meat in the last 2 years"),
    "MntFishProducts": ("float", "Spent on fish in the last 2 years"),
    "MntSweetProducts": ("float", "Spent on sweets in the last 2 years"),
    "MntGoldProds": ("float", "Spent on gold products in the last 2 years"),
    "NumDealsPurchases": ("int", "Purchases made with a discount"),
    "NumWebPurchases": ("int", "Purchases made through the web site"),
    "NumCatalogPurchases": ("int", "Purchases made from a catalogue"),
    "NumStorePurchases": ("int", "Purchases made in a store"),
    "NumWebVisitsMonth": ("int", "Web-site visits in the last month"),
    "AcceptedCmp3": ("flag", "Accepted the offer of campaign 3"),
    "AcceptedCmp4": ("flag", "Accepted the offer of campaign 4"),
    "AcceptedCmp5": ("flag", "Accepted the offer of campaign 5"),
    "AcceptedCmp1": ("flag", "Accepted the offer of campaign 1"),
    "AcceptedCmp2": ("flag", "Accepted the offer of campaign 2"),
    "Complain": ("flag", "Complained in the last 2 years"),
    "Z_CostContact": ("int", "Cost of a contact (constant in the public data set)"),
    "Z_Revenue": ("int", "Revenue of an accepted offer (constant in the public data set)"),
    "Response": ("flag", "Accepted the offer of the last campaign"),
    "Churned": ("flag", "Churned or lapsed (a label some files carry; enables the churn model)"),
}

#: the smallest value a count or number of days may hold: below it a value is impossible,
#: and the file is refused with the row named (money and purchase counts below 0 are kept
#: and excluded from the fit as "negative amount", cleaning.data_issue_codes)
MINIMUM = {
    "Kidhome": 0,
    "Teenhome": 0,
    "Recency": 0,
    "NumWebVisitsMonth": 0,
    "Z_CostContact": 0,
    "Z_Revenue": 0,
}
#: years of birth outside this range are typing errors, not customers
BIRTH_YEARS = (1800, 2100)

OPTIONAL_COLUMNS = {"Z_CostContact", "Z_Revenue", "Complain", "Churned"}
#: labels some files add to the data set's columns (the public file has none of them)
LABEL_COLUMNS = ["Churned"]
#: the 29 columns of the retail marketing-campaign data set
DATA_SET_COLUMNS = [c for c in COLUMNS if c not in LABEL_COLUMNS]
REQUIRED_COLUMNS = [c for c in COLUMNS if c not in OPTIONAL_COLUMNS]
NUMERIC_COLUMNS = [c for c, (kind, _) in COLUMNS.items() if kind in ("int", "float", "flag")]


def normalise_name(name: str) -> str:
    """Key used to match headers: lower case, without spaces, underscores, hyphens or dots."""
    return re.sub(r"[\s_\-.]+", "", str(name)).lower().lstrip("\ufeff")


#: Engineered features (made by features.engineer) and what they mean. Plain data here so the
#: report can describe them without importing the analysis stack.
ENGINEERED = {
    "Age": "Age in years at the reference date",
    "TotalSpend": "Total spent on all product categories in the last 2 years",
    "Tenure": "Days since enrollment at the reference date",
    "CampaignEngagement": (
        "Earlier campaign offers accepted (campaigns 1-5; the last campaign's response is "
        "not counted)"
    ),
    "Children": "Children and teenagers at home",
    "IsParent": "1 when there is at least one child or teenager at home",
    "TotalPurchases": "Purchases on the web site, from the catalogue and in stores",
    "AvgPurchaseValue": "Total spend divided by the number of purchases",
    "WebShare": "Share of purchases made on the web site",
    "CatalogShare": "Share of purchases made from the catalogue",
    "StoreShare": "Share of purchases made in a store",
    "DealsShare": "Share of purchases made with a discount (at most 1)",
}
