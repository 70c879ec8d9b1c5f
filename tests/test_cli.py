"""The command line through click's CliRunner: outputs, exit codes, one-line errors, atomicity."""

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from reportgen import __version__
from reportgen.cli import cli


@pytest.fixture()
def runner():
    return CliRunner()


def test_version_and_help(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    for command in ["run", "validate", "synth"]:
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_run_writes_outputs(runner, small_file, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        cli,
        [
            "run",
            "--data",
            str(small_file),
            "--out",
            str(out),
            "--no-report",
            "--period",
            "2026-11",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    segments = pd.read_csv(out / "segments.csv")
    source = pd.read_csv(small_file, sep="\t")
    assert len(segments) == len(source)
    assert sorted(segments["customer_id"]) == sorted(source["ID"])
    assert {"customer_id", "segment", "excluded_from_fit", "distance_to_centroid"} <= set(segments)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["period"] == "2026-11"
    assert summary["data_quality"]["rows_in"] == len(source)
    assert sum(s["size"] for s in summary["segments"]) == len(source)
    model = json.loads((out / "model.json").read_text())
    assert model["format"] == "reportgen-model"
    assert not list(tmp_path.glob(".run.*")), "temporary folders left behind"


def test_forced_k_and_seed_flag(runner, small_file, tmp_path):
    out = tmp_path / "k3"
    result = runner.invoke(
        cli,
        [
            "run",
            "--data",
            str(small_file),
            "--out",
            str(out),
            "--k",
            "3",
            "--no-report",
            "-q",
            "--seed",
            "7",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["k"] == 3 and summary["model"]["k_choice"]["forced"] is True
    assert summary["run"]["seed"] == 7
    assert pd.read_csv(out / "segments.csv")["segment"].nunique() == 3


def test_missing_columns_exit_2_and_no_output(runner, small_file, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.read_csv(small_file, sep="\t").drop(columns=["Income", "Recency"]).to_csv(bad, index=False)
    out = tmp_path / "never"
    result = runner.invoke(cli, ["run", "--data", str(bad), "--out", str(out), "--no-report", "-q"])
    assert result.exit_code == 2
    message = result.output.strip().splitlines()
    assert len(message) == 1, result.output
    assert "Income" in message[0] and "Recency" in message[0] and "bad.csv" in message[0]
    assert "Traceback" not in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_failed_run_keeps_earlier_run(runner, small_file, tmp_path):
    out = tmp_path / "run"
    ok = runner.invoke(cli, ["run", "--data", str(small_file), "--out", str(out), "--no-report"])
    assert ok.exit_code == 0, ok.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Income\n1,abc\n")
    failed = runner.invoke(cli, ["run", "--data", str(bad), "--out", str(out), "--no-report"])
    assert failed.exit_code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bad_period_and_unknown_config_key(runner, small_file, tmp_path):
    result = runner.invoke(cli, ["run", "--data", str(small_file), "--period", "11-2026"])
    assert result.exit_code == 2 and "YYYY-MM" in result.output
    config = tmp_path / "reportgen.toml"
    config.write_text("[clustering]\nkk = 3\n")
    result = runner.invoke(cli, ["--config", str(config), "run", "--data", str(small_file)])
    assert result.exit_code == 2
    assert "clustering.kk" in result.output and "unknown setting" in result.output


def test_validate_reports_without_fitting(runner, small_file, tmp_path):
    result = runner.invoke(cli, ["validate", "--data", str(small_file), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["rows"] == 300
    bad = tmp_path / "bad.csv"
    pd.read_csv(small_file, sep="\t").drop(columns=["Income"]).to_csv(bad, index=False)
    result = runner.invoke(cli, ["validate", "--data", str(bad)])
    assert result.exit_code == 2
    assert "Income" in result.output


def test_synth_command_is_deterministic(runner, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        result = runner.invoke(cli, ["synth", "--rows", "50", "--seed", "5", "-o", str(path)])
        assert result.exit_code == 0, result.output
    assert a.read_bytes() == b.read_bytes()
    assert len(pd.read_csv(a, sep="\t")) == 50


def test_verbose_times_progress_and_quiet_silences_it(runner, small_file, tmp_path):
    verbose = runner.invoke(
        cli,
        [
            "run",
            "--data",
            str(small_file),
            "--out",
            str(tmp_path / "v"),
            "--no-report",
            "--no-history",
            "-v",
        ],
    )
    assert verbose.exit_code == 0, verbose.output
    assert re.search(r"^\[ *\d+\.\d\ds\] Fitting K-Means", verbose.stderr, flags=re.M)
    quiet = runner.invoke(
        cli,
        [
            "run",
            "--data",
            str(small_file),
            "--out",
            str(tmp_path / "q"),
            "--no-report",
            "--no-history",
            "-q",
        ],
    )
    assert quiet.exit_code == 0 and quiet.stderr == ""
    bad = runner.invoke(cli, ["-v", "run", "--data", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 2
    assert "Traceback" in bad.stderr and "reportgen: error:" in bad.stderr


def test_console_entry_point_flushes_output_and_keeps_exit_codes(tmp_path):
    """`python -m reportgen` ends through main(), which skips the interpreter's teardown."""
    import subprocess
    import sys

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "reportgen", *args], capture_output=True, text=True, cwd=tmp_path
        )

    version = run("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    synth = run("synth", "--rows", "20", "-o", "s.csv", "-q")
    assert synth.returncode == 0 and synth.stdout.strip() == "s.csv"
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 21
    bad = run("run", "--data", "missing.csv", "-q")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "reportgen: error: missing.csv: file not found — check the path"
    ]
    usage = run("run", "--bogus")
    assert usage.returncode == 2 and "No such option" in usage.stderr
