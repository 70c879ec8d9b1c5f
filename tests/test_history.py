"""Run history (SQLite), month-over-month changes, and failed runs that leave no trace."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from monthly_helpers import folder_digest, invoke, run_cli, skip_tsne

from reportgen.config import load_config
from reportgen.errors import InputError
from reportgen.ops import history
from reportgen.ops.runner import run_job


@pytest.fixture
def fast(tmp_path, monkeypatch):
    from monthly_helpers import fast_config

    skip_tsne(monkeypatch)
    return fast_config(tmp_path)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _segments(folder):
    return pd.read_csv(folder / "segments.csv", dtype={"customer_id": str}).set_index(
        "customer_id"
    )["segment"]


def _months(small_file, tmp_path):
    """October: 90 % of the small file. November: the full file, 15 customers changed, 20 new."""
    data = pd.read_csv(small_file, sep="\t", dtype={"ID": str})
    october = data.sample(frac=0.9, random_state=5)
    november = data.copy()
    changed = november.index[:15]
    november.loc[changed, "MntWines"] = november.loc[changed, "MntWines"] * 4 + 800
    november.loc[changed, "Income"] = november.loc[changed, "Income"] + 40000
    extra = data.sample(n=20, random_state=6).copy()
    extra["ID"] = [f"N{i:03d}" for i in range(20)]
    november = pd.concat([november, extra], ignore_index=True)
    paths = tmp_path / "oct.tsv", tmp_path / "nov.tsv"
    october.to_csv(paths[0], sep="\t", index=False)
    november.to_csv(paths[1], sep="\t", index=False)
    return paths


def test_runs_are_recorded_compactly_and_listed(tmp_path, small_file, fast):
    oct_file, nov_file = _months(small_file, tmp_path)
    out = tmp_path / "output"
    assert run_cli(oct_file, out / "2026-10", "2026-10", fast).exit_code == 0
    assert run_cli(nov_file, out / "2026-11", "2026-11", fast).exit_code == 0
    db = out / "history.db"  # beside the run folders

    listed = invoke(["--config", fast, "history", "--db", db, "--json"])
    runs = json.loads(listed.stdout)
    assert [r["period"] for r in runs] == ["2026-10", "2026-11"]
    assert [r["customers"] for r in runs] == [270, 320]
    assert [r["mode"] for r in runs] == ["first", "scored"]
    assert runs[1]["previous_run_id"] == runs[0]["id"]
    assert runs[0]["input_sha256"] == _sha(oct_file)
    assert runs[1]["input_sha256"] == _sha(nov_file)
    assert runs[0]["config_hash"] == runs[1]["config_hash"]
    assert runs[1]["folder"] == str((out / "2026-11").resolve())
    for run in runs:
        summary = json.loads((out / run["period"] / "summary.json").read_text())
        assert run["k"] == summary["model"]["k"]
        assert sum(s["size"] for s in run["segments"]) == run["customers"]
        features = summary["model"]["features"]
        for seg in run["segments"]:
            assert list(seg["centroid"]) == features
            mean = summary["segments"][[s["id"] for s in summary["segments"]].index(seg["id"])]
            assert seg["size"] == mean["size"]

    table = invoke(["--config", fast, "history", "--db", db])
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "PERIOD", "CREATED"]
    assert "2026-10" in lines[1] and "2026-11" in lines[3]

    with sqlite3.connect(db) as conn:
        n_ids = conn.execute("SELECT count(*) FROM ids").fetchone()[0]
        n_rows = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        types = conn.execute(
            "SELECT DISTINCT typeof(customer), typeof(segment) FROM customers"
        ).fetchall()
    assert n_ids == 320  # every customer id stored once: 300 returning + 20 new
    assert n_rows == 270 + 320
    assert types == [("integer", "integer")]
    recorded = history.run_assignments(db, runs[1]["id"])
    assert recorded.sort_index().equals(_segments(out / "2026-11").sort_index())


def test_changes_count_moves_new_and_departed_customers(tmp_path, small_file, fast):
    oct_file, nov_file = _months(small_file, tmp_path)
    out = tmp_path / "output"
    run_cli(oct_file, out / "2026-10", "2026-10", fast)
    run_cli(nov_file, out / "2026-11", "2026-11", fast)
    changes = json.loads((out / "2026-11" / "summary.json").read_text())["changes"]
    before, now = _segments(out / "2026-10"), _segments(out / "2026-11")
    both = now.index.intersection(before.index)
    mig = changes["migration"]
    assert mig["in_both"] == len(both) == 270
    assert mig["new_customers"] == 50  # 30 not in the October sample + 20 new ids
    assert mig["departed_customers"] == 0
    counts = np.array(mig["counts"])
    assert counts.sum() == mig["in_both"] == mig["stayed"] + mig["moved"]
    expected = pd.crosstab(before[both], now[both])
    for i, f in enumerate(mig["from_ids"]):
        for j, t in enumerate(mig["to_ids"]):
            value = expected.loc[f, t] if f in expected.index and t in expected.columns else 0
            assert counts[i, j] == value
    assert mig["moved"] == int((before[both] != now[both]).sum()) > 0
    top = mig["top_moves"][0]
    assert top["customers"] == max(
        counts[i, j]
        for i in range(len(mig["from_ids"]))
        for j in range(len(mig["to_ids"]))
        if mig["from_ids"][i] != mig["to_ids"][j]
    )
    assert changes["highlights"][0].startswith(
        f"{top['customers']} customer{'s' if top['customers'] > 1 else ''} moved from "
        f"{top['from_name']} to {top['to_name']}"
    )
    assert 1 <= len(changes["highlights"]) <= 3
    sizes = {s["id"]: s for s in changes["segments"]}
    for seg in json.loads((out / "2026-11" / "summary.json").read_text())["segments"]:
        row = sizes[seg["id"]]
        assert row["size"] == seg["size"]
        assert row["size_change"] == seg["size"] - int((before == seg["id"]).sum())
        assert set(row["profile"]) == {"Income", "TotalSpend", "Age", "Children"} | {
            "NumWebVisitsMonth",
            "CampaignEngagement",
            "DealsShare",
        }


def test_no_history_flag_and_missing_database(tmp_path, small_file, fast):
    out = tmp_path / "output"
    result = run_cli(small_file, out / "2026-10", "2026-10", fast, "--no-history")
    assert result.exit_code == 0
    assert not (out / "history.db").exists()
    listed = invoke(["history", "--db", out / "history.db", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    table = invoke(["history", "--db", out / "history.db"])
    assert table.exit_code == 0 and "no runs recorded" in table.stderr


def test_a_damaged_database_is_a_clear_error(tmp_path, small_file, fast):
    out = tmp_path / "output"
    out.mkdir()
    (out / "history.db").write_bytes(b"this is not sqlite" * 100)
    result = run_cli(small_file, out / "2026-10", "2026-10", fast)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "history.db: not a usable reportgen history database" in result.stderr
    assert not (out / "2026-10").exists()


# --------------------------------------------------------------------------- failures midway


@pytest.fixture
def october(tmp_path, small_file, fast):
    out = tmp_path / "output"
    config = load_config(fast, environ={})
    run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    db = out / "history.db"
    state = (db.read_bytes(), db.stat().st_mtime_ns, folder_digest(out / "2026-10"))
    return out, config, state


def _unchanged(out, state):
    db = out / "history.db"
    assert db.read_bytes() == state[0]
    assert db.stat().st_mtime_ns == state[1]
    assert folder_digest(out / "2026-10") == state[2]
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_failure_while_writing_leaves_history_and_earlier_folders(october, small_file, monkeypatch):
    out, config, state = october
    import reportgen.output.files

    real = reportgen.output.files.write_files

    def write_then_fail(analysis, folder, *args):
        real(analysis, folder, *args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(reportgen.output.files, "write_files", write_then_fail)
    for period in ("2026-11", "2026-10"):  # a new period, and a re-run of October
        with pytest.raises(RuntimeError, match="disk full"):
            run_job(small_file, out / period, config, None, period, report=False)
        _unchanged(out, state)
    assert not (out / "2026-11").exists()


def test_failure_while_recording_rolls_back_and_keeps_no_folder(october, small_file, monkeypatch):
    out, config, state = october
    real = history._insert

    def insert_then_fail(conn, analysis, folder):
        real(conn, analysis, folder)
        raise RuntimeError("killed while recording")

    monkeypatch.setattr(history, "_insert", insert_then_fail)
    with pytest.raises(RuntimeError, match="killed"):
        run_job(small_file, out / "2026-11", config, None, "2026-11", report=False)
    _unchanged(out, state)
    assert not (out / "2026-11").exists()
    assert [r["period"] for r in history.list_runs(out / "history.db")] == ["2026-10"]


def test_bad_input_records_nothing(october, tmp_path, small_file):
    out, config, state = october
    broken = tmp_path / "broken.tsv"
    data = pd.read_csv(small_file, sep="\t").drop(columns=["Income"])
    data.to_csv(broken, sep="\t", index=False)
    with pytest.raises(InputError):
        run_job(broken, out / "2026-11", config, None, "2026-11", report=False)
    _unchanged(out, state)


def test_a_failed_first_run_creates_no_database(tmp_path, small_file, fast, monkeypatch):
    import reportgen.output.files

    def fail(analysis, folder, *args):
        raise RuntimeError("boom")

    monkeypatch.setattr(reportgen.output.files, "write_files", fail)
    out = tmp_path / "output"
    config = load_config(fast, environ={})
    with pytest.raises(RuntimeError):
        run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    assert not out.exists()  # the folder this run created for its output is gone again


def test_a_stop_while_history_opens_leaves_no_database(tmp_path, small_file, fast, monkeypatch):
    """SIGTERM can land after sqlite3.connect created the file but before the recorder holds
    the connection; the file this run created must still be removed."""
    import sqlite3

    real = sqlite3.connect

    def connect_then_stop(path, *args, **kwargs):
        real(path, *args, **kwargs).close()  # the file now exists
        raise KeyboardInterrupt

    monkeypatch.setattr(history.sqlite3, "connect", connect_then_stop)
    out = tmp_path / "output"
    config = load_config(fast, environ={})
    with pytest.raises(KeyboardInterrupt):
        run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    assert not (out / "history.db").exists()


def test_history_and_changes_with_the_report_on(tmp_path, small_file, fast):
    oct_file, nov_file = _months(small_file, tmp_path)
    out = tmp_path / "output"
    args = ["--quiet", "--config", fast, "run", "--data"]
    assert invoke(args + [oct_file, "--out", out / "2026-10", "--period", "2026-10"]).exit_code == 0
    assert invoke(args + [nov_file, "--out", out / "2026-11", "--period", "2026-11"]).exit_code == 0
    assert (out / "2026-11" / "report.pdf").is_file()
    summary = json.loads((out / "2026-11" / "summary.json").read_text())
    assert summary["changes"]["previous_period"] == "2026-10"
    from bs4 import BeautifulSoup

    page = BeautifulSoup((out / "2026-11" / "report.html").read_text(), "html.parser")
    text = " ".join(page.get_text(" ").split())
    assert summary["changes"]["highlights"][0] in text  # called out in the report too
    assert [r["period"] for r in history.list_runs(out / "history.db")] == ["2026-10", "2026-11"]


# --------------------------------------------------------------------------- the real file


@pytest.mark.real
@pytest.mark.slow
def test_real_file_october_sample_then_november_refit(tmp_path, real_file, monkeypatch):
    from monthly_helpers import real_config

    skip_tsne(monkeypatch)
    fast = real_config(tmp_path)
    data = pd.read_csv(real_file, sep="\t", dtype={"ID": str})
    sample = tmp_path / "october.tsv"
    data.sample(frac=0.9, random_state=2026).to_csv(sample, sep="\t", index=False)
    out = tmp_path / "output"
    assert run_cli(sample, out / "2026-10", "2026-10", fast).exit_code == 0
    assert run_cli(real_file, out / "2026-11", "2026-11", fast, "--refit").exit_code == 0

    old = json.loads((out / "2026-10" / "summary.json").read_text())
    new = json.loads((out / "2026-11" / "summary.json").read_text())
    changes = new["changes"]
    assert changes["mode"] == "refit"
    old_names = {s["id"]: (s["persona"] or {}).get("name") for s in old["segments"]}
    matched = [s for s in changes["segments"] if s["status"] == "matched"]
    assert len(old["segments"]) >= 3
    assert len(matched) >= len(old["segments"]) - 1
    for seg in new["segments"]:
        if seg["id"] in {m["id"] for m in matched}:
            assert (seg["persona"] or {}).get("name") == old_names[seg["id"]]
    mig = changes["migration"]
    assert mig["in_both"] == 2016 and mig["new_customers"] == 224
    assert mig["departed_customers"] == 0
    assert np.array(mig["counts"]).sum() == 2016
    assert mig["stayed"] / mig["in_both"] > 0.9  # identities kept: most customers stay put

    listed = invoke(["--config", fast, "history", "--db", out / "history.db"])
    assert listed.exit_code == 0
    assert "2026-10" in listed.stdout and "2026-11" in listed.stdout
    runs = json.loads(
        invoke(["--config", fast, "history", "--db", out / "history.db", "--json"]).stdout
    )
    assert [(r["period"], r["customers"], r["mode"]) for r in runs] == [
        ("2026-10", 2016, "first"),
        ("2026-11", 2240, "refit"),
    ]


# --------------------------------------------------------------------------- one commit per run


def test_a_failed_history_commit_keeps_the_earlier_folder_and_history(october, small_file):
    """A reader holding a transaction (a BI tool, an sqlite3 shell) makes the commit fail:
    the rerun's folder must not replace October's, and the message says "locked"."""
    out, config, state = october
    config.history.wait_seconds = 0.2
    reader = sqlite3.connect(out / "history.db")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM runs").fetchone()  # holds a shared lock
    try:
        with pytest.raises(InputError, match=r"locked by another program \(waited 0.2 s\)"):
            run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    finally:
        reader.rollback()
        reader.close()
    _unchanged(out, state)
    assert [r["period"] for r in history.list_runs(out / "history.db")] == ["2026-10"]


def test_a_rerun_of_a_period_replaces_its_history_row(october, small_file):
    out, config, _state = october
    run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    runs = history.list_runs(out / "history.db")
    assert [r["period"] for r in runs] == ["2026-10"]
    with sqlite3.connect(out / "history.db") as conn:
        assert conn.execute("SELECT count(DISTINCT run_id) FROM customers").fetchone() == (1,)


def test_a_second_run_into_the_same_folder_is_refused_at_once(october, small_file):
    from reportgen.ops.runner import output_lock

    out, config, state = october
    with output_lock(out / "2026-10"):  # another run holds the folder
        with pytest.raises(InputError, match=r"another reportgen run \(process \d+\) is writing"):
            run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    _unchanged(out, state)


def test_leftovers_of_a_killed_run_are_removed_by_the_next_run(october, small_file):
    out, config, _state = october
    partial = out / ".2026-10.partial-killed"
    partial.mkdir()
    (partial / "segments.csv").write_text("half written")
    said = []
    run_job(small_file, out / "2026-10", config, said.append, "2026-10", report=False)
    assert not partial.exists()
    assert any("Removed 1 temporary folder(s) left beside" in m for m in said)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_folder_left_aside_by_a_killed_swap_is_put_back(october, small_file, tmp_path):
    """SIGKILL between moving October aside and moving the new folder in: the next run,
    even one that fails on bad input, puts October back first."""
    out, config, state = october
    aside = out / ".2026-10.old-killed"
    aside.mkdir()
    (out / "2026-10").rename(aside / "previous")
    broken = tmp_path / "broken.tsv"
    broken.write_text("not\ta customer table\n1\t2\n")
    with pytest.raises(InputError):
        run_job(broken, out / "2026-10", config, None, "2026-10", report=False)
    _unchanged(out, state)


def test_a_full_disk_while_writing_is_one_line_and_keeps_october(october, small_file, monkeypatch):
    import errno

    import reportgen.output.files

    out, config, state = october
    real = reportgen.output.files.write_files

    def fill_the_disk(analysis, folder, *args):
        real(analysis, folder, *args)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(reportgen.output.files, "write_files", fill_the_disk)
    with pytest.raises(InputError, match="cannot write the run \\(No space left on device\\)"):
        run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    _unchanged(out, state)


def test_a_full_disk_while_committing_history_is_one_line(october, small_file, monkeypatch):
    """SQLite's own 'disk is full' at the commit: the swap is undone, October stays."""
    out, config, state = october

    def full(self):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorname = "SQLITE_FULL"
        raise history._damaged(self.path, error, self.wait)

    monkeypatch.setattr(history.Recorder, "commit", full)
    with pytest.raises(InputError, match="cannot write the history database"):
        run_job(small_file, out / "2026-10", config, None, "2026-10", report=False)
    _unchanged(out, state)


def test_a_swallowed_stop_request_makes_nothing_visible(october, monkeypatch):
    """A signal whose exception a library swallowed is raised again before the swap: the
    earlier folder stays, and the new one leaves no temporary folder behind."""
    import signal

    from reportgen.ops import interrupt
    from reportgen.ops.runner import atomic_folder

    out, _config, state = october
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(out / "2026-10") as folder:
            (folder / "segments.csv").write_text("new run")
            monkeypatch.setattr(interrupt, "_received", signal.SIGINT)  # handled, swallowed
    _unchanged(out, state)
