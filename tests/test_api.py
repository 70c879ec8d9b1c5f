"""The Python API (`import reportgen`): the same segments as the CLI, from a DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import report_runs
from sklearn.metrics import adjusted_rand_score

import reportgen


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(report_runs.data_file("real"), sep="\t")


@pytest.fixture(scope="module")
def result(frame):
    return reportgen.segment(frame)


def test_a_dataframe_gives_the_cli_s_segments(result):
    cli = pd.read_csv(
        report_runs.rendered("real").folder / "segments.csv", dtype={"customer_id": str}
    )
    mine = result.segments  # customer ids are text, as in segments.csv
    both = cli.merge(mine, on="customer_id")
    assert len(both) == len(cli) == len(mine) == 2240
    assert adjusted_rand_score(both["segment_x"], both["segment_y"]) == 1.0
    assert result.summary.model.k == report_runs.rendered("real").analysis.summary.model.k
    assert set(result.personas.values()) == set(report_runs.rendered("real").names)


def test_repr_html_is_self_contained_and_names_the_personas(result):
    page = result._repr_html_()
    assert "<table>" in page and all(name in page for name in result.personas.values())
    for outside in ("<script", "<link", "http://", "https://", "src=", "@import"):
        assert outside not in page


def test_assign_scores_other_customers_with_the_same_model(result, frame):
    again = result.assign(frame.sample(frac=1.0, random_state=3))  # the same, shuffled
    merged = again.merge(result.segments, on="customer_id")
    assert len(merged) == 2240 and (merged["segment_x"] == merged["segment_y"]).all()


def test_save_and_load_round_trip(result, tmp_path):
    folder = result.save(tmp_path / "nov")
    loaded = reportgen.load(folder)
    assert loaded.summary == result.summary and loaded.personas == result.personas


def test_overrides_and_bad_input(frame):
    from reportgen.errors import InputError

    with pytest.raises(InputError, match="missing required column"):
        reportgen.segment(frame.drop(columns=["Income"]))
    small = reportgen.segment(
        frame.head(600), clustering={"k": 3, "alternatives": [], "stability_resamples": 10}
    )
    assert small.summary.model.k == 3 and len(small.segments) == 600


def test_import_reportgen_stays_light():
    import subprocess
    import sys

    code = "import sys, reportgen; print('pandas' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_cli_s_jobs_are_api_functions(tmp_path, monkeypatch):
    """README's "one function per command" block, on the real file (the CLI calls these)."""
    import sqlite3

    monkeypatch.chdir(tmp_path)
    real = report_runs.data_file("real")
    folder = reportgen.run(real, "output/2026-11", period="2026-11")
    assert (tmp_path / folder / "report.pdf").exists()
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        pd.read_csv(real, sep="\t").to_sql("customers", conn, index=False)
    found = reportgen.validate("sqlite:///shop.db", input={"table": "customers"})
    assert found["ok"] and found["rows"] == 2240
    done = reportgen.assign(folder, real, "scores.csv")
    scores = pd.read_csv("scores.csv")
    ours = pd.read_csv(Path(folder) / "segments.csv")
    assert done.customers == 2240 and (scores["segment"] == ours["segment"]).all()
    rendered = reportgen.render(folder, report={"brand": "northwind"})
    assert rendered.pdf.exists() and rendered.pages > 10
    runs = reportgen.history().runs  # output/history.db, beside the run folder
    assert [r["period"] for r in runs] == ["2026-11"]
    sender = {"sender": "reports@example.com"}
    sent = reportgen.send(folder, ["cmo@example.com"], dry_run=True, smtp=sender)
    assert sent.eml is not None and "cmo@example.com" in sent.eml.read_text(encoding="utf-8")
    made = reportgen.synth("customers-small.parquet", rows=500, seed=1)
    assert len(pd.read_parquet(made)) == 500
    with pytest.raises(reportgen.errors.InputError, match="YYYY-MM"):
        reportgen.run(real, "x", period="11/2026")


def test_the_jobs_refuse_a_dataframe_and_history_with_db_reads_no_config(frame, tmp_path):
    from monthly_helpers import invoke

    from reportgen.errors import InputError

    for job in (reportgen.run, reportgen.validate):
        with pytest.raises(InputError, match=r"for a DataFrame use reportgen\.segment"):
            job(frame)
    shown = invoke(["--config", tmp_path / "absent.toml", "history", "--db", tmp_path / "h.db"])
    assert shown.exit_code == 0 and "no runs recorded" in shown.output
