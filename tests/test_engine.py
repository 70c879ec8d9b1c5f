"""Unit tests of the engine steps: cleaning, features, k choice, K-Means, stability, model.json."""

import numpy as np
import pandas as pd
import pytest

from reportgen.config import load_config
from reportgen.errors import InputError
from reportgen.fitting.segment import KScore, choose_k, fit_final, stability
from reportgen.input.load import load_customers
from reportgen.scoring.clean import (
    apply_cleaning,
    excluded_counts,
    fit_cleaning,
    fit_outliers,
    outlier_reasons,
)
from reportgen.scoring.features import design_matrix, engineer, fit_design
from reportgen.scoring.model import build_model, check_model
from reportgen.scoring.score import assign, nearest_two


@pytest.fixture(scope="module")
def small(small_file):
    return load_customers(small_file, load_config(environ={})).frame


def test_cleaning_imputes_merges_and_drops(small):
    frame = small.copy()
    frame.loc[[0, 1, 2], "Income"] = np.nan
    frame.loc[5, "Marital_Status"] = "YOLO"
    frame.loc[6, "Marital_Status"] = "Absurd"
    config = load_config(environ={}).cleaning
    rules = fit_cleaning(frame, config)
    assert rules.impute_numeric["Income"] == pytest.approx(frame["Income"].median())
    assert set(rules.dropped_columns) == {"Z_CostContact", "Z_Revenue"}
    cleaned, report = apply_cleaning(frame, rules)
    assert report.imputed["Income"] == frame["Income"].isna().sum()
    assert cleaned["Income"].isna().sum() == 0
    assert cleaned.loc[0, "Income"] == pytest.approx(frame["Income"].median())
    assert report.categories_merged["Marital_Status"]["YOLO"] >= 1
    assert report.categories_merged["Marital_Status"]["Absurd"] >= 1
    assert not cleaned["Marital_Status"].isin(["YOLO", "Absurd", "Alone"]).any()
    assert "Z_CostContact" not in cleaned and "Z_Revenue" not in cleaned


def test_iqr_fences_match_hand_computation():
    features = pd.DataFrame({"Income": [10.0, 20, 30, 40, 50, 1000], "Age": [30.0] * 5 + [5]})
    bounds = fit_outliers(features, ["Income", "Age"], 1.5)
    q1, q3 = np.percentile(features["Income"], [25, 75])
    assert bounds.bounds["Income"] == pytest.approx((q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)))
    reasons = outlier_reasons(features, bounds)
    assert reasons.tolist()[-1] == "Income above IQR fence"  # first column named wins
    assert excluded_counts(reasons) == {"Income above IQR fence": 1}
    only_age = features.assign(Income=[10.0, 20, 30, 40, 50, 60])
    assert excluded_counts(outlier_reasons(only_age, bounds)) == {"Age below IQR fence": 1}


def test_engineered_features_by_hand(small):
    rules = fit_cleaning(small, load_config(environ={}).cleaning)
    cleaned, _ = apply_cleaning(small, rules)
    ref = pd.Timestamp("2014-12-31")
    f = engineer(cleaned, ref)
    row = cleaned.iloc[0]
    spend = sum(
        row[c]
        for c in [
            "MntWines",
            "MntFruits",
            "MntMeatProducts",
            "MntFishProducts",
            "MntSweetProducts",
            "MntGoldProds",
        ]
    )
    purchases = row["NumWebPurchases"] + row["NumCatalogPurchases"] + row["NumStorePurchases"]
    assert f.loc[0, "Age"] == 2014 - row["Year_Birth"]
    assert f.loc[0, "TotalSpend"] == spend
    assert f.loc[0, "Tenure"] == (ref - row["Dt_Customer"]).days
    assert f.loc[0, "Children"] == row["Kidhome"] + row["Teenhome"]
    accepted = sum(row[f"AcceptedCmp{i}"] for i in range(1, 6)) + row["Response"]
    assert f.loc[0, "CampaignEngagement"] == accepted
    assert f.loc[0, "TotalPurchases"] == purchases
    if purchases:
        assert f.loc[0, "WebShare"] == pytest.approx(row["NumWebPurchases"] / purchases)
    shares = f[["WebShare", "CatalogShare", "StoreShare"]].sum(axis=1)
    buyers = f["TotalPurchases"] > 0
    assert np.allclose(shares[buyers], 1.0)  # the three channels partition purchases
    assert f["DealsShare"].between(0, 1).all()


def test_minmax_design_is_in_unit_range_on_fitted_rows(small):
    config = load_config(environ={})
    rules = fit_cleaning(small, config.cleaning)
    cleaned, _ = apply_cleaning(small, rules)
    f = engineer(cleaned, cleaned["Dt_Customer"].max())
    mask = np.ones(len(f), bool)
    spec = fit_design(f, cleaned, ["Income", "TotalSpend", "Marital_Status"], "minmax", 0.5, mask)
    X = design_matrix(spec, f, cleaned)
    assert X[:, :2].min() == pytest.approx(0) and X[:, :2].max() == pytest.approx(1)
    assert set(np.unique(X[:, 2:])) <= {0.0, 0.5}
    assert (X[:, 2:].sum(axis=1) == 0.5).all()  # exactly one category per row, weighted 0.5
    with pytest.raises(InputError, match="unknown feature"):
        fit_design(f, cleaned, ["Incme"], "minmax", 0.5, mask)


def _scores(inertias, sils):
    return [
        KScore(k=k, inertia=i, silhouette=s, calinski_harabasz=1.0, davies_bouldin=1.0)
        for k, i, s in zip(range(2, 2 + len(inertias)), inertias, sils, strict=True)
    ]


def test_choose_k_elbow_and_silhouette_override():
    inertia = [1000, 500, 250, 230, 215, 205, 198]  # elbow at k = 4
    choice = choose_k(_scores(inertia, [0.5, 0.30, 0.31, 0.30, 0.29, 0.28, 0.27]))
    assert (choice.k, choice.elbow_k, choice.method) == (4, 4, "elbow")
    assert choice.best_silhouette_k == 2
    # a neighbour with a clearly (>10 %) better silhouette replaces the elbow
    choice = choose_k(_scores(inertia, [0.5, 0.40, 0.30, 0.31, 0.29, 0.28, 0.27]))
    assert (choice.k, choice.method) == (3, "elbow+silhouette")


def _blobs(seed=0, n=600):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [5, 5], [0, 5], [5, 0]], float)
    labels = rng.integers(0, 4, n)
    return centers[labels] + rng.normal(0, 0.5, (n, 2)), labels


def test_fit_final_is_deterministic_and_numbered_by_size():
    X, _ = _blobs()
    c1, l1 = fit_final(X, 4, seed=3, n_init=5)
    c2, l2 = fit_final(X, 4, seed=3, n_init=5)
    assert np.array_equal(l1, l2) and np.allclose(c1, c2)
    sizes = np.bincount(l1)
    assert list(sizes) == sorted(sizes, reverse=True)
    labels, dist, _, _ = nearest_two(X, c1)
    assert np.array_equal(labels, l1)
    assert np.allclose(dist, np.linalg.norm(X - c1[labels], axis=1))


def test_stability_separates_structure_from_noise():
    X, _ = _blobs()
    _, labels = fit_final(X, 4, 0, 5)
    assert np.mean(stability(X, labels, 4, 0, 5, 10, 0.8)) > 0.95
    noise = np.random.default_rng(1).random((600, 6))
    _, nl = fit_final(noise, 7, 0, 1)
    assert np.mean(stability(noise, nl, 7, 0, 1, 10, 0.8)) < 0.9


def test_model_assign_reproduces_labels_and_refuses_tampering(small):
    config = load_config(environ={})
    rules = fit_cleaning(small, config.cleaning)
    cleaned, _ = apply_cleaning(small, rules)
    ref = cleaned["Dt_Customer"].max()
    f = engineer(cleaned, ref)
    bounds = fit_outliers(f, ["Income", "Age"], 1.5)
    mask = (outlier_reasons(f, bounds) == "").to_numpy()
    spec = fit_design(f, cleaned, ["Income", "TotalSpend", "Age"], "minmax", 0.5, mask)
    X = design_matrix(spec, f, cleaned)
    centroids, _ = fit_final(X[mask], 3, 0, 5)
    labels, _, _, _ = nearest_two(X, centroids)
    model = build_model(rules, bounds, spec, ref, centroids)
    out = assign(model, small)
    assert np.array_equal(out["segment"].to_numpy(), labels)
    assert out["excluded_from_fit"].to_numpy().tolist() == (~mask).tolist()
    tampered = dict(model, features=["Income", "TotalSpend", "Recency"])
    with pytest.raises(InputError, match="feature list"):
        check_model(tampered)
    edited = dict(model, centroids=(np.asarray(centroids) + 0.1).tolist())
    with pytest.raises(InputError, match="checksum"):
        check_model(edited)
