"""Tests for reportgen.input.load: dialects, formats, column matching, dates, numbers, errors."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportgen import schema
from reportgen.config import Config
from reportgen.errors import InputError
from reportgen.input.load import (
    EXCEL_SERIAL,
    NATIVE_DATES,
    load_customers,
    sha256_of,
    validate_file,
)

REAL = Path(__file__).resolve().parents[2] / "shared/data/marketing_campaign.csv"
needs_real = pytest.mark.skipif(
    not REAL.exists(), reason=f"real data set not found at {REAL} (../shared is absent)"
)


def cfg(**input_settings: object) -> Config:
    columns = input_settings.pop("columns", {})
    return Config.model_validate({"input": input_settings, "columns": columns})


# ----------------------------------------------------------------- small synthetic table


def small_table(n: int = 5) -> pd.DataFrame:
    """All 29 columns of the data set as text, like a CSV cell would hold them."""
    rng = np.random.default_rng(0)
    data: dict[str, list[str]] = {}
    for name in schema.DATA_SET_COLUMNS:
        kind = schema.COLUMNS[name][0]
        if kind == "id":
            data[name] = [str(1000 + i) for i in range(n)]
        elif kind == "category":
            data[name] = [["Graduation", "PhD", "Master"][i % 3] for i in range(n)]
        elif kind == "date":
            data[name] = [f"{13 + i:02d}-0{1 + i % 9}-2013" for i in range(n)]
        elif kind == "flag":
            data[name] = [str(i % 2) for i in range(n)]
        else:
            data[name] = [str(int(v)) for v in rng.integers(0, 100, n)]
    data["Year_Birth"] = [str(1950 + i) for i in range(n)]
    data["Income"] = [str(30000 + 1000 * i) for i in range(n)]
    return pd.DataFrame(data)


def write(tmp_path: Path, table: pd.DataFrame, name: str = "c.csv", sep: str = "\t") -> Path:
    path = tmp_path / name
    table.to_csv(path, sep=sep, index=False)
    return path


def raises(path: Path, config: Config | None = None) -> str:
    with pytest.raises(InputError) as info:
        load_customers(path, config or Config())
    message = str(info.value)
    assert "\n" not in message, "InputError messages are one line"
    assert str(path) in message, "InputError messages name the file"
    return message


# ----------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def original():
    if not REAL.exists():
        pytest.skip(f"real data set not found at {REAL} (../shared is absent)")
    return load_customers(REAL, Config())


@pytest.fixture(scope="module")
def raw_text() -> pd.DataFrame:
    """The real file's cells as the exact strings in the file (independent of load.py)."""
    if not REAL.exists():
        pytest.skip(f"real data set not found at {REAL} (../shared is absent)")
    return pd.read_csv(REAL, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def variants(tmp_path_factory, raw_text, original) -> Path:
    folder = tmp_path_factory.mktemp("variants")
    raw_text.to_csv(folder / "comma.csv", sep=",", index=False)
    slash = raw_text.assign(Dt_Customer=raw_text["Dt_Customer"].str.replace("-", "/"))
    slash.to_csv(folder / "semicolon.csv", sep=";", index=False)
    raw_text.to_csv(
        folder / "bom_crlf.tsv", sep="\t", index=False, encoding="utf-8-sig", lineterminator="\r\n"
    )
    parts = raw_text["Dt_Customer"].str.split("-", expand=True)
    iso = raw_text.assign(Dt_Customer=parts[2] + "-" + parts[1] + "-" + parts[0])
    iso.to_csv(folder / "iso.txt", sep="\t", index=False, lineterminator="\n")
    raw_text.to_parquet(folder / "text_dates.parquet", index=False)
    original.frame.to_parquet(folder / "typed.parquet", index=False)
    original.frame.to_excel(folder / "typed.xlsx", index=False, sheet_name="customers")
    renamed = raw_text.rename(
        columns={"Income": "household_income", "Dt_Customer": "Enrolled On", "ID": " id "}
    )
    renamed.to_csv(folder / "renamed.csv", sep=",", index=False)
    return folder


@needs_real
def test_real_file_loads_with_known_shape(original, raw_text):
    frame, info = original.frame, original.info
    assert info.rows == len(frame) == 2240
    assert info.missing == {"Income": 24}
    assert info.date_format == "%d-%m-%Y"
    assert info.columns_matched == {c: c for c in schema.DATA_SET_COLUMNS}
    assert len(info.columns_matched) == 29 and info.extra_columns == []
    assert (info.format, info.delimiter, info.encoding) == ("csv", "\t", "utf-8")
    assert (info.bom, info.line_ending) == (False, "CRLF")
    assert info.sha256 == sha256_of(REAL) and len(info.sha256) == 64
    assert list(frame.columns) == list(schema.DATA_SET_COLUMNS)
    assert isinstance(frame.index, pd.RangeIndex)
    # dtypes
    assert frame["ID"].dtype == np.int64
    assert frame["Dt_Customer"].dtype == "datetime64[ns]"
    assert frame["Income"].dtype == np.float64
    assert frame["Kidhome"].dtype == np.int64
    assert pd.api.types.is_string_dtype(frame["Education"])
    # values agree with an independent read of the same cells
    assert frame["ID"].tolist() == raw_text["ID"].astype(int).tolist()
    income = pd.to_numeric(raw_text["Income"].replace("", np.nan))
    pd.testing.assert_series_equal(frame["Income"], income, check_names=False)
    days = raw_text["Dt_Customer"].str.split("-", expand=True).astype(int)
    assert frame["Dt_Customer"].dt.day.tolist() == days[0].tolist()
    assert frame["Dt_Customer"].dt.month.tolist() == days[1].tolist()
    assert frame["Dt_Customer"].dt.year.tolist() == days[2].tolist()
    assert frame["Marital_Status"].value_counts()[["Alone", "Absurd", "YOLO"]].tolist() == [3, 2, 2]


@needs_real
def test_real_file_loads_fast():
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        load_customers(REAL, Config())
        best = min(best, time.perf_counter() - start)
    assert best < 0.5, f"loading the real file took {best:.3f}s"


@needs_real
@pytest.mark.parametrize(
    "name, config, expect",
    [
        ("comma.csv", {}, {"delimiter": ",", "line_ending": "LF", "date_format": "%d-%m-%Y"}),
        ("semicolon.csv", {}, {"delimiter": ";", "date_format": "%d/%m/%Y"}),
        ("bom_crlf.tsv", {}, {"delimiter": "\t", "bom": True, "line_ending": "CRLF"}),
        ("iso.txt", {}, {"delimiter": "\t", "line_ending": "LF", "date_format": "%Y-%m-%d"}),
        ("text_dates.parquet", {}, {"format": "parquet", "date_format": "%d-%m-%Y"}),
        ("typed.parquet", {}, {"format": "parquet", "date_format": NATIVE_DATES}),
        ("typed.xlsx", {"sheet": "customers"}, {"format": "excel", "date_format": NATIVE_DATES}),
        (
            "renamed.csv",
            {"columns": {"Income": "household_income", "Dt_Customer": "Enrolled On"}},
            {"delimiter": ","},
        ),
    ],
)
def test_rewritten_variants_give_the_identical_frame(variants, original, name, config, expect):
    loaded = load_customers(variants / name, cfg(**config))
    pd.testing.assert_frame_equal(loaded.frame, original.frame)
    info = loaded.info.to_dict()
    for key, value in expect.items():
        assert info[key] == value, key
    assert info["missing"] == {"Income": 24}
    if name == "renamed.csv":
        # " id " matches ID by name (case/space-insensitive); the others through [columns]
        assert info["columns_matched"]["ID"] == "id"
        assert info["columns_matched"]["Income"] == "household_income"
        assert info["columns_matched"]["Dt_Customer"] == "Enrolled On"


@needs_real
def test_validate_real_file_is_ok():
    report = validate_file(REAL, Config())
    assert report["ok"] is True and report["problems"] == []
    assert report["rows"] == 2240
    assert report["missing_values"] == {"Income": 24}
    assert report["missing_columns"] == [] and report["extra_columns"] == []
    assert report["date_format"] == "%d-%m-%Y"
    assert report["delimiter"] == "tab"
    assert len(report["columns_matched"]) == 29


# ----------------------------------------------------------------- dates


def test_ambiguous_dates_raise_unless_date_format_is_set(tmp_path):
    table = small_table(3)
    table["Dt_Customer"] = ["03/04/2013", "05/06/2013", "12/11/2012"]
    path = write(tmp_path, table)
    message = raises(path)
    assert "Dt_Customer" in message and "03/04/2013" in message
    assert 'date_format = "%d/%m/%Y"' in message and '"%m/%d/%Y"' in message
    assert "[input]" in message

    day_first = load_customers(path, cfg(date_format="%d/%m/%Y")).frame["Dt_Customer"]
    assert day_first.tolist() == [pd.Timestamp(2013, 4, 3), pd.Timestamp(2013, 6, 5),
                                  pd.Timestamp(2012, 11, 12)]  # fmt: skip
    month_first = load_customers(path, cfg(date_format="%m/%d/%Y"))
    assert month_first.frame["Dt_Customer"].iloc[0] == pd.Timestamp(2013, 3, 4)
    assert month_first.info.date_format == "%m/%d/%Y"


def test_unambiguous_slash_dates_are_detected_either_way(tmp_path):
    table = small_table(3)
    table["Dt_Customer"] = ["03/04/2013", "05/06/2013", "12/25/2012"]  # 25 can only be a day
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.info.date_format == "%m/%d/%Y"
    assert loaded.frame["Dt_Customer"].iloc[0] == pd.Timestamp(2013, 3, 4)
    # day == month everywhere: both readings agree, so nothing is ambiguous
    table["Dt_Customer"] = ["01/01/2013", "02/02/2013", "11/11/2012"]
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.frame["Dt_Customer"].iloc[2] == pd.Timestamp(2012, 11, 11)


@pytest.mark.parametrize(
    "values, fmt",
    [
        (["4-Sep-12", "21-Aug-13", "1-Jan-14"], "%d-%b-%y"),
        (["04.09.2012", "21.08.2013", "01.01.2014"], "%d.%m.%Y"),
        (["2012/09/04", "2013/08/21", "2014/01/01"], "%Y/%m/%d"),
        (["4-9-2012", "21-8-2013", "1-1-2014"], "%d-%m-%Y"),
    ],
)
def test_date_layouts(tmp_path, values, fmt):
    table = small_table(3)
    table["Dt_Customer"] = values
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.info.date_format == fmt
    expected = [pd.Timestamp(2012, 9, 4), pd.Timestamp(2013, 8, 21), pd.Timestamp(2014, 1, 1)]
    assert loaded.frame["Dt_Customer"].tolist() == expected


def excel_serial(day: dt.date) -> int:
    return (day - dt.date(1899, 12, 30)).days


def test_excel_serial_dates_in_text_and_in_workbook(tmp_path):
    days = [dt.date(2012, 9, 4), dt.date(2013, 8, 21), dt.date(2014, 6, 29)]
    table = small_table(3)
    table["Dt_Customer"] = [str(excel_serial(d)) for d in days]
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.info.date_format == EXCEL_SERIAL
    assert loaded.frame["Dt_Customer"].dt.date.tolist() == days

    typed = table.copy()
    for column in typed.columns:
        if column not in schema.CATEGORY_COLUMNS:
            typed[column] = pd.to_numeric(typed[column])
    path = tmp_path / "serial.xlsx"
    typed.to_excel(path, index=False)
    book = load_customers(path, Config())
    assert book.info.date_format == EXCEL_SERIAL
    assert book.frame["Dt_Customer"].dt.date.tolist() == days
    pd.testing.assert_frame_equal(book.frame, loaded.frame)


def test_serial_number_out_of_range_names_row(tmp_path):
    table = small_table(3)
    table["Dt_Customer"] = ["41156", "123", "41200"]
    message = raises(write(tmp_path, table))
    assert "Dt_Customer, row 3" in message and "123" in message


def test_unparseable_date_names_row_value_and_setting(tmp_path):
    table = small_table(5)
    table.loc[3, "Dt_Customer"] = "31-02-2013"
    message = raises(write(tmp_path, table))
    assert "column Dt_Customer, row 5" in message  # header is row 1, data row 4 is row 5
    assert "'31-02-2013'" in message
    assert "dd-mm-yyyy" in message and "fix the value" in message
    # no date exists on 31 February: no setting is suggested (the old message offered
    # date_format = "%d-%m-%Y", the very format that could not read it)
    assert "no date format reads it" in message and "date_format" not in message

    table = small_table(3)
    table["Dt_Customer"] = ["soon", "later", "never"]
    message = raises(write(tmp_path, table))
    assert "row 2" in message and "'soon'" in message and "date_format" in message


def test_configured_date_format_that_does_not_fit(tmp_path):
    path = write(tmp_path, small_table(3))
    message = raises(path, cfg(date_format="%Y-%m-%d"))
    assert "row 2" in message and '"%Y-%m-%d"' in message


def test_empty_dates_are_missing_not_errors(tmp_path):
    table = small_table(4)
    table.loc[1, "Dt_Customer"] = ""
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.frame["Dt_Customer"].isna().tolist() == [False, True, False, False]
    assert loaded.info.missing == {"Dt_Customer": 1}


# ----------------------------------------------------------------- columns


def test_missing_required_columns_message(tmp_path):
    table = small_table(3).drop(columns=["Income", "Recency", "Z_Revenue"])
    path = write(tmp_path, table)
    message = raises(path)
    assert f"{path}: missing required column(s) Income, Recency — add them or map your " in message
    assert '[columns] of the config (e.g. Income = "household_income")' in message
    assert "Z_Revenue" not in message  # optional


def test_optional_columns_may_be_absent(tmp_path):
    table = small_table(3).drop(columns=["Z_CostContact", "Z_Revenue", "Complain"])
    loaded = load_customers(write(tmp_path, table), Config())
    assert list(loaded.frame.columns) == [
        c for c in schema.DATA_SET_COLUMNS if c not in schema.OPTIONAL_COLUMNS
    ]


def test_headers_match_ignoring_case_spaces_underscores(tmp_path):
    table = small_table(3).rename(
        columns={
            "Marital_Status": "marital status",
            "MntWines": "MNT_WINES",
            "Year_Birth": "Year-Birth",
        }
    )
    table["notes"] = "x"
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.info.columns_matched["Marital_Status"] == "marital status"
    assert loaded.info.columns_matched["MntWines"] == "MNT_WINES"
    assert loaded.info.extra_columns == ["notes"]
    assert "notes" not in loaded.frame.columns
    assert loaded.frame["Year_Birth"].tolist() == [1950, 1951, 1952]


def test_mapping_to_absent_header_is_named(tmp_path):
    path = write(tmp_path, small_table(3))
    message = raises(path, cfg(columns={"Income": "household_income"}))
    assert '"household_income"' in message and "Income" in message and "[columns]" in message


def test_duplicate_header_matches_are_an_error(tmp_path):
    table = small_table(3)
    table.insert(5, "income", table["Income"])
    message = raises(write(tmp_path, table))
    assert "'Income', 'income'" in message and "[columns]" in message
    # an explicit mapping settles it
    loaded = load_customers(write(tmp_path, table), cfg(columns={"Income": "income"}))
    assert loaded.info.columns_matched["Income"] == "income"
    assert loaded.info.extra_columns == ["Income"]


def test_exact_duplicate_headers_are_caught(tmp_path):
    path = tmp_path / "dup.csv"
    table = small_table(2)
    lines = ["\t".join([*table.columns, "Income"])]
    lines += ["\t".join([*row, "1"]) for row in table.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "'Income', 'Income'" in raises(path)


# ----------------------------------------------------------------- numbers and ids


def test_junk_number_names_column_row_and_value(tmp_path):
    table = small_table(5)
    table.loc[2, "Income"] = "abc"
    message = raises(write(tmp_path, table))
    assert "column Income, row 4" in message and "'abc'" in message


def test_cheap_number_cleanups(tmp_path):
    table = small_table(5)
    table["Income"] = ["58,138", "$58138", "1,234,567.5", " 42 ", "€ 1,000"]
    table["Response"] = ["yes", "no", "TRUE", "false", "1"]
    path = write(tmp_path, table, sep=",")  # pandas quotes the commas
    frame = load_customers(path, Config()).frame
    assert frame["Income"].tolist() == [58138.0, 58138.0, 1234567.5, 42.0, 1000.0]
    assert frame["Response"].tolist() == [1, 0, 1, 0, 1]
    assert frame["Response"].dtype == np.int64


def test_decimal_comma_is_refused_not_guessed(tmp_path):
    table = small_table(3)
    table.loc[1, "Income"] = "58138,5"
    message = raises(write(tmp_path, table))
    assert "column Income, row 3" in message and "'58138,5'" in message


def test_missing_numbers_are_nan_and_int_columns_fall_back_to_float(tmp_path):
    table = small_table(4)
    table.loc[0, "Income"] = ""
    table.loc[2, "Kidhome"] = "NA"
    loaded = load_customers(write(tmp_path, table), Config())
    assert loaded.info.missing == {"Income": 1, "Kidhome": 1}
    assert loaded.frame["Kidhome"].dtype == np.float64
    assert loaded.frame["Teenhome"].dtype == np.int64


def test_duplicate_ids_name_the_id_and_rows(tmp_path):
    table = small_table(5)
    table.loc[3, "ID"] = "1001"
    message = raises(write(tmp_path, table))
    assert "customer id 1001" in message and "rows 3, 5" in message


def test_text_ids_stay_text(tmp_path):
    table = small_table(3)
    table["ID"] = ["007", "008", "010"]
    frame = load_customers(write(tmp_path, table), Config()).frame
    assert frame["ID"].tolist() == ["007", "008", "010"]
    table["ID"] = ["C1", "C2", "C3"]
    assert load_customers(write(tmp_path, table), Config()).frame["ID"].tolist() == [
        "C1",
        "C2",
        "C3",
    ]


def test_empty_id_is_an_error(tmp_path):
    table = small_table(3)
    table.loc[1, "ID"] = ""
    assert "column ID, row 3" in raises(write(tmp_path, table))


# ----------------------------------------------------------------- dialects and files


def test_quoted_fields_blank_lines_and_row_numbers(tmp_path):
    table = small_table(4)
    table["Education"] = ["Graduation, honours", "PhD", " Master ", "Basic"]
    text = table.to_csv(sep=",", index=False)
    lines = text.splitlines()
    lines.insert(2, "")  # a blank line after the first data row
    path = tmp_path / "quoted.csv"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    loaded = load_customers(path, Config())
    assert loaded.info.rows == 4
    assert loaded.frame["Education"].tolist() == ["Graduation, honours", "PhD", "Master", "Basic"]
    # row numbers count the blank line, like a spreadsheet would
    bad = text.replace("31000", "oops")
    lines = bad.splitlines()
    lines.insert(2, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "column Income, row 4" in raises(path)


def test_configured_delimiter_overrides_detection(tmp_path):
    table = small_table(3)
    path = write(tmp_path, table, sep=";")
    assert load_customers(path, cfg(delimiter="semicolon")).info.delimiter == ";"
    message = raises(path, cfg(delimiter=","))
    assert "missing required column(s)" in message


def test_ragged_rows_name_the_line(tmp_path):
    path = write(tmp_path, small_table(3))
    text = path.read_text().splitlines()
    text[2] += "\textra\tfields"
    path.write_text("\n".join(text) + "\n")
    message = raises(path)
    assert "line 3" in message and "delimiter" in message


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in raises(empty)
    header = tmp_path / "header.csv"
    header.write_text("\t".join(schema.COLUMNS) + "\n", encoding="utf-8")
    assert "no data rows" in raises(header)


def test_non_utf8_file_says_save_as_utf8(tmp_path):
    table = small_table(3)
    table["Education"] = ["Université", "PhD", "Master"]
    path = tmp_path / "latin1.csv"
    table.to_csv(path, sep="\t", index=False, encoding="latin-1")
    message = raises(path)
    assert "not UTF-8" in message and "save it as UTF-8" in message and "line 2" in message


def test_unsupported_extension_and_missing_file(tmp_path):
    path = tmp_path / "customers.json"
    path.write_text("{}")
    message = raises(path)
    assert ".json" in message and ".csv" in message and ".xlsx" in message and ".parquet" in message
    assert "not found" in raises(tmp_path / "nope.csv")


def test_excel_sheet_selection(tmp_path):
    typed = small_table(3)
    for column in typed.columns:
        if column not in [*schema.CATEGORY_COLUMNS, "Dt_Customer"]:
            typed[column] = pd.to_numeric(typed[column])
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover"]}).to_excel(writer, sheet_name="About", index=False)
        typed.to_excel(writer, sheet_name="Data", index=False)
    message = raises(path)  # sheet 0 is the cover sheet
    assert "missing required column(s)" in message
    assert load_customers(path, cfg(sheet="Data")).info.rows == 3
    assert load_customers(path, cfg(sheet=1)).frame["Income"].tolist() == [30000, 31000, 32000]
    message = raises(path, cfg(sheet="Customers"))
    assert "'Customers'" in message and "About, Data" in message


def test_text_and_excel_of_the_same_table_agree(tmp_path):
    table = small_table(4)
    csv_frame = load_customers(write(tmp_path, table), Config()).frame
    path = tmp_path / "text_cells.xlsx"
    table.to_excel(path, index=False)  # every cell stored as text
    pd.testing.assert_frame_equal(load_customers(path, Config()).frame, csv_frame)


# ----------------------------------------------------------------- validate


def test_validate_lists_every_problem_without_raising(tmp_path):
    table = small_table(4).drop(columns=["Recency"])
    table["extra"] = "x"
    table.loc[1, "Income"] = "abc"
    table.loc[2, "ID"] = "1000"
    table.loc[3, "Dt_Customer"] = "not a date"
    path = write(tmp_path, table)
    report = validate_file(path, Config())
    assert report["ok"] is False
    assert report["rows"] == 4
    assert report["missing_columns"] == ["Recency"]
    assert report["extra_columns"] == ["extra"]
    problems = report["problems"]
    assert len(problems) == 4
    assert any("missing required column(s) Recency" in p for p in problems)
    assert any("column Income, row 3" in p for p in problems)
    assert any("customer id 1000" in p and "rows 2, 4" in p for p in problems)
    assert any("column Dt_Customer, row 5" in p for p in problems)
    assert all("\n" not in p for p in problems)


def test_validate_reports_missing_values_and_format(tmp_path):
    table = small_table(4)
    table.loc[0, "Income"] = ""
    report = validate_file(write(tmp_path, table, sep=";"), Config())
    assert report["ok"] is True and report["problems"] == []
    assert report["missing_values"] == {"Income": 1}
    assert report["date_format"] == "%d-%m-%Y" and report["delimiter"] == "semicolon"
    assert report["sha256"] == sha256_of(tmp_path / "c.csv")


def test_validate_still_raises_on_unreadable_files(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"this is not a workbook")
    with pytest.raises(InputError, match="not a readable Excel workbook"):
        validate_file(path, Config())


def numeric_table(n: int = 4) -> pd.DataFrame:
    """small_table with numbers as numbers (dates stay text), as a typed file would hold them."""
    table = small_table(n)
    for column in table.columns:
        if column not in [*schema.CATEGORY_COLUMNS, "Dt_Customer"]:
            table[column] = pd.to_numeric(table[column])
    return table


def test_parquet_nullable_bool_and_tz_columns(tmp_path):
    table = numeric_table(4)
    expected = load_customers(write(tmp_path, small_table(4)), Config()).frame
    table["ID"] = table["ID"].astype("Int64")
    table["Kidhome"] = pd.array([1, None, 2, 3], dtype="Int64")
    table["Response"] = [bool(v) for v in table["Response"]]
    dates = pd.to_datetime(table["Dt_Customer"], format="%d-%m-%Y")
    table["Dt_Customer"] = dates.dt.tz_localize("UTC")
    path = tmp_path / "typed.parquet"
    table.to_parquet(path, index=False)
    loaded = load_customers(path, Config())
    assert loaded.info.date_format == NATIVE_DATES
    assert loaded.info.missing == {"Kidhome": 1}
    frame = loaded.frame
    assert frame["ID"].dtype == np.int64 and frame["Response"].dtype == np.int64
    assert frame["Kidhome"].tolist()[0] == 1.0 and np.isnan(frame["Kidhome"].iloc[1])
    pd.testing.assert_frame_equal(frame.drop(columns="Kidhome"), expected.drop(columns="Kidhome"))


def test_excel_row_numbers_count_blank_rows(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "gaps.xlsx"
    numeric_table(4).to_excel(path, index=False)
    book = openpyxl.load_workbook(path)
    sheet = book.active
    sheet.insert_rows(3)  # a blank spreadsheet row 3
    income = list(schema.COLUMNS).index("Income") + 1
    sheet.cell(row=5, column=income).value = "junk"
    book.save(path)
    assert "column Income, row 5" in raises(path)
    sheet.cell(row=5, column=income).value = 31000
    book.save(path)
    assert load_customers(path, Config()).info.rows == 4


def test_validate_empty_file_and_mapping_problems(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("\r\n")
    report = validate_file(empty, Config())
    assert report["ok"] is False and report["rows"] == 0
    assert report["delimiter"] is None
    assert len(report["problems"]) == 1 and "empty" in report["problems"][0]

    path = write(tmp_path, small_table(3))
    report = validate_file(path, cfg(columns={"Incom": "x", "Recency": "days_since"}))
    problems = report["problems"]
    assert any("unknown column 'Incom'" in p for p in problems)
    assert any('Recency to "days_since"' in p for p in problems)
    # the failed mapping is reported once, not again as a missing column
    assert not any("missing required column(s)" in p for p in problems)
    assert report["missing_columns"] == ["Recency"]


@pytest.mark.parametrize("ending, name", [("\n", "LF"), ("\r\n", "CRLF"), ("\r", "CR")])
@pytest.mark.parametrize("bom", [False, True])
def test_line_endings_and_bom(tmp_path, ending, name, bom):
    table = small_table(3)
    expected = load_customers(write(tmp_path, table, name="plain.csv"), Config()).frame
    path = tmp_path / "dialect.csv"
    text = table.to_csv(sep=";", index=False, lineterminator=ending)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    loaded = load_customers(path, Config())
    assert (loaded.info.line_ending, loaded.info.bom, loaded.info.delimiter) == (name, bom, ";")
    assert loaded.info.columns_matched["ID"] == "ID"  # the BOM is not part of the first header
    pd.testing.assert_frame_equal(loaded.frame, expected)
