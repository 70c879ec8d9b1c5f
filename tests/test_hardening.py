"""Bad or unusual input ends well (issue: hardening). More of that issue is still open."""

import pandas as pd
import pytest

from reportgen.config import Config
from reportgen.input.load import load_customers
from reportgen.pipeline import analyse


def test_a_required_column_that_is_constant_in_the_file_is_kept(real_file, tmp_path):
    """The first 200 rows of the real file: nobody accepted campaign 2. Dropping the constant
    column made feature building fail (KeyError 'AcceptedCmp2', exit 1)."""
    lines = real_file.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "first200.csv"
    path.write_text("".join(lines[:201]), encoding="utf-8")
    config = Config()
    loaded = load_customers(path, config)
    assert loaded.frame["AcceptedCmp2"].nunique() == 1
    analysis = analyse(loaded, config)
    assert sum(s.size for s in analysis.summary.segments) == 200
    # optional constant columns (Z_CostContact, Z_Revenue) are still dropped
    assert set(analysis.summary.data_quality.dropped_columns) == {"Z_CostContact", "Z_Revenue"}


def test_teenagers_all_zero_runs(small_file, tmp_path):
    frame = pd.read_csv(small_file, sep="\t")
    frame["Teenhome"] = 0
    path = tmp_path / "no-teens.tsv"
    frame.to_csv(path, sep="\t", index=False)
    config = Config()
    analysis = analyse(load_customers(path, config), config)
    assert all(s.profile["Teenhome"] == 0 for s in analysis.summary.segments)


@pytest.mark.parametrize(
    "value, column",
    [
        ("inf", "Income"),
        ("-inf", "Income"),
        ("1e309", "Income"),
        ("1e300", "Income"),
        ("1e308", "MntWines"),
    ],
)
def test_non_finite_or_absurd_numbers_are_refused_with_one_line(real_file, tmp_path, value, column):
    """They passed the number check and crashed later in PCA or the explanations (exit 1)."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    frame = pd.read_csv(real_file, sep="\t", dtype=str)
    frame.loc[5, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, sep="\t", index=False)
    for command in (
        ["run", "--data", str(path), "--out", str(tmp_path / "out"), "--no-history"],
        ["validate", "--data", str(path)],
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, (command, result.output)
        assert f"column {column}, row 7" in result.output and "not a usable number" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["01-01-9999", "31-12-1815"])
def test_dates_outside_a_plausible_window_are_refused(real_file, tmp_path, value):
    """01-01-9999 used to load as 1815-03-31 (nanosecond overflow) and the run exited 0."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    frame = pd.read_csv(real_file, sep="\t", dtype=str)
    frame.loc[5, "Dt_Customer"] = value
    path = tmp_path / "bad-date.csv"
    frame.to_csv(path, sep="\t", index=False)
    result = CliRunner().invoke(cli, ["validate", "--data", str(path)])
    assert result.exit_code == 2
    assert f"row 7: date '{value}' is outside 1900–2100" in result.output


def test_a_model_with_nan_centroids_is_refused(small_file, tmp_path):
    """It was accepted and put every customer in segment 0 (issue 10, defect 13)."""
    import json

    from click.testing import CliRunner

    from reportgen.cli import cli
    from reportgen.scoring.model import _fingerprint

    out = tmp_path / "run"
    ran = CliRunner().invoke(
        cli, ["run", "--data", str(small_file), "--out", str(out), "--no-history", "--no-report"]
    )
    assert ran.exit_code == 0, ran.output
    model = json.loads((out / "model.json").read_text())
    model["centroids"][0][0] = float("nan")
    body = {
        k: model[k]
        for k in model
        if k not in ("format", "version", "tool_version", "features", "sha256")
    }
    model["sha256"] = _fingerprint(body)  # a consistent checksum: only the NaN is wrong
    (out / "model.json").write_text(json.dumps(model))
    result = CliRunner().invoke(
        cli,
        [
            "assign",
            "--model",
            str(out / "model.json"),
            "--data",
            str(small_file),
            "--out",
            str(tmp_path / "scores.csv"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "centroids hold a value that is not a finite number" in result.output
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than a model is"),
        ('{"format": "reportgen-model", "version": ' + "9" * 100_001 + "}", "ValueError"),
        ("{" + '"a": [1, 2' * 3, "JSONDecodeError"),
    ],
    ids=["nested", "huge-integer", "truncated"],
)
def test_a_hostile_model_file_is_one_line(small_file, tmp_path, text, message):
    """A deeply nested or 100,001-digit model.json gave a traceback (issue 10, defect 13)."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    model = tmp_path / "model.json"
    model.write_text(text)
    args = ["assign", "--model", str(model), "--data", str(small_file), "--out"]
    result = CliRunner().invoke(cli, [*args, str(tmp_path / "scores.csv")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "scores.csv").exists()


def test_a_model_file_far_too_big_is_refused_unread(tmp_path, monkeypatch):
    from reportgen.errors import InputError
    from reportgen.scoring import model as m

    path = tmp_path / "model.json"
    path.write_text('{"format": "reportgen-model"}' + " " * 2000)
    monkeypatch.setattr(m, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(InputError, match="bytes; a model is far smaller"):
        m.read_model(path)


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_numpy_cannot_take_is_a_usage_error(small_file, tmp_path, seed):
    """--seed -1 or >= 2**32 ended in a numpy traceback (issue 10, defect 14)."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    out = tmp_path / "run"
    args = ["run", "--seed", seed, "--data", str(small_file), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-history", "--no-report"])
    assert result.exit_code == 2 and "--seed" in result.output and not out.exists()
    config = tmp_path / "seed.toml"
    config.write_text(f"seed = {seed}\n")
    args = ["run", "--config", str(config), "--data", str(small_file), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-history", "--no-report"])
    assert result.exit_code == 2 and "setting 'seed'" in result.output and not out.exists()


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[input]\ndate_format = "%Q"\n', "'%Q' does not write and read back a date"),
        ('[input]\ndate_format = "day"\n', "'day' does not write and read back a date"),
        ('[input]\ndelimiter = "ab"\n', "'ab' is not one field separator"),
        ('[features]\nclustering = ["Income"]\n', "at least 2 items"),
        (b"\x00\xff\xfe binary", "not a text file (not UTF-8)"),
    ],
    ids=["bad-directive", "no-directive", "two-char-delimiter", "one-feature", "binary"],
)
def test_config_values_that_crashed_are_one_line(small_file, tmp_path, toml, message):
    """Each of these gave a traceback (exit 1) (issue 10, defect 14)."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    config = tmp_path / "reportgen.toml"
    if isinstance(toml, bytes):
        config.write_bytes(toml)
    else:
        config.write_text(toml, encoding="utf-8")
    out = tmp_path / "run"
    args = ["run", "--config", str(config), "--data", str(small_file), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-history", "--no-report"])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_a_date_format_that_reads_the_file_still_works(small_file, tmp_path):
    from reportgen.config import load_config

    config = tmp_path / "reportgen.toml"
    config.write_text('[input]\ndate_format = "%d-%m-%Y"\n', encoding="utf-8")
    assert load_config(config).input.date_format == "%d-%m-%Y"
    config.write_text('[input]\ndate_format = "excel-serial"\n', encoding="utf-8")
    assert load_config(config).input.date_format == "excel-serial"


def test_ids_a_spreadsheet_wrote_as_decimals_are_the_plain_ids(small_file, tmp_path):
    """'5524.0' did not match last month's '5524' (2,240 'new' and 2,240 'departed')."""
    frame = pd.read_csv(small_file, sep="\t", dtype=str)
    plain = load_customers(small_file, Config()).frame["ID"]
    frame["ID"] = frame["ID"] + ".0"
    path = tmp_path / "decimal-ids.tsv"
    frame.to_csv(path, sep="\t", index=False)
    assert load_customers(path, Config()).frame["ID"].tolist() == plain.tolist()
    frame.loc[3, "ID"] = "A-17"  # a text id among them: every id stays text, as written
    frame.to_csv(path, sep="\t", index=False)
    assert load_customers(path, Config()).frame["ID"].iloc[0].endswith(".0")


def test_a_birth_year_after_the_data_date_is_a_data_issue(small_file, tmp_path):
    """A negative age is not a customer record: excluded from the fit, with its reason."""
    frame = pd.read_csv(small_file, sep="\t", dtype=str)
    frame.loc[7, "Year_Birth"] = "2090"
    path = tmp_path / "unborn.tsv"
    frame.to_csv(path, sep="\t", index=False)
    config = Config()
    analysis = analyse(load_customers(path, config), config)
    row = analysis.customers.iloc[7]
    assert bool(row["data_issue"] != "") and row["data_issue"] == "born after the data's date"


@pytest.fixture
def mixed_dates(real_file, tmp_path):
    """The real file as two public copies have it: m/d/Y for days <= 12, d-m-Y for the rest."""
    frame = pd.read_csv(real_file, sep="\t", dtype=str)
    dates = pd.to_datetime(frame["Dt_Customer"], format="%d-%m-%Y")
    frame["Dt_Customer"] = [
        d.strftime("%m/%d/%Y") if d.day <= 12 else d.strftime("%d-%m-%Y") for d in dates
    ]
    path = tmp_path / "mixed.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return path, dates


def test_a_column_mixing_date_formats_reads_with_a_list_of_formats(mixed_dates):
    path, dates = mixed_dates
    config = Config.model_validate({"input": {"date_format": ["%d-%m-%Y", "%m/%d/%Y"]}})
    loaded = load_customers(path, config)
    assert loaded.frame["Dt_Customer"].tolist() == dates.tolist()
    assert loaded.info.date_format == "%d-%m-%Y or %m/%d/%Y"


def test_the_date_error_counts_the_rows_and_suggests_only_formats_that_read_the_value(
    mixed_dates,
):
    from reportgen.input.load import validate_file

    path, dates = mixed_dates
    [problem] = validate_file(path, Config())["problems"]
    assert f"({(dates.dt.day <= 12).sum():,} row(s) do not look like dd-mm-yyyy" in problem
    # '%d-%m-%Y' alone (the old suggestion) cannot read the value quoted; the lists can
    assert 'date_format = ["%d-%m-%Y", "%d/%m/%Y"] or ["%d-%m-%Y", "%m/%d/%Y"]' in problem
    assert "they read it as different days" in problem


def test_two_formats_that_read_a_value_differently_are_refused(mixed_dates):
    from reportgen.errors import InputError

    path, _dates = mixed_dates
    formats = ["%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y"]
    config = Config.model_validate({"input": {"date_format": formats}})
    with pytest.raises(InputError, match="is read differently by .* it is ambiguous"):
        load_customers(path, config)


def test_validate_shows_the_date_range_and_reference_date(real_file):
    from reportgen.input.load import validate_file

    report = validate_file(real_file, Config())
    assert (report["first_enrolled"], report["last_enrolled"]) == ("2012-07-30", "2014-06-29")
    assert report["reference_date"] == "2014-06-29 (the last enrollment)"


def test_short_rows_are_found_in_any_chunk_of_a_streamed_file(small_file, tmp_path):
    """One forward pass over the file serves every chunk: legitimately empty last cells in
    early chunks do not hide a cut line in a later one."""
    from reportgen.errors import InputError
    from reportgen.input.load import _Issues, open_table

    lines = small_file.read_text(encoding="utf-8").splitlines(keepends=True)
    for row in (50, 150):  # the last field empty, its tab still there: not short
        fields = lines[row - 1].rstrip("\n").split("\t")
        lines[row - 1] = "\t".join(fields[:-1] + [""]) + "\n"
    lines[259] = "\t".join(lines[259].split("\t")[:10]) + "\n"  # file row 260: cut short
    path = tmp_path / "late-cut.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    config = Config()
    table = open_table(path, config)
    with pytest.raises(InputError, match="row 260 has 10 of 29 fields"):
        for _chunk in table.chunks(config, _Issues(strict=True), chunk_rows=100):
            pass
