"""Issue 2 acceptance on the real file: counts, k table, stability, determinism, input variants."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import adjusted_rand_score

from reportgen.cli import cli
from reportgen.config import load_config
from reportgen.input.load import load_customers
from reportgen.pipeline import analyse

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def real_run(real_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "run"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(real_file),
            "--out",
            str(out),
            "--no-report",
            "-q",
            "--period",
            "2026-11",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_segments_csv_covers_every_customer(real_run, real_file):
    segments = pd.read_csv(real_run / "segments.csv")
    source = pd.read_csv(real_file, sep="\t")
    assert len(segments) == 2240
    assert segments["customer_id"].is_unique
    assert set(segments["customer_id"]) == set(source["ID"])
    assert segments["excluded_from_fit"].sum() > 0  # the IQR outliers still get a segment
    assert segments.loc[segments["excluded_from_fit"], "segment"].notna().all()


def test_summary_figures(real_run):
    s = json.loads((real_run / "summary.json").read_text())
    dq = s["data_quality"]
    assert dq["rows_in"] == 2240
    assert dq["imputed"]["Income"] == 24
    excluded = sum(dq["excluded"].values())
    assert excluded > 0 and dq["rows_used_for_fit"] == 2240 - excluded
    # the three impossible birth years and the 666666 income are among the exclusions
    assert dq["excluded"].get("Age above IQR fence", 0) >= 3
    assert dq["categories_merged"]["Marital_Status"] == {"Alone": 3, "Absurd": 2, "YOLO": 2}
    assert set(dq["dropped_columns"]) == {"Z_CostContact", "Z_Revenue"}
    model = s["model"]
    assert [row["k"] for row in model["k_selection"]] == list(range(2, 11))
    for row in model["k_selection"]:
        assert row["inertia"] > 0 and -1 <= row["silhouette"] <= 1
        assert row["calinski_harabasz"] > 0 and row["davies_bouldin"] > 0
    inertias = [row["inertia"] for row in model["k_selection"]]
    assert inertias == sorted(inertias, reverse=True)
    assert 2 <= model["k"] <= 10
    alternatives = [a for a in model["alternatives"] if a["algorithm"] != "kmeans"]
    assert len(alternatives) >= 3
    assert {"gaussian_mixture", "dbscan", "agglomerative"} <= {a["algorithm"] for a in alternatives}
    assert model["metrics"]["stability_ari"] >= 0.9
    assert len(model["stability_scores"]) >= 10
    sizes = [seg["size"] for seg in s["segments"]]
    assert sum(sizes) == 2240 and len(sizes) == model["k"]
    assert sum(seg["share"] for seg in s["segments"]) == pytest.approx(1.0)
    assert s["run"]["input_sha256"] and s["schema_version"]
    for seg in s["segments"]:
        for feature in [
            "Income",
            "TotalSpend",
            "Age",
            "Tenure",
            "CampaignEngagement",
            "Children",
            "MntWines",
            "NumWebVisitsMonth",
            "Recency",
        ]:
            assert feature in seg["profile"] and feature in seg["relative"]


def test_two_runs_are_byte_identical(real_run, real_file, tmp_path):
    again = tmp_path / "again"
    result = CliRunner().invoke(
        cli,
        ["run", "--data", str(real_file), "--out", str(again), "--no-report", "-q"]
        + ["--period", "2026-11"],  # the same period (segments.csv carries it)
    )
    assert result.exit_code == 0, result.output
    assert (again / "segments.csv").read_bytes() == (real_run / "segments.csv").read_bytes()


def _labels(path, config) -> pd.Series:
    analysis = analyse(load_customers(path, config), config)
    c = analysis.customers
    return pd.Series(c["segment"].to_numpy(), index=c["customer_id"].astype(str))


@pytest.fixture(scope="module")
def variants(real_file, tmp_path_factory):
    """The real data rewritten in other dialects, encodings and date formats."""
    folder = tmp_path_factory.mktemp("variants")
    df = pd.read_csv(real_file, sep="\t", dtype=str, keep_default_na=False)
    dates = pd.to_datetime(df["Dt_Customer"], format="%d-%m-%Y")
    out = {}
    out["comma"] = folder / "comma.csv"
    df.to_csv(out["comma"], index=False)
    out["semicolon_ddmmyyyy"] = folder / "semi.csv"
    df.assign(Dt_Customer=dates.dt.strftime("%d/%m/%Y")).to_csv(
        out["semicolon_ddmmyyyy"], index=False, sep=";"
    )
    out["bom_crlf"] = folder / "bom.csv"
    out["bom_crlf"].write_bytes(
        b"\xef\xbb\xbf" + df.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
    )
    out["iso_dates"] = folder / "iso.tsv"
    df.assign(Dt_Customer=dates.dt.strftime("%Y-%m-%d")).to_csv(
        out["iso_dates"], index=False, sep="\t"
    )
    renamed = df.rename(
        columns={
            "Income": "Household income",
            "ID": "customer_number",
            "Dt_Customer": "joined",
            "MntWines": "wine_spend",
        }
    )
    out["renamed"] = folder / "renamed.csv"
    renamed.to_csv(out["renamed"], index=False)
    return out


def test_input_variants_give_the_same_segments(real_file, variants):
    fast = {"clustering": {"alternatives": [], "stability_resamples": 10}}
    config = load_config(overrides=fast, environ={})
    reference = _labels(real_file, config)
    for name, path in variants.items():
        cfg = config
        if name == "renamed":
            cfg = load_config(
                overrides={
                    **fast,
                    "columns": {
                        "Income": "Household income",
                        "ID": "customer_number",
                        "Dt_Customer": "joined",
                        "MntWines": "wine_spend",
                    },
                },
                environ={},
            )
        labels = _labels(path, cfg).reindex(reference.index)
        assert labels.notna().all(), name
        assert adjusted_rand_score(reference, labels) == 1.0, name
        assert np.array_equal(reference.to_numpy(), labels.to_numpy()), name


def test_missing_required_columns_leave_no_folder(real_file, tmp_path):
    bad = tmp_path / "no_income.tsv"
    pd.read_csv(real_file, sep="\t").drop(columns=["Income"]).to_csv(bad, sep="\t", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", "--data", str(bad), "--out", str(out), "-q"])
    assert result.exit_code == 2
    assert "missing required column(s) Income" in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["no_income.tsv"]
