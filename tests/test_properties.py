"""Property-based tests (Hypothesis): random mutations of real rows never crash reportgen.

Values, types, missing cells, column order, row order, delimiters and encodings are mutated;
`validate` and `run` must end in exit 0 or exit 2 with one line — never exit 1, never a
traceback — and an exit 0 never writes a non-finite number into summary.json.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reportgen import schema
from reportgen.cli import cli

#: values a careless export or a hostile file puts in a cell
ODD_VALUES = [
    "",
    " ",
    "abc",
    "-1",
    "0",
    "1",
    "7",
    "0.5",
    "1.5",
    "-0",
    "1e309",
    "-1e309",
    "inf",
    "NaN",
    "nan",
    "None",
    "NULL",
    "1,000",
    "1.000,5",
    "€5",
    "$ 12",
    "=1+1",
    "@SUM(A1)",
    "99999999999999999999",
    "01-01-9999",
    "31-12-1815",
    "12/31/2014",
    "2014-06-29",
    "29-02-2013",
    "yes",
    "TRUE",
    "x" * 300,
    "Ünïcødé 名前",
    "\u200b",
    "<b>bold</b>",
    '"quoted"',
    "a\tb",
    "5524.0",
]
#: numbers a naive number check lets through, for the numeric columns
EDGE_NUMBERS = ["inf", "-inf", "1e309", "1e300", "-1e308", "NaN", "1e-320", "-0.0", "1e12"]
#: values a column of each kind takes in its stride (missing, spaced, zero, grouped, currency)
GENTLE = {
    "flag": ["", "0", "1", " 1 "],
    "int": ["", "0", " 2 ", "1,000"],
    "float": ["", "0", "€15", "2,000", " 7 "],
}


def _gentle(column: str) -> list[str]:
    kind = schema.COLUMNS.get(column, ("category", ""))[0]
    if column == "Year_Birth" or kind not in GENTLE:
        return ["", " "]  # dates, categories, years: missing is what they take
    return GENTLE[kind]


#: mostly UTF-8 (latin-1 and UTF-16 are refused with one line)
ENCODINGS = ["utf-8"] * 5 + ["utf-8-sig", "latin-1", "utf-16"]
DELIMITERS = ["\t", ",", ";"]
NUMERIC = set(schema.NUMERIC_COLUMNS)


@pytest.fixture(scope="module")
def rows(real_file) -> list[list[str]]:
    lines = real_file.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines[:161]]  # the header and 160 customers


@st.composite
def mutated_tables(draw, rows: list[list[str]], max_rows: int, hostile: bool = True) -> bytes:
    """A table of real rows with mutations; `hostile=False` keeps to what a run should take
    in its stride (so most examples reach the end of the run), plus at most one odd cell."""
    header, body = rows[0], [list(r) for r in rows[1 : max_rows + 1]]
    width = len(header)

    def sometimes(one_in: int) -> bool:
        return draw(st.integers(0, one_in - 1)) == 0

    for _ in range(draw(st.integers(0, 12))):  # gentle values in random cells (not the id)
        r, c = draw(st.integers(0, len(body) - 1)), draw(st.integers(1, width - 1))
        body[r][c] = draw(st.sampled_from(_gentle(header[c])))
    for _ in range(draw(st.integers(0, 2 if hostile else 1))):  # odd ones, now and then
        r, c = draw(st.integers(0, len(body) - 1)), draw(st.integers(0, width - 1))
        numeric = header[c] in NUMERIC
        pool = ODD_VALUES + EDGE_NUMBERS if hostile else (EDGE_NUMBERS if numeric else ODD_VALUES)
        body[r][c] = draw(st.sampled_from(pool))
    if hostile and sometimes(4):  # a whole column blanked or set to one odd value
        c = draw(st.integers(0, width - 1))
        value = draw(st.sampled_from(ODD_VALUES))
        for row in body:
            row[c] = value
    if draw(st.booleans()):  # columns in another order
        order = draw(st.permutations(range(width)))
        header = [header[i] for i in order]
        body = [[row[i] for i in order] for row in body]
    if draw(st.booleans()):  # rows in another order
        body = draw(st.permutations(body))
    if hostile and sometimes(4):  # a row cut short or one field too many
        r = draw(st.integers(0, len(body) - 1))
        body[r] = (
            body[r][: draw(st.integers(1, width - 1))]
            if draw(st.booleans())
            else [
                *body[r],
                "extra",
            ]
        )
    delimiter = draw(st.sampled_from(DELIMITERS))
    buffer = io.StringIO()  # quoted as an exporter quotes: fields holding the delimiter
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows([header, *body])
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(ENCODINGS if hostile else ["utf-8", "utf-8-sig"]))
    return text.encode(encoding, errors="replace")


def _check(result) -> None:
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code == 2 and "problems:" not in result.stdout:  # validate lists them
        assert lines and lines[-1].startswith(("reportgen: error:", "Error:")), result.stderr
    assert sum(line.startswith("reportgen: error:") for line in lines) <= 1, result.stderr


def _strict_json(path: Path) -> dict:
    """summary.json, refusing NaN and Infinity (json would accept them silently)."""

    def refuse(constant: str):
        raise AssertionError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


PROPERTY_SETTINGS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples in every CI run: a failure is reproducible
)


@settings(max_examples=80, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_validate_ends_in_0_or_2_on_any_mutation(rows, data):
    table = data.draw(mutated_tables(rows, max_rows=160))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        path.write_bytes(table)
        result = CliRunner().invoke(cli, ["validate", "--data", str(path)])
        event(f"exit {result.exit_code}")
        _check(result)


@settings(max_examples=20, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_run_ends_in_0_or_2_and_writes_only_finite_numbers(rows, data):
    table = data.draw(mutated_tables(rows, max_rows=160, hostile=False))
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "customers.csv", Path(tmp) / "out"
        path.write_bytes(table)
        args = ["-q", "run", "--data", str(path), "--out", str(out)]
        result = CliRunner().invoke(cli, [*args, "--no-history", "--no-report"])
        event(f"exit {result.exit_code}")
        _check(result)
        if result.exit_code == 0:
            _strict_json(out / "summary.json")
            _strict_json(out / "model.json")
        else:
            assert not out.exists()
