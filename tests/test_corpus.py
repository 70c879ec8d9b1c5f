"""A hostile corpus: bad files, values, configs, models, brands, addresses and run folders.

Each case is a small input made from the 300-row test file (or written from scratch), the
command it is given to, the exit code it must end with and a fragment of its one-line
message. Across the corpus: never exit 1, never a traceback, exactly one line on stderr
(the runs are quiet) and nothing written where a failed run would write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from reportgen.cli import cli

SMALL = Path(__file__).parent / "data" / "customers_small.tsv"


@dataclass
class Case:
    name: str
    #: writes the input into the folder and returns the command's arguments
    make: Callable[[Path], list[str]]
    fragment: str
    code: int = 2
    #: a data case is also given to `validate`, which must report the same problem
    data: bool = False


def _frame() -> pd.DataFrame:
    return pd.read_csv(SMALL, sep="\t", dtype=str, keep_default_na=False)


def _run(path: Path, folder: Path | None = None) -> list[str]:
    out = (folder or path.parent) / "out"
    return ["-q", "run", "--data", str(path), "--out", str(out), "--no-history", "--no-report"]


def _table(frame: pd.DataFrame, folder: Path, name: str = "customers.tsv") -> Path:
    path = folder / name
    frame.to_csv(path, sep="\t", index=False)
    return path


def cell(column: str, value: str, row: int = 4) -> Callable[[Path], list[str]]:
    """One cell of data row `row` (file row row + 2) set to `value`."""

    def make(folder: Path) -> list[str]:
        frame = _frame()
        frame.loc[row, column] = value
        return _run(_table(frame, folder))

    return make


def column(name: str, value: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        frame = _frame()
        frame[name] = value
        return _run(_table(frame, folder))

    return make


def drop(name: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        return _run(_table(_frame().drop(columns=[name]), folder))

    return make


def raw(content: bytes, name: str = "customers.csv") -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = folder / name
        path.write_bytes(content)
        return _run(path)

    return make


def with_config(toml: str | bytes) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = folder / "reportgen.toml"
        path.write_bytes(toml if isinstance(toml, bytes) else toml.encode())
        return ["--config", str(path), *_run(SMALL, folder)]

    return make


def flags(*args: str, after: tuple[str, ...] = ()) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        return [*args, *_run(SMALL, folder), *after]

    return make


def model(text: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = folder / "model.json"
        path.write_text(text, encoding="utf-8")
        out = str(folder / "out" / "scores.csv")
        return ["-q", "assign", "--model", str(path), "--data", str(SMALL), "--out", out]

    return make


def brand(files: dict[str, str | bytes]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        theme = folder / "brand"
        theme.mkdir()
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (theme / name).write_bytes(data)
        return [*_run(SMALL, folder)[:-1], "--brand", str(theme)]

    return make


def send(*args: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        run = folder / "run"
        run.mkdir()
        (run / "summary.json").write_text("{}", encoding="utf-8")
        return ["-q", "send", "--run", str(run), "--dry-run", *args]

    return make


def render(setup: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        run = folder / "run"
        run.mkdir()
        setup(run)
        return ["-q", "render", "--from", str(run)]

    return make


def _cut(fields: int) -> bytes:
    """The test file with data row 6 (file row 7) cut after `fields` fields."""
    lines = SMALL.read_bytes().splitlines(keepends=True)
    lines[6] = b"\t".join(lines[6].rstrip(b"\r\n").split(b"\t")[:fields]) + b"\n"
    return b"".join(lines)


def _long() -> bytes:
    lines = SMALL.read_bytes().splitlines(keepends=True)
    lines[6] = lines[6].rstrip(b"\r\n") + b"\textra\n"
    return b"".join(lines)


BRAND_TOML = 'name = "T"\nprimary = "#123456"\naccent = "#654321"\n'

CASES = [
    # ------------------------------------------------------------------ files
    Case("missing file", lambda d: _run(d / "nope.csv"), "nope.csv"),
    Case("a folder as data", lambda d: _run(d), "is a directory"),
    Case("empty file", raw(b""), "empty", data=True),
    Case("header only", raw(SMALL.read_bytes().splitlines(True)[0]), "no data rows", data=True),
    Case("binary junk", raw(bytes(range(256)) * 20), "not UTF-8", data=True),
    Case("UTF-16 text", raw(SMALL.read_text().encode("utf-16")), "UTF-16", data=True),
    Case("Latin-1 byte", raw(SMALL.read_bytes().replace(b"Single", b"Sin\xe9gle")), "not UTF-8"),
    Case("unsupported type", raw(b"%PDF-1.4", "customers.pdf"), ".pdf"),
    Case("corrupt workbook", raw(b"PK\x03\x04 not a workbook", "customers.xlsx"), "xlsx"),
    Case("corrupt parquet", raw(b"PAR1 broken PAR1", "customers.parquet"), "Parquet"),
    Case(
        "unclosed quote",
        raw(SMALL.read_bytes().replace(b"\tPhD\t", b'\t"PhD\t', 1), "customers.tsv"),
        "quoted",
        data=True,
    ),
    Case("a row cut short", raw(_cut(10), "customers.tsv"), "row 7 has 10 of 29 fields", data=True),
    Case("a row one field long", raw(_long(), "customers.tsv"), "Expected 29 fields", data=True),
    Case("one column only", raw(b"ID\n1\n2\n"), "cannot tell the field delimiter", data=True),
    # ------------------------------------------------------------------ columns
    Case("no Income column", drop("Income"), "Income", data=True),
    Case("no ID column", drop("ID"), "ID", data=True),
    Case(
        "duplicate header",
        lambda d: _run(_table(_frame().rename(columns={"Kidhome": "Teenhome"}), d)),
        "Teenhome",
        data=True,
    ),
    *[
        Case(f"{name} empty everywhere", column(name, ""), "is empty in every row", data=True)
        for name in ("Education", "Dt_Customer", "Income", "Year_Birth", "Response")
    ],
    # ------------------------------------------------------------------ values
    Case("text in Income", cell("Income", "lots"), "row 6: 'lots' is not a number", data=True),
    Case("inf in Income", cell("Income", "inf"), "not a usable number", data=True),
    Case("1e309 in a spend", cell("MntWines", "1e309"), "not a usable number", data=True),
    Case("flag of 7", cell("AcceptedCmp3", "7"), "'7' is not 0 or 1", data=True),
    Case("flag of -1", cell("Response", "-1"), "'-1' is not 0 or 1", data=True),
    Case("flag of 0.5", cell("Complain", "0.5"), "is not 0 or 1", data=True),
    Case("1.5 children", cell("Kidhome", "1.5"), "'1.5' is not a whole number", data=True),
    Case("2.5 web visits", cell("NumWebVisitsMonth", "2.5"), "not a whole number", data=True),
    Case("-1 teenagers", cell("Teenhome", "-1"), "'-1' is below 0", data=True),
    Case("negative recency", cell("Recency", "-3"), "'-3' is below 0", data=True),
    Case("born in 3000", cell("Year_Birth", "3000"), "is not a year of birth", data=True),
    Case("born in 1700", cell("Year_Birth", "1700"), "is not a year of birth", data=True),
    Case("year 9999", cell("Dt_Customer", "01-01-9999"), "outside 1900–2100", data=True),
    Case("year 1815", cell("Dt_Customer", "31-12-1815"), "outside 1900–2100", data=True),
    Case("no 32nd day", cell("Dt_Customer", "32-01-2014"), "32-01-2014", data=True),
    Case("a word as a date", cell("Dt_Customer", "yesterday"), "yesterday", data=True),
    Case("empty id", cell("ID", ""), "empty customer id", data=True),
    Case("repeated id", cell("ID", "340"), "340", data=True),
    # ------------------------------------------------------------------ config and flags
    Case("seed -1", flags("--seed", "-1"), "--seed", code=2),
    Case("seed 2**32", flags("--seed", str(2**32)), "--seed", code=2),
    Case("unknown setting", with_config("[clustering]\nkk = 3\n"), "kk"),
    Case("not TOML", with_config("[clustering\n"), "TOML"),
    Case("binary config", with_config(bytes(range(256))), "reportgen.toml"),
    Case("k_max below k_min", with_config("[clustering]\nk_min = 6\nk_max = 3\n"), "k_max"),
    Case("date format %Q", with_config('[input]\ndate_format = "%Q"\n'), "date_format"),
    Case("delimiter ab", with_config('[input]\ndelimiter = "ab"\n'), "delimiter"),
    Case("one feature", with_config('[features]\nclustering = ["Income"]\n'), "clustering"),
    Case("unknown feature", with_config('[features]\nclustering = ["Income", "Shoe"]\n'), "Shoe"),
    Case("negative wait", with_config("[history]\nwait_seconds = -1\n"), "wait_seconds"),
    Case("period 2024-13", flags(after=("--period", "2024-13")), "2024-13"),
    Case("k of 1", flags(after=("--k", "1")), "--k"),
    # ------------------------------------------------------------------ model files
    Case("model not JSON", model("{not json"), "model.json"),
    Case("model nested deep", model("[" * 100_000 + "]" * 100_000), "model.json"),
    Case("model huge integer", model('{"k": ' + "9" * 100_001 + "}"), "model.json"),
    Case("model wrong kind", model('{"schema_version": "1", "k": "five"}'), "model.json"),
    Case("model empty", model(""), "model.json"),
    # ------------------------------------------------------------------ brands
    Case("brand without toml", brand({"style.css": "p {}"}), "no such brand"),
    Case(
        "brand bad colour",
        brand({"brand.toml": 'primary = "red"\naccent = "#000000"\n'}),
        "primary",
    ),
    Case(
        "brand logo outside", brand({"brand.toml": BRAND_TOML + 'logo = "../../x.svg"\n'}), "logo"
    ),
    Case("brand not TOML", brand({"brand.toml": "primary = \n"}), "TOML"),
    Case(
        "brand CSS not UTF-8", brand({"brand.toml": BRAND_TOML, "style.css": b"\xff\xfe"}), "UTF-8"
    ),
    # ------------------------------------------------------------------ e-mail
    Case("header in --to", send("--to", "a@b.c\nBcc: evil@x.y"), "--to"),
    Case("two in one --to", send("--to", "a@b.c, evil@x.y"), "--to"),
    Case("CRLF in --from", send("--to", "a@b.c", "--from", "me@x.y\r\nFrom: boss@x.y"), "--from"),
    Case("no address", send("--to", "not an address"), "--to"),
    # ------------------------------------------------------------------ run folders
    Case("render a non-run", render(lambda run: None), "no summary.json"),
    Case(
        "render a corrupt summary",
        render(lambda run: (run / "summary.json").write_text("{", encoding="utf-8")),
        "cannot read the saved run",
    ),
    Case(
        "render a summary of another kind",
        render(lambda run: (run / "summary.json").write_text(json.dumps([1]), encoding="utf-8")),
        "cannot read the saved run",
    ),
]


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_hostile_corpus(case: Case, tmp_path):
    args = case.make(tmp_path)
    result = _invoke(args)
    assert result.exit_code == case.code, (args, result.output)
    assert "Traceback" not in result.output
    if case.code == 2:
        lines = result.stderr.strip().splitlines()
        assert (
            len(lines) == 1
            and lines[0].startswith("reportgen: error:")
            or (
                len(lines) >= 1 and lines[-1].startswith("Error:")  # click's own usage errors
            )
        ), result.stderr
        assert case.fragment in result.stderr, result.stderr
        assert not (tmp_path / "out").exists()
    if case.data:
        validate = _invoke(["validate", "--data", args[args.index("--data") + 1]])
        assert validate.exit_code == 2, validate.output
        assert case.fragment in validate.output, validate.output


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 60
