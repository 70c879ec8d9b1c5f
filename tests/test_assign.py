"""`reportgen assign`: score customers with a saved model.json, without refitting."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from monthly_helpers import fast_config, invoke, real_config, run_cli, skip_tsne

from reportgen.scoring.model import build_model, model_parts


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, small_file):
    monkeypatch = pytest.MonkeyPatch()
    skip_tsne(monkeypatch)
    tmp = tmp_path_factory.mktemp("assign")
    config = fast_config(tmp, "k = 4\n")
    result = run_cli(small_file, tmp / "run", "2026-11", config, "--no-history")
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    return tmp / "run"


def _read(path):
    return pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=False)


def _one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reportgen: error: ")
    return lines[0]


def test_assign_reproduces_the_run_and_names_personas(small_run, small_file, tmp_path):
    out = tmp_path / "scores.csv"
    result = invoke(["assign", "--model", small_run / "model.json", "--data", small_file])
    assert result.exit_code == 2  # --out is required
    result = invoke(
        ["assign", "--model", small_run / "model.json", "--data", small_file, "--out", out]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    scored, run = _read(out), _read(small_run / "segments.csv")
    assert (
        list(scored.columns)
        == list(run.columns)
        == [
            "customer_id",
            "segment",
            "persona",
            "excluded_from_fit",
            "exclusion_reason",
            "data_issue",
            "data_issue_reason",
            "distance_to_centroid",
            "margin_to_next_segment",
            "driver_1",
            "driver_2",
            "driver_3",
            "propensity",
            "driver_1_feature",
            "driver_1_level",
            "driver_2_feature",
            "driver_2_level",
            "driver_3_feature",
            "driver_3_level",
            "model_version",
            "segment_code",
            "primary_action_code",
            "period",
            "run_id",
        ]
    )
    # the same scoring function: every column, every customer, identical to the run's —
    # but the period, which belongs to a run (assign is none)
    pd.testing.assert_frame_equal(scored.drop(columns="period"), run.drop(columns="period"))
    assert set(run["period"]) == {"2026-11"} and set(scored["period"].astype(str)) == {""}
    model = json.loads((small_run / "model.json").read_text())
    names = model["segment_names"]
    assert scored["persona"].tolist() == [names.get(str(s), "") for s in scored["segment"]]
    actions = model["segment_actions"]
    assert scored["primary_action_code"].tolist() == [actions[str(s)] for s in scored["segment"]]
    assert scored["segment_code"].tolist() == [f"S{s:02d}" for s in scored["segment"]]


def test_assign_takes_a_run_folder_and_scores_new_customers(small_run, tmp_path):
    from reportgen.input.synth import write_synthetic

    new = write_synthetic(tmp_path / "new.tsv", 120, 99)
    out = tmp_path / "sub" / "scores.csv"
    result = invoke(["--quiet", "assign", "--model", small_run, "--data", new, "--out", out])
    assert result.exit_code == 0, result.output
    scored = _read(out)
    assert len(scored) == 120
    assert set(scored["segment"]) <= {0, 1, 2, 3}
    assert scored["distance_to_centroid"].ge(0).all()
    assert not list(tmp_path.joinpath("sub").glob(".*partial"))


def test_assign_keeps_stable_non_contiguous_ids(small_run, small_file, tmp_path):
    model = json.loads((small_run / "model.json").read_text())
    parts = model_parts(model)
    ids = [3, 7, 9, 12]
    relabelled = build_model(
        parts.rules,
        parts.bounds,
        parts.spec,
        parts.reference_date,
        parts.centroids,
        {i: f"Persona {i}" for i in ids},
        "test",
        segment_ids=ids,
    )
    path = tmp_path / "model.json"
    path.write_text(json.dumps(relabelled))
    out = tmp_path / "scores.csv"
    assert invoke(["assign", "--model", path, "--data", small_file, "--out", out]).exit_code == 0
    scored, run = _read(out), _read(small_run / "segments.csv")
    assert scored["segment"].tolist() == [ids[s] for s in run["segment"]]
    assert scored["persona"].tolist() == [f"Persona {ids[s]}" for s in run["segment"]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(features=m["features"][:-1] + ["Recency"]), "feature list"),
        (lambda m: m.update(centroids=(np.asarray(m["centroids"]) * 1.01).tolist()), "checksum"),
        (lambda m: m.pop("segment_ids"), "checksum"),
        (lambda m: m["design"]["numeric"].append("Recency"), "checksum"),
        (lambda m: m.update(version=99), "model version 99"),
        (lambda m: m.pop("centroids"), "missing part(s) centroids"),
    ],
    ids=["features", "centroids", "segment-ids", "design", "version", "missing"],
)
def test_a_tampered_model_is_refused(small_run, small_file, tmp_path, edit, message):
    model = json.loads((small_run / "model.json").read_text())
    edit(model)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    out = tmp_path / "scores.csv"
    result = invoke(["assign", "--model", path, "--data", small_file, "--out", out])
    line = _one_line_error(result)
    assert message in line and str(path) in line
    assert not out.exists()


def test_bad_model_files_and_bad_input(small_run, small_file, tmp_path):
    out = tmp_path / "scores.csv"
    cases = {
        "missing": (tmp_path / "nope.json", "model file not found"),
        "not json": (tmp_path / "garbage.json", "not a reportgen model file"),
        "other json": (tmp_path / "list.json", "not a reportgen model file"),
    }
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2, 3]")
    for path, message in cases.values():
        result = invoke(["assign", "--model", path, "--data", small_file, "--out", out])
        assert message in _one_line_error(result)
    # the same bad-input handling as `run`: one line naming the file, column and the fix
    broken = tmp_path / "broken.tsv"
    data = pd.read_csv(small_file, sep="\t", dtype=str)
    data.loc[4, "Income"] = "lots"
    data.to_csv(broken, sep="\t", index=False)
    result = invoke(["assign", "--model", small_run, "--data", broken, "--out", out])
    line = _one_line_error(result)
    assert "broken.tsv" in line and "Income" in line and "row 6" in line
    result = invoke(["assign", "--model", small_run, "--data", small_file, "--out", tmp_path])
    assert result.exit_code == 2 and "is a folder — give a file name" in _one_line_error(result)
    assert not out.exists()


@pytest.mark.real
@pytest.mark.slow
def test_november_model_reproduces_november_on_the_real_file(tmp_path, real_file, monkeypatch):
    skip_tsne(monkeypatch)
    run = tmp_path / "output" / "2026-11"
    assert run_cli(real_file, run, "2026-11", real_config(tmp_path)).exit_code == 0
    out = tmp_path / "scores.csv"
    result = invoke(["assign", "--model", run / "model.json", "--data", real_file, "--out", out])
    assert result.exit_code == 0, result.output
    scored, november = _read(out), _read(run / "segments.csv")
    assert len(scored) == len(november) == 2240
    agreement = (scored["segment"] == november["segment"]).mean()
    assert agreement == 1.0
    assert (scored["excluded_from_fit"] == november["excluded_from_fit"]).all()
    assert np.allclose(scored["distance_to_centroid"], november["distance_to_centroid"])


def test_a_recorded_run_stamps_its_period_and_history_row_on_every_customer(
    small_file, tmp_path, monkeypatch
):
    import sqlite3

    skip_tsne(monkeypatch)
    config = fast_config(tmp_path, "k = 4\n")
    out = tmp_path / "output"
    for period in ("2026-10", "2026-11"):
        result = run_cli(small_file, out / period, period, config)
        assert result.exit_code == 0, result.output
    with sqlite3.connect(out / "history.db") as conn:
        ids = dict(conn.execute("SELECT period, id FROM runs").fetchall())
    for period in ("2026-10", "2026-11"):
        rows = _read(out / period / "segments.csv")
        assert set(rows["period"]) == {period}
        assert set(rows["run_id"]) == {ids[period]}


def test_action_codes_are_picklist_values():
    from reportgen.config import RecommendationRule
    from reportgen.describe.recommend import action_code, default_rules

    codes = [r.code for r in default_rules()]
    assert all(codes) and len(set(codes)) == len(codes)  # every packaged rule has its own
    assert action_code("Curated catalogue mailing with premium gifts") == (
        "CURATED_CATALOGUE_MAILING_WITH"
    )
    assert action_code("Digital campaign: e-mail and retargeting") == "DIGITAL_CAMPAIGN"
    with pytest.raises(ValueError, match="code"):
        RecommendationRule(action="x", code="lower case")
