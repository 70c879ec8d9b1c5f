"""Synthetic customer tables shaped like the retail marketing-campaign file.

Every row first gets a hidden customer type, then its features are drawn conditional on
that type, so a segmentation of the output finds structure like it does on the real data:

* ``affluent_loyal``: high income, few children, high spend (wine, meat), many catalogue
  and store purchases, few deals and web visits, accept the "premium" campaigns 1 and 5;
* ``digital_responsive``: younger, mid-to-high income, many web visits and web purchases,
  the most campaign-responsive type (campaigns 3, 4 and the last one);
* ``budget_family``: low income, small children at home, very low spend (relatively more
  gold), many web visits and deals, rarely buys from the catalogue;
* ``older_low_engagement``: older, teenagers at home, mid income, moderate spend (mostly
  wine), many deal purchases, rarely accepts an offer.

Within a type, spend grows with income and shrinks with children and a shorter tenure,
purchase counts follow spend, web visits fall with income. The real file's quirks are
reproduced at its rates: ~1% missing ``Income``, an ``Income`` of 666666, birth years
1893/1899/1900, junk marital statuses (``Alone``, ``Absurd``, ``YOLO``), a few extreme
purchase counts, constant ``Z_CostContact``/``Z_Revenue`` and unique but sparse ids.

The parameters below were tuned by comparing summary statistics (means, quantiles, shares
of zeros, category frequencies, correlations) with the real file; no real row is used.
Everything is vectorised numpy: a million rows take 1.5-4 s on a busy 2-core machine.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError

#: Column names in the order of the real file (note: campaigns 3, 4, 5, 1, 2).
COLUMNS: list[str] = [
    "ID",
    "Year_Birth",
    "Education",
    "Marital_Status",
    "Income",
    "Kidhome",
    "Teenhome",
    "Dt_Customer",
    "Recency",
    "MntWines",
    "MntFruits",
    "MntMeatProducts",
    "MntFishProducts",
    "MntSweetProducts",
    "MntGoldProds",
    "NumDealsPurchases",
    "NumWebPurchases",
    "NumCatalogPurchases",
    "NumStorePurchases",
    "NumWebVisitsMonth",
    "AcceptedCmp3",
    "AcceptedCmp4",
    "AcceptedCmp5",
    "AcceptedCmp1",
    "AcceptedCmp2",
    "Complain",
    "Z_CostContact",
    "Z_Revenue",
    "Response",
]

#: Hidden customer types, in the order of the per-type parameter arrays below.
TYPES: tuple[str, ...] = (
    "affluent_loyal",
    "digital_responsive",
    "budget_family",
    "older_low_engagement",
)

#: File extensions write_synthetic understands.
SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".parquet", ".xlsx")

_XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit minus the header row

# --- per-type parameters (index = position in TYPES) -------------------------------------
_TYPE_P = np.array([0.27, 0.13, 0.36, 0.24])

_BIRTH_MU = np.array([1968.0, 1978.0, 1975.0, 1962.0])
_BIRTH_SD = np.array([12.0, 9.0, 10.0, 8.0])
_BIRTH_KID = 3.0  # parents of small children are younger, of teenagers older
_BIRTH_TEEN = -5.0

_INCOME_MU = np.array([74_000.0, 61_000.0, 32_000.0, 53_000.0])
_INCOME_SD = np.array([11_000.0, 12_000.0, 11_000.0, 10_000.0])

_EDUCATION = np.array(["Graduation", "PhD", "Master", "2n Cycle", "Basic"])
_EDUCATION_P = np.array(
    [
        [0.50, 0.27, 0.16, 0.07, 0.00],
        [0.52, 0.20, 0.17, 0.10, 0.01],
        [0.49, 0.15, 0.16, 0.13, 0.07],
        [0.50, 0.27, 0.18, 0.05, 0.00],
    ]
)
_EDUCATION_INCOME = np.array([1.0, 1.05, 1.0, 0.93, 0.6])

_MARITAL = np.array(["Married", "Together", "Single", "Divorced", "Widow"])
_MARITAL_P = np.array(
    [
        [0.37, 0.26, 0.22, 0.11, 0.04],
        [0.33, 0.25, 0.30, 0.10, 0.02],
        [0.40, 0.27, 0.22, 0.09, 0.02],
        [0.40, 0.25, 0.15, 0.13, 0.07],
    ]
)

# P(0, 1, 2 small children) and P(0, 1, 2 teenagers)
_KID_P = np.array([[0.95, 0.05, 0.00], [0.78, 0.21, 0.01], [0.15, 0.80, 0.05], [0.66, 0.32, 0.02]])
_TEEN_P = np.array([[0.72, 0.27, 0.01], [0.70, 0.29, 0.01], [0.68, 0.31, 0.01], [0.05, 0.87, 0.08]])

# log(total spend) = base + slope * (income - mu_type) / 10k + kid/teen/tenure effects + noise
_SPEND_BASE = np.log(np.array([1250.0, 850.0, 75.0, 480.0]))
_SPEND_SLOPE = np.array([0.12, 0.20, 0.25, 0.30])
_SPEND_SD = np.array([0.35, 0.45, 0.60, 0.50])
_SPEND_KID = -0.50
_SPEND_TEEN = -0.05
_SPEND_TENURE = 0.40

# expected share of wine, fruit, meat, fish, sweets, gold in the total
_SHARE = np.array(
    [
        [0.47, 0.045, 0.31, 0.065, 0.045, 0.05],
        [0.56, 0.035, 0.20, 0.055, 0.045, 0.08],
        [0.34, 0.065, 0.27, 0.085, 0.065, 0.12],
        [0.67, 0.035, 0.14, 0.045, 0.035, 0.07],
    ]
)
_SHARE_SD = np.array([0.55, 0.7, 0.6, 0.7, 0.7, 0.8])  # wine .. gold
_SHARE_FRESH_SD = 0.45  # shared noise of fruit, fish and sweets: they go together
# per type: probability of buying nothing at all in each of fruit, fish and sweets
_ZERO_P = np.array([0.06, 0.10, 0.30, 0.15])
_SPEND_CAP = np.array([1500, 200, 1750, 260, 265, 330])

# purchase channels
_STORE_OFFSET = np.array([0.5, -1.0, 0.0, 0.0])
_CATALOG_MULT = np.array([1.15, 0.8, 0.8, 0.9])
_WEB_OFFSET = np.array([0.0, 3.5, 0.0, 1.5])
_DEALS_MU = np.array([0.8, 2.0, 1.2, 2.3])
_VISITS_OFFSET = np.array([0.0, 3.0, 0.3, 0.5])

# campaigns: latent responsiveness r per customer (mean by type);
# logit(accept) = a + b * r + c * z(income) + d * z(log wine spend)
_RESPONSIVE_MU = np.array([0.3, 1.3, -0.6, -0.7])
_CAMPAIGNS = ("AcceptedCmp1", "AcceptedCmp2", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5")
# intercepts calibrated on 300k rows to the real acceptance rates of campaigns 1..5
# (6.4%, 1.3%, 7.3%, 7.5%, 7.3%) and of the last campaign (Response, 14.9%)
_CMP_A = np.array([-4.95, -6.6, -2.59, -4.2, -5.84])
_CMP_B = np.array([1.2, 1.4, 0.4, 1.4, 1.2])
_CMP_C = np.array([1.4, 0.0, 0.0, 0.0, 2.0])
_CMP_D = np.array([0.8, 1.5, 0.0, 1.3, 1.3])
_RESPONSE_A = -2.37

# quirks, as rates per row of the real file (2,240 rows)
_REAL_ROWS = 2240
_MISSING_INCOME = 24
_INCOME_666666 = 1
_INCOME_TAIL = 7  # incomes of 150k-163k
_OLD_BIRTH = 3  # 1893, 1899, 1900
_JUNK_MARITAL = {"Alone": 3, "Absurd": 2, "YOLO": 2}
_EXTREME_CATALOG = 4
_EXTREME_WEB = 4
_EXTREME_DEALS = 7
_COMPLAIN_P = 21 / 2240

_FIRST_DAY = np.datetime64("2012-07-30")
_LAST_DAY = np.datetime64("2014-06-29")


def _count(rows: int, per_real_file: int) -> int:
    """How many rows of a `rows`-row table get a quirk seen `per_real_file` times in 2,240."""
    return int(round(rows * per_real_file / _REAL_ROWS))


def _categorical(rng: np.random.Generator, probs: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """One draw per row from the categorical distribution `probs[kind[row]]` (vectorised)."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(kind.size)
    return (u[:, None] > cum[kind]).sum(axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _check_rows(rows: object) -> int:
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 1:
        raise InputError(
            f"synthetic data: rows must be a whole number of at least 1, got {rows!r}; "
            "use a number such as 2000"
        )
    return int(rows)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(
            f"synthetic data: seed must be a whole number of at least 0, got {seed!r}; "
            "use a number such as 0"
        )
    return int(seed)


#: log-odds of the synthetic churn label (`churn=True`): who has not bought for long, visits
#: the web site often without buying and spends little on wine churns; nothing else matters
CHURN_DRIVERS = {"Recency": 0.045, "NumWebVisitsMonth": 0.45, "MntWines": -0.6}
_CHURN_A = -1.2


def generate(rows: int, seed: int = 0, churn: bool = False) -> pd.DataFrame:
    """Return `rows` synthetic customers with the real file's columns, in its order.

    The same `rows` and `seed` always give an identical frame. `Dt_Customer` is a
    ``dd-mm-yyyy`` string, `Income` a float with NaN for missing values, every other
    numeric column an int64. `churn` adds a `Churned` label drawn from CHURN_DRIVERS (the
    other columns stay identical). Raises InputError when `rows` < 1 or `seed` < 0.
    """
    return generate_with_types(rows, seed, churn)[0]


def _churned(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """The churn label: logit = _CHURN_A + sum of CHURN_DRIVERS x (centred Recency and web
    visits, log(1 + wine spend) centred), drawn with its own random stream."""
    recency = frame["Recency"].to_numpy(dtype=float) - 49
    visits = frame["NumWebVisitsMonth"].to_numpy(dtype=float) - 5
    wine = np.log1p(frame["MntWines"].to_numpy(dtype=float)) - 4.5
    logit = (
        _CHURN_A
        + CHURN_DRIVERS["Recency"] * recency
        + CHURN_DRIVERS["NumWebVisitsMonth"] * visits
        + CHURN_DRIVERS["MntWines"] * wine
    )
    rng = np.random.default_rng([seed, 7])
    return (rng.random(len(frame)) < _sigmoid(logit)).astype(np.int64)


def generate_with_types(
    rows: int, seed: int = 0, churn: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """Like `generate`, plus the hidden customer type of every row (a categorical Series
    over `TYPES`), for checking that a segmentation recovers them."""
    n = _check_rows(rows)
    rng = np.random.default_rng(_check_seed(seed))

    kind = rng.choice(len(TYPES), size=n, p=_TYPE_P)

    # --- demographics --------------------------------------------------------------------
    kids = _categorical(rng, _KID_P, kind)
    teens = _categorical(rng, _TEEN_P, kind)
    birth = rng.normal(_BIRTH_MU[kind], _BIRTH_SD[kind]) + _BIRTH_KID * kids + _BIRTH_TEEN * teens
    birth = np.clip(np.rint(birth), 1940, 1996)
    education = _categorical(rng, _EDUCATION_P, kind)
    marital = _categorical(rng, _MARITAL_P, kind)

    income = rng.normal(_INCOME_MU[kind], _INCOME_SD[kind]) * _EDUCATION_INCOME[education]
    income = np.maximum(income, 1730.0 + rng.exponential(3000.0, n))
    income = np.rint(income)

    n_days = int((_LAST_DAY - _FIRST_DAY).astype(int)) + 1
    day = rng.integers(0, n_days, n)
    tenure = 1.0 - day / (n_days - 1)  # 1 = enrolled on the first day, 0 = on the last
    recency = rng.integers(0, 100, n)

    # --- spend ---------------------------------------------------------------------------
    log_total = (
        _SPEND_BASE[kind]
        + _SPEND_SLOPE[kind] * (income - _INCOME_MU[kind]) / 10_000.0
        + _SPEND_KID * kids
        + _SPEND_TEEN * teens
        + _SPEND_TENURE * (tenure - 0.5)
        + rng.normal(0.0, 1.0, n) * _SPEND_SD[kind]
    )
    total = np.minimum(np.exp(log_total), 2600.0)
    noise = rng.normal(0.0, 1.0, (n, 6)) * _SHARE_SD
    noise[:, [1, 3, 4]] += rng.normal(0.0, _SHARE_FRESH_SD, (n, 1))
    weights = _SHARE[kind] * np.exp(noise)
    weights[:, [1, 3, 4]] *= rng.random((n, 3)) >= _ZERO_P[kind, None]
    share = weights / weights.sum(axis=1, keepdims=True)
    amounts = np.floor(total[:, None] * share + rng.random((n, 6))).astype(np.int64)
    amounts[:, 2] = np.maximum(amounts[:, 2], 1)  # everybody buys some meat, as in the data
    amounts = np.minimum(amounts, _SPEND_CAP)
    spent = amounts.sum(axis=1)
    log_spent = np.log1p(spent)
    z_income = (income - 52_000.0) / 21_000.0

    # --- purchases by channel ------------------------------------------------------------
    store_mu = np.clip(3.0 + 1.6 * (log_spent - 3.9) + _STORE_OFFSET[kind], 1.5, 11.0)
    store = np.clip(rng.poisson(store_mu), 2, 13)
    odd_store = rng.random(n) < 0.01
    store[odd_store] = rng.integers(0, 2, odd_store.sum())

    catalog_mu = (0.4 + spent / 300.0) * _CATALOG_MULT[kind] * np.exp(0.2 * z_income)
    catalog = np.minimum(rng.poisson(catalog_mu), 11)

    web_mu = (
        np.clip(1.6 + 1.1 * (log_spent - 3.9), 0.8, None) + _WEB_OFFSET[kind] + 1.0 * (tenure - 0.5)
    )
    web = np.minimum(1 + rng.poisson(np.maximum(web_mu - 1.0, 0.05)), 11)
    no_web = rng.random(n) < 0.02
    web[no_web] = 0

    deals_mu = (_DEALS_MU[kind] + 0.8 * teens + 1.0 * kids + 0.15 * (web - 4)) * (
        0.6 + 0.8 * tenure
    )
    deals = np.minimum(1 + rng.poisson(np.maximum(deals_mu - 1.0, 0.05)), 13)
    no_deal = rng.random(n) < 0.02
    deals[no_deal] = 0

    income_k = income / 1000.0
    visits_mu = (
        np.clip(10.5 - 0.11 * income_k, 1.5, 6.6)
        + _VISITS_OFFSET[kind]
        + 0.3 * kids
        + 0.25 * (deals - 2)
        + 1.5 * (tenure - 0.5)
    )
    visits = np.clip(np.rint(rng.normal(visits_mu, 1.2)), 1, 9).astype(np.int64)
    odd_visits = rng.random(n) < 0.006
    visits[odd_visits] = rng.choice(np.array([0, 10]), odd_visits.sum())
    very_poor = (income < 9000) & (rng.random(n) < 0.3)
    visits[very_poor] = rng.integers(13, 21, very_poor.sum())

    # --- campaigns -----------------------------------------------------------------------
    responsive = rng.normal(_RESPONSIVE_MU[kind], 1.0)
    z_wine = (np.log1p(amounts[:, 0]) - 4.5) / 2.0
    logits = (
        _CMP_A
        + _CMP_B * responsive[:, None]
        + _CMP_C * z_income[:, None]
        + _CMP_D * z_wine[:, None]
    )
    accepted = (rng.random((n, 5)) < _sigmoid(logits)).astype(np.int64)
    response_logit = (
        _RESPONSE_A
        + 0.8 * responsive
        + 0.6 * accepted.sum(axis=1)
        - 0.02 * (recency - 49)
        + 1.5 * (tenure - 0.5)
    )
    response = (rng.random(n) < _sigmoid(response_logit)).astype(np.int64)
    complain = (rng.random(n) < _COMPLAIN_P).astype(np.int64)

    # --- quirks of the real file ---------------------------------------------------------
    counts = [
        _count(n, c)
        for c in (
            _MISSING_INCOME,
            _INCOME_666666,
            _INCOME_TAIL,
            _OLD_BIRTH,
            *_JUNK_MARITAL.values(),
            _EXTREME_CATALOG,
            _EXTREME_WEB,
            _EXTREME_DEALS,
        )
    ]
    picked = rng.choice(n, size=sum(counts), replace=False)  # the rates add up to 2.5%
    groups = np.split(picked, np.cumsum(counts)[:-1])
    (missing, huge, tail, old, alone, absurd, yolo, x_catalog, x_web, x_deals) = groups
    income[huge] = 666_666.0
    income[tail] = rng.integers(150_000, 163_000, tail.size)
    income[missing] = np.nan
    birth[old] = rng.choice(np.array([1893, 1899, 1900]), old.size)
    marital_names = np.concatenate([_MARITAL, np.array(list(_JUNK_MARITAL))])
    for code, rows_ in enumerate((alone, absurd, yolo), start=len(_MARITAL)):
        marital[rows_] = code
    catalog[x_catalog] = rng.integers(22, 29, x_catalog.size)
    web[x_web] = rng.integers(23, 28, x_web.size)
    deals[x_deals] = 15

    # unique, sparse, unordered ids like the real file's
    ids = rng.permutation(np.cumsum(rng.integers(1, 10, n)) - 1)

    days = np.arange(_FIRST_DAY, _LAST_DAY + np.timedelta64(1, "D"))
    day_text = pd.DatetimeIndex(days).strftime("%d-%m-%Y").to_numpy(dtype=object)

    data = {
        "ID": ids,
        "Year_Birth": birth.astype(np.int64),
        "Education": _EDUCATION.astype(object)[education],
        "Marital_Status": marital_names.astype(object)[marital],
        "Income": income,
        "Kidhome": kids.astype(np.int64),
        "Teenhome": teens.astype(np.int64),
        "Dt_Customer": day_text[day],
        "Recency": recency.astype(np.int64),
        "MntWines": amounts[:, 0],
        "MntFruits": amounts[:, 1],
        "MntMeatProducts": amounts[:, 2],
        "MntFishProducts": amounts[:, 3],
        "MntSweetProducts": amounts[:, 4],
        "MntGoldProds": amounts[:, 5],
        "NumDealsPurchases": deals.astype(np.int64),
        "NumWebPurchases": web.astype(np.int64),
        "NumCatalogPurchases": catalog.astype(np.int64),
        "NumStorePurchases": store.astype(np.int64),
        "NumWebVisitsMonth": visits,
        "Complain": complain,
        "Z_CostContact": np.full(n, 3, dtype=np.int64),
        "Z_Revenue": np.full(n, 11, dtype=np.int64),
        "Response": response,
    }
    for j, name in enumerate(_CAMPAIGNS):
        data[name] = accepted[:, j]
    frame = pd.DataFrame({name: data[name] for name in COLUMNS})
    if churn:
        frame["Churned"] = _churned(frame, seed)
    types = pd.Series(pd.Categorical.from_codes(kind, categories=list(TYPES)), name="type")
    return frame, types


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        # Like the real file: tab-separated, CRLF, unquoted, whole-number incomes, empty when
        # missing. pyarrow writes the same bytes as DataFrame.to_csv(sep="\t",
        # lineterminator="\r\n", float_format="%.0f") about five times faster. Our strings
        # never hold a tab, quote or newline, so quoting_style="none" cannot fail.
        table = pa.Table.from_pandas(frame.astype({"Income": "Int64"}), preserve_index=False)
        options = pacsv.WriteOptions(
            delimiter="\t", eol="\r\n", quoting_style="none", quoting_header="none"
        )
        pacsv.write_csv(table, str(path), options)


def write_synthetic(path: str | Path, rows: int, seed: int = 0, churn: bool = False) -> Path:
    """Write `generate(rows, seed, churn)` to `path` and return the path.

    The format follows the extension: ``.csv``/``.tsv``/``.txt`` are written like the real
    file (tab-separated, CRLF, ``dd-mm-yyyy`` dates), ``.parquet`` and ``.xlsx`` as such.
    The file is written to a temporary file in the same folder and then moved into place
    with ``os.replace``, so a reader never sees half a file; the folder is created when
    missing. Raises InputError for a bad `rows`, `seed` or extension.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{target}: cannot write synthetic data as {suffix or 'a file without extension'!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    if target.is_dir():
        raise InputError(f"{target}: is a folder; give a file name such as {target / 'x.csv'}")
    n = _check_rows(rows)
    _check_seed(seed)
    if suffix == ".xlsx" and n > _XLSX_MAX_ROWS:
        raise InputError(
            f"{target}: an Excel sheet holds at most {_XLSX_MAX_ROWS:,} rows, asked for {n:,}; "
            "write .csv or .parquet instead"
        )
    frame = generate(n, seed, churn)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_frame(frame, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a data file need not be
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
