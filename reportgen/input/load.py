"""Read a customer file (CSV/TSV/TXT, Excel, Parquet) into the canonical customer frame.

What is detected, and how a user overrides it (all under ``[input]`` / ``[columns]``):

- **Format** from the extension: ``.csv .tsv .txt`` (text), ``.xlsx .xlsm`` (Excel, via
  openpyxl; ``sheet``), ``.parquet .pq``.
- **Text dialect**: UTF-8 with or without BOM, LF / CRLF / CR line endings, delimiter detected
  among tab, comma and semicolon (quoted fields allowed); ``delimiter`` overrides (also accepts
  ``"tab"``, ``"comma"``, ``"semicolon"``).
- **Columns** match the schema ignoring case, spaces, underscores, hyphens and dots;
  ``[columns]`` maps a canonical name to any other header (``Income = "household_income"``).
- **Dates** (``Dt_Customer``): one of :data:`DATE_CANDIDATES`, Excel serial numbers
  (20000..80000) or real date cells (Excel / Parquet). A format is used only when it reads
  *every* non-empty value; day-first/month-first ambiguity is never guessed (set
  ``date_format``). ``date_format = "excel-serial"`` forces serial numbers.
- **Numbers**: empty cells (and the usual NA spellings: ``NA``, ``N/A``, ``null``, ``NaN`` ...)
  are missing. Cheap, unambiguous clean-ups only: surrounding spaces; one leading or trailing
  currency sign (``$ € £``); commas as thousands separators when the number is written in
  strict groups of three (``58,138`` or ``1,234,567.5`` -> a decimal comma such as ``58138,5``
  is refused, not guessed); ``true/false/yes/no`` in 0/1 flag columns. Anything else is an error
  naming the column, row and value.

Row numbers in messages count the header as row 1, as a spreadsheet user would.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..config import Config
from ..errors import InputError

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm")
PARQUET_EXTENSIONS = (".parquet", ".pq")
SUPPORTED = ", ".join(TEXT_EXTENSIONS + EXCEL_EXTENSIONS + PARQUET_EXTENSIONS)

DELIMITER_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon"}
_DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}

#: Candidate date formats, tried in order. A pair holds the day-first and the month-first
#: spelling of one layout: when both read every value, and differently, the file is ambiguous.
DATE_CANDIDATES: list[tuple[str, ...]] = [
    ("%d-%m-%Y", "%m-%d-%Y"),
    ("%d/%m/%Y", "%m/%d/%Y"),
    ("%d.%m.%Y",),
    ("%Y-%m-%d",),
    ("%Y/%m/%d",),
    ("%Y-%m-%d %H:%M:%S",),
    ("%Y-%m-%dT%H:%M:%S",),
    ("%d-%b-%y",),
    ("%d-%b-%Y",),
    ("%d %b %Y",),
    ("%d/%m/%y", "%m/%d/%y"),
    ("%d-%m-%y", "%m-%d-%y"),
]
EXCEL_SERIAL = "excel-serial"
#: label of ``date_format`` when the file holds real date cells (Excel / Parquet).
NATIVE_DATES = "native"
SERIAL_MIN, SERIAL_MAX = 20000, 80000
_EXCEL_EPOCH = "1899-12-30"

_SNIFF_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_CURRENCY = r"[$€£]"
_GROUPED = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_TRUE_FALSE = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}


@dataclass
class LoadInfo:
    """How a file was read; shown by `reportgen validate` and stored with every run."""

    path: str
    sha256: str
    format: str  # "csv" | "excel" | "parquet"
    delimiter: str | None
    encoding: str  # "utf-8" for text, "binary" for Excel / Parquet
    bom: bool
    line_ending: str | None  # "LF" | "CRLF" | "CR" for text
    #: strftime pattern detected or configured, "excel-serial", or "native" (real date cells).
    date_format: str | None
    columns_matched: dict[str, str]  # canonical -> header found in the file
    extra_columns: list[str]  # headers not used
    rows: int
    missing: dict[str, int]  # canonical column -> count of missing values (only > 0)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Loaded:
    """The canonical customer frame and how it was read."""

    frame: pd.DataFrame
    info: LoadInfo


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_customers(path: str | Path, config: Config) -> Loaded:
    """Read a customer file into the canonical frame; raise InputError on the first problem."""
    result = _load(Path(path), config, _Issues(strict=True))
    assert result.frame is not None
    return Loaded(result.frame, result.info)


def validate_file(path: str | Path, config: Config) -> dict[str, Any]:
    """Check a customer file, or a database table or query (`path` a URL, with `[input]
    table` or `query`), and list every problem that would stop `run`.

    Only sources that cannot be read at all (missing, unsupported type, not UTF-8, corrupt
    workbook, broken quoting, a table or login that fails) raise InputError; everything else
    is listed under "problems".
    """
    issues = _Issues(strict=False)
    result = _load(path, config, issues)
    frame = result.frame
    dates = (
        frame[schema.ENROLLED].dropna() if frame is not None and schema.ENROLLED in frame else None
    )
    first, last = (dates.min(), dates.max()) if dates is not None and len(dates) else (None, None)
    return validation_report(
        result.info, result.missing_required, result.missing_optional, first, last, config, issues
    )


def validation_report(
    info: LoadInfo,
    missing_required: list[str],
    missing_optional: list[str],
    first: pd.Timestamp | None,
    last: pd.Timestamp | None,
    config: Config,
    issues: _Issues,
) -> dict[str, Any]:
    """`validate`'s findings (the local engine's and the Spark engine's): `ok` is False when
    `run` would stop."""
    return {
        "file": info.path,
        "sha256": info.sha256,
        "format": info.format,
        "delimiter": DELIMITER_NAMES.get(info.delimiter or "", info.delimiter),
        "encoding": info.encoding,
        "bom": info.bom,
        "line_ending": info.line_ending,
        "rows": info.rows,
        "columns_matched": info.columns_matched,
        "missing_columns": missing_required,
        "missing_optional_columns": missing_optional,
        "extra_columns": info.extra_columns,
        "missing_values": info.missing,
        "date_format": info.date_format,
        **_date_range(first, last, config),
        "problems": list(issues.items),
        "ok": not issues.items,
    }


def _date_range(
    first: pd.Timestamp | None, last: pd.Timestamp | None, config: Config
) -> dict[str, str | None]:
    """The enrollment dates' first and last day and the date ages and tenure are measured
    at, so a file whose dates were swapped or shifted at the source shows it."""
    if first is None or last is None:
        return {"first_enrolled": None, "last_enrolled": None, "reference_date": None}
    first_day, last_day = first.date().isoformat(), last.date().isoformat()
    reference = config.features.reference_date or f"{last_day} (the last enrollment)"
    return {"first_enrolled": first_day, "last_enrolled": last_day, "reference_date": reference}


# --------------------------------------------------------------------------- internals


class _Issues:
    """Collects problems (validate) or raises the first one (load)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.items: list[str] = []

    def add(self, message: str) -> None:
        if self.strict:
            raise InputError(message)
        self.items.append(message)


@dataclass
class _Raw:
    """A file's header and data before conversion; data columns are header positions."""

    headers: list[str]
    data: pd.DataFrame
    rows: np.ndarray  # spreadsheet row number of every data row
    delimiter: str | None = None
    encoding: str = "binary"
    bom: bool = False
    line_ending: str | None = None


@dataclass
class _Result:
    frame: pd.DataFrame | None
    info: LoadInfo
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)


#: Rows per chunk when a file is streamed (`open_table(...).chunks(...)`).
CHUNK_ROWS = 200_000


@dataclass
class Table:
    """An opened customer file: its header matched to the schema, its rows read on demand.

    `chunks` converts the rows chunk by chunk (the whole file at once when `chunk_rows` is
    None), each with the file row number of every row, so a bad value deep in a large file
    is named by its row. Text and Parquet files
    are streamed; an Excel workbook is read whole (openpyxl cannot stream cell values cheaply).
    """

    path: Path
    file: str
    fmt: str
    sha256: str
    headers: list[str]
    matched: dict[str, int]
    extras: list[str]
    missing_required: list[str]
    missing_optional: list[str]
    meta: _TextMeta | None = None
    whole: _Raw | None = None
    #: the enrollment-date format, known once the first chunk is read
    date_format: str | None = None
    #: rows from elsewhere than a file: a database table or query (input/database.py) or a
    #: DataFrame (input/frame.py); anything with `raw_chunks(chunk_rows)`
    database: Any = None

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[_Raw]:
        if self.fmt == "csv":
            assert self.meta is not None
            text_cols = [
                pos
                for canon, pos in self.matched.items()
                if schema.COLUMNS[canon][0] in ("id", "category", "date")
            ]
            yield from _read_text_chunks(
                self.path,
                self.file,
                self.meta,
                sorted(self.matched.values()),
                text_cols,
                chunk_rows,
            )
        elif self.database is not None:
            for data, rows in self.database.raw_chunks(chunk_rows):
                yield _drop_blank_rows(_Raw(self.headers, data, rows))
        elif self.fmt == "parquet" and self.whole is None:
            yield from _parquet_chunks(self.path, self.file, self.headers, chunk_rows)
        else:
            assert self.whole is not None
            yield self.whole

    def chunks(
        self, config: Config, issues: _Issues, chunk_rows: int | None = CHUNK_ROWS
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """(canonical frame, file row number of each row), chunk by chunk.

        The date format is detected on the first chunk (unless configured) and then required
        of every later one; `self.date_format` holds it once the first chunk is read."""
        configured = config.input.date_format
        self.date_format = configured
        first = True
        for raw in self.raw_chunks(chunk_rows):
            fmt = configured if first else _fixed_format(self.date_format)
            frame, found = _convert(raw, self.matched, self.file, issues, fmt)
            if first or self.date_format is None:
                self.date_format = found
            first = False
            yield frame, raw.rows

    def info(self, rows: int, missing: dict[str, int]) -> LoadInfo:
        meta = self.meta
        raw = self.whole
        return LoadInfo(
            path=self.file,
            sha256=self.sha256,
            format=self.fmt,
            delimiter=meta.delimiter if meta else None,
            encoding="utf-8" if meta else (raw.encoding if raw else "binary"),
            bom=meta.bom if meta else False,
            line_ending=meta.line_ending if meta else None,
            date_format=" or ".join(self.date_format)
            if isinstance(self.date_format, list)
            else self.date_format,
            columns_matched={c: self.headers[p] for c, p in self.matched.items()},
            extra_columns=self.extras,
            rows=rows,
            missing={c: int(n) for c, n in missing.items() if n > 0},
        )


def _fixed_format(found: str | None) -> str | None:
    """The format later chunks must follow (a real-date column needs none)."""
    return None if found in (None, NATIVE_DATES) else found


def open_table(path: str | Path, config: Config, issues: _Issues | None = None) -> Table:
    """Open a customer file and match its header; no data rows are converted yet."""
    path = Path(path)
    issues = issues or _Issues(strict=True)
    file = str(path)
    if path.is_dir():
        raise InputError(f"{file}: is a directory — give the path of the customer file")
    suffix = path.suffix.lower()
    if suffix in TEXT_EXTENSIONS:
        fmt = "csv"
    elif suffix in EXCEL_EXTENSIONS:
        fmt = "excel"
    elif suffix in PARQUET_EXTENSIONS:
        fmt = "parquet"
    elif suffix == ".xls":
        raise InputError(f"{file}: old .xls workbooks are not supported — save it as .xlsx")
    else:
        raise InputError(
            f"{file}: unsupported file type '{suffix or '(no extension)'}' — use one of {SUPPORTED}"
        )
    if not path.exists():
        raise InputError(f"{file}: file not found — check the path")
    if not path.is_file():
        raise InputError(f"{file}: is not a file — give the path of the customer file")
    try:
        sha = sha256_of(path)
    except OSError as exc:
        raise InputError(
            f"{file}: cannot be read ({exc.strerror}) — check its permissions"
        ) from None

    meta = whole = None
    if fmt == "csv":
        meta = _sniff_text(path, file, config)
        headers = meta.headers
    elif fmt == "excel":
        whole = _read_excel(path, file, config)
        headers = whole.headers
    else:
        headers = _parquet_headers(path, file)
    matched, extras, missing_required, missing_optional = _match_columns(
        headers, config.columns, file, issues
    )
    return Table(
        path,
        file,
        fmt,
        sha,
        headers,
        matched,
        extras,
        missing_required,
        missing_optional,
        meta,
        whole,
    )


def open_database(data: str | Path, config: Config, issues: _Issues | None = None) -> Table:
    """Open a database table or query (`[input] table` / `query`) and match its columns."""
    from .database import DatabaseSource

    issues = issues or _Issues(strict=True)
    source = DatabaseSource(data, config.input.table, config.input.query, config)
    matched, extras, missing_required, missing_optional = _match_columns(
        source.headers, config.columns, source.file, issues
    )
    return Table(
        Path("."),
        source.file,
        "sql",
        source.sha256,
        source.headers,
        matched,
        extras,
        missing_required,
        missing_optional,
        database=source,
    )


def open_frame(frame: pd.DataFrame, config: Config, name: str = "DataFrame") -> Table:
    """A DataFrame read like a file: its columns matched, its rows converted chunk by chunk."""
    from .frame import FrameRows

    rows = FrameRows(frame, name)
    matched, extras, missing_required, missing_optional = _match_columns(
        rows.headers, config.columns, rows.file, _Issues(strict=True)
    )
    return Table(
        Path("."),
        rows.file,
        "dataframe",
        rows.sha256,
        rows.headers,
        matched,
        extras,
        missing_required,
        missing_optional,
        database=rows,
    )


def no_data_rows(file: str) -> str:
    return f"{file}: no data rows (only a header) — export the customer rows too"


def open_source(data: str | Path, config: Config, issues: _Issues | None = None) -> Table:
    """A customer file, or a database when `data` is a URL (or an SQLite file with
    `[input] table` or `query`)."""
    from .database import is_database

    if is_database(data, config.input.table, config.input.query):
        return open_database(data, config, issues)
    return open_table(data, config, issues)


def _load(data: str | Path, config: Config, issues: _Issues) -> _Result:
    table = open_source(data, config, issues)
    [(frame, rows)] = list(table.chunks(config, issues, chunk_rows=None))  # one: the whole file
    if schema.ID in frame:
        check_unique_ids(frame[schema.ID], rows, table.file, issues)
    if table.headers and frame.empty and not table.missing_required:
        issues.add(no_data_rows(table.file))
    missing = frame.isna().sum().to_dict()
    check_filled(missing, len(frame), table.file, issues)
    info = table.info(len(frame), missing)
    return _Result(frame, info, table.missing_required, table.missing_optional)


def check_filled(missing: dict[str, int], rows: int, file: str, issues: _Issues) -> None:
    """A required column with no value in any row cannot be imputed (there is nothing to
    impute from): one line naming it, before anything is fitted."""
    for column in schema.REQUIRED_COLUMNS:
        if rows and missing.get(column, 0) >= rows:
            meaning = schema.COLUMNS[column][1].lower()
            issues.add(
                f"{file}: column {column} ({meaning}) is empty in every row — fill it in, or "
                "map the column that holds it under [columns] in the config"
            )


def check_unique_ids(ids: pd.Series, rows: np.ndarray, file: str, issues: _Issues) -> None:
    """Every customer id once; the message names the first repeated id and its rows."""
    duplicated = ids.duplicated(keep=False).to_numpy()
    if duplicated.any():
        first = ids.iloc[_first(duplicated)]
        at = np.flatnonzero((ids == first).to_numpy())
        listed = ", ".join(str(int(rows[i])) for i in at[:5])
        more = f" and {len(at) - 5} more" if len(at) > 5 else ""
        issues.add(
            f"{file}: column {schema.ID}: customer id {first} appears more than once "
            f"(rows {listed}{more}) — ids must be unique; remove or fix the duplicate rows"
        )


# ------------------------------------------------------------------ reading the file


@dataclass
class _TextMeta:
    headers: list[str]
    delimiter: str | None
    bom: bool
    line_ending: str | None


def _not_utf8(file: str, detail: str) -> InputError:
    return InputError(
        f"{file}: not UTF-8 text ({detail}) — save it as UTF-8 "
        "(in Excel: Save As › 'CSV UTF-8'; in LibreOffice: character set 'Unicode (UTF-8)')"
    )


def _sniff_text(path: Path, file: str, config: Config) -> _TextMeta:
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _not_utf8(file, "it is UTF-16")
    if head.startswith(b"PK\x03\x04"):
        raise InputError(f"{file}: this is an Excel workbook, not text — rename it to .xlsx")
    if head.startswith(b"PAR1"):
        raise InputError(f"{file}: this is a Parquet file, not text — rename it to .parquet")
    bom = head.startswith(_UTF8_BOM)
    body = head[len(_UTF8_BOM) :] if bom else head
    truncated = len(head) == _SNIFF_BYTES
    if truncated and b"\n" in body:
        body = body[: body.rindex(b"\n") + 1]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if truncated and exc.reason == "unexpected end of data":
            text = body[: exc.start].decode("utf-8")
        else:
            line = body[: exc.start].count(b"\n") + 1
            raise _not_utf8(file, f"byte 0x{body[exc.start]:02X} on line {line}") from None
    if not text.strip():
        return _TextMeta([], None, bom, None)

    first_nl = text.find("\n")
    if first_nl > 0 and text[first_nl - 1] == "\r":
        line_ending: str | None = "CRLF"
    elif first_nl >= 0:
        line_ending = "LF"
    elif "\r" in text:
        line_ending = "CR"
    else:
        line_ending = None

    delimiter = config.input.delimiter
    if delimiter:
        delimiter = _DELIMITER_ALIASES.get(delimiter.lower(), delimiter)
    else:
        delimiter = _detect_delimiter(text, truncated, file)
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise InputError(
            f"{file}: cannot read the header line ({exc}) — check the quoting"
        ) from None
    return _TextMeta([h.strip() for h in header], delimiter, bom, line_ending)


def _detect_delimiter(text: str, truncated: bool, file: str) -> str:
    best: tuple[tuple[bool, float, int], str] | None = None
    for delim in DELIMITER_NAMES:
        try:
            records = [
                r
                for r in itertools.islice(
                    csv.reader(io.StringIO(text, newline=""), delimiter=delim), 51
                )
                if r
            ]
        except csv.Error:
            continue
        if truncated and len(records) > 1:
            records = records[:-1]  # the sample may end inside the last record
        if not records:
            continue
        width = len(records[0])
        share = sum(len(r) == width for r in records) / len(records)
        key = (width > 1, share, width)
        if best is None or key > best[0]:
            best = (key, delim)
    if best is None or not best[0][0]:
        raise InputError(
            f"{file}: cannot tell the field delimiter (looked for tab, comma, semicolon) — "
            'set delimiter = "..." under [input] in the config'
        )
    return best[1]


def _read_text_chunks(
    path: Path,
    file: str,
    meta: _TextMeta,
    positions: list[int],
    text_cols: list[int],
    chunk_rows: int | None,
) -> Iterator[_Raw]:
    encoding = "utf-8-sig" if meta.bom else "utf-8"

    def raw(frame: pd.DataFrame | None, first_row: int) -> _Raw:
        if frame is None:
            out = _Raw(meta.headers, pd.DataFrame(columns=positions), np.empty(0, dtype=np.int64))
        else:
            out = _Raw(meta.headers, frame, np.arange(len(frame)) + first_row)
        out.delimiter, out.encoding, out.bom, out.line_ending = (
            meta.delimiter,
            "utf-8",
            meta.bom,
            meta.line_ending,
        )
        return _drop_blank_rows(out)

    if not (meta.headers and positions):
        yield raw(None, 2)
        return
    name = DELIMITER_NAMES.get(meta.delimiter, repr(meta.delimiter))
    short = _ShortRows(path, file, encoding, meta.delimiter, len(meta.headers))
    try:
        reader = pd.read_csv(
            path,
            sep=meta.delimiter,
            header=None,
            skiprows=1,
            dtype={p: str for p in text_cols},
            encoding=encoding,
            skip_blank_lines=False,
            low_memory=False,
            engine="c",
            chunksize=chunk_rows or None,
        )
        if chunk_rows is None:
            short.check(reader, 2)
            yield raw(reader, 2)
            return
        first_row, seen = 2, False
        with reader:
            for frame in reader:
                seen = True
                short.check(frame, first_row)
                yield raw(frame, first_row)
                first_row += len(frame)
        if not seen:
            yield raw(None, 2)
    except pd.errors.EmptyDataError:
        yield raw(None, 2)
    except UnicodeDecodeError as exc:
        raise _not_utf8(file, f"byte 0x{exc.object[exc.start]:02X}") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise InputError(
            f"{file}: cannot read it as {name}-separated text ({detail}) — check the "
            "delimiter (set delimiter under [input]) and that fields containing it are quoted"
        ) from None
    finally:
        short.close()


class _ShortRows:
    """Refuses a line with fewer fields than the header (a cut or joined line), as the
    parser refuses one with more; it would silently pad it with empty cells.

    Only rows whose last field came out empty can be short: just those lines are read again
    and split (the first `LIMIT` of them), in one forward pass over the file shared by all
    chunks, so a normal file costs nothing and no line is read twice. A line holding a quote
    character is left alone (a quoted field may span lines, so its line number is not its
    row number)."""

    LIMIT = 1000

    def __init__(self, path: Path, file: str, encoding: str, delimiter: str, width: int):
        self.path, self.file, self.encoding = path, file, encoding
        self.delimiter, self.width, self.checked = delimiter, width, 0
        self.lines: Iterator[tuple[int, str]] | None = None  # (line number, line), opened late
        self.handle: io.TextIOBase | None = None

    def check(self, frame: pd.DataFrame, first_row: int) -> None:
        if self.checked >= self.LIMIT or frame.empty:
            return
        if frame.shape[1] < self.width:
            suspects = np.arange(len(frame))
        else:
            suspects = np.flatnonzero(frame[frame.columns[self.width - 1]].isna().to_numpy())
        if len(suspects) == 0:
            return
        suspects = suspects[: self.LIMIT - self.checked]
        self.checked += len(suspects)
        if self.lines is None:
            self.handle = open(self.path, encoding=self.encoding, newline="")
            self.lines = enumerate(self.handle, start=1)
        for wanted in (suspects + first_row).tolist():  # increasing, chunk after chunk
            for number, line in self.lines:
                if number == wanted:
                    self._refuse_if_short(number, line)
                    break

    def _refuse_if_short(self, number: int, line: str) -> None:
        if '"' in line:
            return
        fields = line.rstrip("\r\n").split(self.delimiter)
        if 0 < len(fields) < self.width and line.strip():
            raise InputError(
                f"{self.file}: row {number} has {len(fields)} of {self.width} fields "
                "— the line was cut short or joined with the next one: fix the file"
            )

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _header_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lstrip("\ufeff")


def _read_excel(path: Path, file: str, config: Config) -> _Raw:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(
            f"{file}: not a readable Excel workbook ({type(exc).__name__}) — "
            "open it in Excel and save it again as .xlsx"
        ) from None
    with book:
        sheet: str | int = config.input.sheet
        names = list(book.sheet_names)
        if isinstance(sheet, str) and sheet not in names and sheet.isdigit():
            sheet = int(sheet)
        if (isinstance(sheet, str) and sheet not in names) or (
            isinstance(sheet, int) and not 0 <= sheet < len(names)
        ):
            raise InputError(
                f"{file}: no sheet {sheet!r} (sheets: {', '.join(names)}) — "
                'set sheet = "<name>" (or its 0-based index) under [input] in the config'
            )
        table = pd.read_excel(book, sheet_name=sheet, header=None)
    if table.empty:
        return _Raw([], pd.DataFrame(), np.empty(0, dtype=np.int64))
    headers = [_header_text(v) for v in table.iloc[0]]
    data = table.iloc[1:]
    rows = data.index.to_numpy() + 1
    data = data.reset_index(drop=True)
    data.columns = range(data.shape[1])
    return _drop_blank_rows(_Raw(headers, data, rows))


def _parquet_error(file: str, exc: Exception) -> InputError:
    return InputError(
        f"{file}: not a readable Parquet file ({type(exc).__name__}: {exc}) — "
        "write it again with pandas/pyarrow"
    )


def _parquet_headers(path: Path, file: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise _parquet_error(file, exc) from None
    return [_header_text(c) for c in names if c != "__index_level_0__"]


def _parquet_chunks(
    path: Path, file: str, headers: list[str], chunk_rows: int | None
) -> Iterator[_Raw]:
    """Row groups read in batches of `chunk_rows` (the whole file when None)."""
    import pyarrow.parquet as pq

    first_row = 2
    try:
        source = pq.ParquetFile(path)
        names = [n for n in source.schema_arrow.names if n != "__index_level_0__"]
        if chunk_rows is None:
            batches = [source.read(columns=names)]
        else:
            batches = source.iter_batches(batch_size=chunk_rows, columns=names)
        seen = False
        for batch in batches:
            seen = True
            data = batch.to_pandas()
            data.columns = range(data.shape[1])
            yield _drop_blank_rows(_Raw(headers, data, np.arange(len(data)) + first_row))
            first_row += len(data)
        if not seen:
            yield _Raw(headers, pd.DataFrame(columns=range(len(headers))), np.empty(0, np.int64))
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise _parquet_error(file, exc) from None


def _drop_blank_rows(raw: _Raw) -> _Raw:
    if raw.data.shape[1] == 0 or raw.data.empty:
        return raw
    blank = np.ones(len(raw.data), dtype=bool)
    for column in raw.data.columns:  # column by column: no n x m temporary, stops early
        blank &= raw.data[column].isna().to_numpy()
        if not blank.any():
            return raw
    if blank.any():
        raw.data = raw.data.loc[~blank].reset_index(drop=True)
        raw.rows = raw.rows[~blank]
    return raw


# ------------------------------------------------------------------ matching columns


def _match_columns(
    headers: list[str], mapping: dict[str, str], file: str, issues: _Issues
) -> tuple[dict[str, int], list[str], list[str], list[str]]:
    """Return canonical -> header position, extra headers, missing required and optional."""
    if not headers:
        issues.add(f"{file}: the file is empty — export the customer table with its header row")
        return {}, [], list(schema.REQUIRED_COLUMNS), sorted(schema.OPTIONAL_COLUMNS)
    canon_by_key = {schema.normalise_name(c): c for c in schema.COLUMNS}
    keys = [schema.normalise_name(h) for h in headers]
    matched: dict[str, int] = {}
    used: dict[int, str] = {}
    mapped = {canon_by_key.get(schema.normalise_name(name)) for name in mapping}

    for name, header in mapping.items():
        canon = canon_by_key.get(schema.normalise_name(name))
        if canon is None:
            issues.add(
                f"{file}: [columns] maps unknown column '{name}' — use one of "
                f"{', '.join(schema.COLUMNS)}"
            )
            continue
        exact = [i for i, h in enumerate(headers) if h == header.strip()]
        found = exact or [i for i, k in enumerate(keys) if k == schema.normalise_name(header)]
        if not found:
            issues.add(
                f'{file}: [columns] maps {canon} to "{header}", but the file has no such '
                "header — fix the mapping in [columns] of the config"
            )
            continue
        if len(found) > 1:
            issues.add(
                f'{file}: [columns] {canon} = "{header}" matches several headers '
                f"({_quoted(headers, found)}) — rename one of them in the file"
            )
            continue
        if found[0] in used:
            issues.add(
                f'{file}: [columns] maps both {used[found[0]]} and {canon} to "{header}" — '
                "map each column to its own header"
            )
            continue
        matched[canon] = found[0]
        used[found[0]] = canon

    for canon in schema.COLUMNS:
        if canon in mapped:  # an explicit mapping wins, even when it failed
            continue
        key = schema.normalise_name(canon)
        found = [i for i, k in enumerate(keys) if k == key and i not in used]
        if len(found) > 1:
            issues.add(
                f"{file}: headers {_quoted(headers, found)} all match {canon} — remove the "
                "duplicates or map the one to use in [columns] "
                f'(e.g. {canon} = "{headers[found[0]]}")'
            )
            continue
        if found:
            matched[canon] = found[0]
            used[found[0]] = canon

    matched = {c: matched[c] for c in schema.COLUMNS if c in matched}
    extras = [
        h if h else f"(unnamed column {i + 1})" for i, h in enumerate(headers) if i not in used
    ]
    missing_required = [c for c in schema.REQUIRED_COLUMNS if c not in matched]
    missing_optional = [
        c for c in schema.COLUMNS if c in schema.OPTIONAL_COLUMNS and c not in matched
    ]
    unexplained = [c for c in missing_required if c not in mapped]  # failed maps: said above
    if unexplained:
        first = unexplained[0]
        example = "household_income" if first == "Income" else "your header"
        issues.add(
            f"{file}: missing required column(s) {', '.join(unexplained)} — add them or map "
            f'your headers in [columns] of the config (e.g. {first} = "{example}")'
        )
    return matched, extras, missing_required, missing_optional


def _quoted(headers: list[str], positions: list[int]) -> str:
    return ", ".join(f"'{headers[i]}'" for i in positions)


# ------------------------------------------------------------------ converting values


def _convert(
    raw: _Raw, matched: dict[str, int], file: str, issues: _Issues, date_format: str | None
) -> tuple[pd.DataFrame, str | None]:
    columns: dict[str, pd.Series] = {}
    found: str | None = date_format
    rows = raw.rows
    for canon, pos in matched.items():
        if pos not in raw.data.columns:
            series = pd.Series(np.nan, index=range(len(raw.data)), dtype=object)
        else:
            series = raw.data[pos].reset_index(drop=True)
        kind = schema.COLUMNS[canon][0]
        where = _Where(file, canon, rows)
        if kind == "id":
            converted = _to_id(series, where, issues)
        elif kind == "category":
            converted = _to_category(series)
        elif kind == "date":
            converted, found = _to_dates(series, where, issues, date_format)
        else:
            converted = _to_number(series, kind, where, issues)
        if converted is not None:
            columns[canon] = converted
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(raw.data)))
    return frame, found


@dataclass
class _Where:
    file: str
    column: str
    rows: np.ndarray

    def at(self, position: int) -> str:
        return f"{self.file}: column {self.column}, row {int(self.rows[position])}"


def _first(mask: np.ndarray | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _as_text(series: pd.Series) -> pd.Series:
    """Values as stripped strings, empty ones as NaN."""
    if isinstance(series.dtype, pd.StringDtype):  # text read from CSV: vectorised
        text = series.str.strip()
        return text.where(text != "", np.nan)
    # object columns (Excel / Parquet) may mix numbers, dates and text: convert each unique once
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([_cell_text(v) for v in uniques], dtype=object)
    out = np.full(len(series), np.nan, dtype=object)
    ok = codes >= 0
    out[ok] = texts[codes[ok]]
    text = pd.Series(out, index=series.index, dtype=object)
    return text.where(text != "", np.nan)


def _show(value: Any) -> str:
    """A cell value quoted for a one-line message (long values shortened)."""
    text = " ".join(str(value).split())
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.isoformat(sep=" ")
    return str(value).strip()


def _to_category(series: pd.Series) -> pd.Series:
    return _as_text(series).astype("str")


#: the largest magnitude a customer-table number may have: beyond it a value is a typo or
#: overflow, and its square (the intervals, K-Means) would not be finite
MAX_NUMBER = 1e12


def _to_number(series: pd.Series, kind: str, where: _Where, issues: _Issues) -> pd.Series | None:
    if pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype("float64")
    elif pd.api.types.is_numeric_dtype(series.dtype):
        if isinstance(series.dtype, np.dtype):
            values = series
        else:  # nullable Int64 / Float64 / Arrow numbers (Parquet)
            array = series.to_numpy(dtype="float64", na_value=np.nan)
            values = pd.Series(array, index=series.index)
    else:
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            text = _as_text(series[bad])
            fixed = _clean_numbers(text, kind)
            values = values.astype("float64")
            values[bad] = fixed.to_numpy()
            junk = fixed.isna().to_numpy() & text.notna().to_numpy()
            if junk.any():
                position = int(np.flatnonzero(bad)[_first(junk)])
                issues.add(
                    f"{where.at(position)}: {_show(series.iloc[position])} is not a number — "
                    "fix the value or leave the cell empty (empty cells count as missing)"
                )
                return None
        values = values.astype("float64") if values.dtype.kind not in "iu" else values
    if values.dtype.kind == "f":
        array = values.to_numpy()
        wild = ~np.isnan(array) & ~(np.abs(array) <= MAX_NUMBER)  # inf, 1e309, 1e300, ...
        if wild.any():
            position = _first(wild)
            issues.add(
                f"{where.at(position)}: {_show(series.iloc[position])} is not a usable number "
                f"(infinite, or beyond ±{MAX_NUMBER:,.0f}) — fix the value or leave the cell "
                "empty (empty cells count as missing)"
            )
            return None
    if not _plausible(values, series, kind, where, issues):
        return None
    if kind == "float":
        return values.astype("float64")
    if values.dtype.kind in "iu":
        return values.astype("int64")
    array = values.to_numpy()
    if not np.isnan(array).any() and np.array_equal(array, np.round(array)):
        return values.astype("int64")  # whole numbers, none missing: keep the int kind
    return values.astype("float64")


def _plausible(values: pd.Series, series: pd.Series, kind: str, where: _Where, issues) -> bool:
    """Values a column of this kind can hold: 0 or 1 in a flag, whole numbers in a count,
    no count or number of days below schema.MINIMUM, years of birth in schema.BIRTH_YEARS."""
    array = values.to_numpy(dtype="float64")
    present = ~np.isnan(array)
    meaning = schema.COLUMNS[where.column][1].lower()
    checks = []
    if kind == "flag":
        checks.append(
            (
                present & (array != 0) & (array != 1),
                f"is not 0 or 1 — {where.column} is a yes/no column ({meaning}): write 1 for "
                "yes, 0 for no, or leave the cell empty",
            )
        )
    elif kind == "int":
        checks.append(
            (
                present & (array != np.round(array)),
                f"is not a whole number — {where.column} counts whole units ({meaning})",
            )
        )
    low = schema.MINIMUM.get(where.column)
    if low is not None:
        checks.append((present & (array < low), f"is below {low} — {meaning} cannot be negative"))
    if where.column == "Year_Birth":
        first, last = schema.BIRTH_YEARS
        checks.append(
            (
                present & ((array < first) | (array > last)),
                f"is not a year of birth between {first} and {last} — fix the value or leave "
                "the cell empty",
            )
        )
    for bad, why in checks:
        if bad.any():
            position = _first(bad)
            issues.add(f"{where.at(position)}: {_show(series.iloc[position])} {why}")
            return False
    return True


def _clean_numbers(text: pd.Series, kind: str) -> pd.Series:
    """Cheap, unambiguous number clean-ups (see the module docstring)."""
    t = text.str.replace(rf"^{_CURRENCY}\s*|\s*{_CURRENCY}$", "", regex=True).str.strip()
    t = t.str.replace(r"^([+-])\s*" + _CURRENCY + r"\s*", r"\1", regex=True)
    grouped = t.str.fullmatch(_GROUPED).fillna(False).astype(bool)
    t = t.where(~grouped, t.str.replace(",", "", regex=False))
    out = pd.to_numeric(t, errors="coerce").astype("float64")
    if kind == "flag":
        words = text.str.lower().map(_TRUE_FALSE)
        out = out.fillna(words.astype("float64"))
    return out


def _to_id(series: pd.Series, where: _Where, issues: _Issues) -> pd.Series | None:
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
        ids: pd.Series = series.astype("int64")
    else:
        text = _as_text(series)
        missing = text.isna().to_numpy()
        if missing.any():
            issues.add(
                f"{where.at(_first(missing))}: empty customer id — every row needs a unique id"
            )
            return None
        ints = text.str.fullmatch(r"-?(?:0|[1-9]\d{0,17})").fillna(False).astype(bool)
        if not ints.all():
            # 5524.0: a whole-number id a spreadsheet wrote as a decimal is the id 5524, so it
            # matches last month's 5524 (only when every id is written that way or plainly)
            decimal = text.str.fullmatch(r"-?(?:0|[1-9]\d{0,17})\.0+").fillna(False).astype(bool)
            if (ints | decimal).all():
                text = text.where(~decimal, text.str.replace(r"\.0+$", "", regex=True))
                ints = ints | decimal
        ids = text.astype("int64") if ints.all() else text.astype("str")
    return ids


def _label(fmt: str) -> str:
    """'%d-%m-%Y' -> 'dd-mm-yyyy' for messages."""
    for code, text in (
        ("%d", "dd"),
        ("%m", "mm"),
        ("%Y", "yyyy"),
        ("%y", "yy"),
        ("%b", "Mon"),
        ("%H", "HH"),
        ("%M", "MM"),
        ("%S", "SS"),
    ):
        fmt = fmt.replace(code, text)
    return fmt


#: the years a customer-table date may fall in; anything else is a typo or a placeholder
DATE_YEARS = (1900, 2100)


def _to_dates(
    series: pd.Series, where: _Where, issues: _Issues, configured: str | None
) -> tuple[pd.Series | None, str | None]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_localize(None).astype("datetime64[ns]"), NATIVE_DATES
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.astype("datetime64[ns]"), NATIVE_DATES
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series):
        return _serial_dates(series.astype("float64"), where, issues), EXCEL_SERIAL
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("datetime", "datetime64", "date"):
        return pd.Series(pd.to_datetime(series), index=series.index).astype(
            "datetime64[ns]"
        ), NATIVE_DATES
    if inferred in ("integer", "floating", "mixed-integer-float"):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        return _serial_dates(values, where, issues), EXCEL_SERIAL

    native = np.zeros(len(series), dtype=bool)
    if inferred not in ("string", "empty"):  # a mix of date cells and text (Excel)
        native = series.map(lambda v: isinstance(v, (dt.date, pd.Timestamp))).to_numpy(bool)
    text = _as_text(series.where(~native, np.nan))
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    uniques = pd.Index(uniques, dtype=object)

    def assemble(parsed_uniques: pd.DatetimeIndex) -> pd.Series:
        # before nanoseconds: a year outside 1677-2262 would wrap round silently there
        years = np.asarray(parsed_uniques.year, dtype=float)
        odd = ~np.isnan(years) & ((years < DATE_YEARS[0]) | (years > DATE_YEARS[1]))
        if odd.any():
            position = fail_at(odd)
            issues.add(
                f"{where.at(position)}: date {_show(text.iloc[position])} is outside "
                f"{DATE_YEARS[0]}–{DATE_YEARS[1]} — fix the value (is the year mistyped?)"
            )
        values = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[ns]")
        ok = codes >= 0
        values[ok] = parsed_uniques.to_numpy(dtype="datetime64[ns]")[codes[ok]]
        if native.any():
            values[native] = pd.to_datetime(series[native]).to_numpy(dtype="datetime64[ns]")
        return pd.Series(values, index=series.index)

    def fail_at(failed: np.ndarray) -> int:
        """Row position of the first value whose unique is marked failed."""
        return _first((codes >= 0) & failed[np.maximum(codes, 0)])

    if len(uniques) == 0:
        label = NATIVE_DATES if native.any() else configured
        return assemble(pd.DatetimeIndex([], dtype="datetime64[ns]")), label

    if configured == EXCEL_SERIAL or (
        configured is None and pd.to_numeric(uniques, errors="coerce").notna().all()
    ):
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = numbers.isna().to_numpy() & text.notna().to_numpy()
        if bad.any():
            issues.add(
                f"{where.at(_first(bad))}: {_show(text.iloc[_first(bad)])} is not an Excel date "
                "number — fix the value, or change date_format under [input] in the config"
            )
            return None, EXCEL_SERIAL
        return _serial_dates(numbers, where, issues, native=series, mask=native), EXCEL_SERIAL

    if isinstance(configured, list):
        return _several_formats(uniques, configured, text, codes, where, issues, fail_at, assemble)
    if configured:
        parsed = _parse(uniques, configured)
        failed = np.asarray(parsed.isna())
        if failed.any():
            position = fail_at(failed)
            issues.add(
                f"{where.at(position)}: cannot read date {_show(text.iloc[position])} with "
                f'date_format = "{configured}" — fix the value, or change date_format under '
                "[input] in the config"
            )
            return None, configured
        return assemble(parsed), configured

    best: tuple[int, str, pd.DatetimeIndex] | None = None
    for group in DATE_CANDIDATES:
        results = [(fmt, _parse(uniques, fmt)) for fmt in group]
        complete = [(fmt, p) for fmt, p in results if p.notna().all()]
        for fmt, parsed in results:
            count = int(parsed.notna().sum())
            if best is None or count > best[0]:
                best = (count, fmt, parsed)
        if not complete:
            continue
        if len(complete) == 2 and not complete[0][1].equals(complete[1][1]):
            (day_fmt, day), (month_fmt, month) = complete
            example = uniques[np.flatnonzero(np.asarray(day != month))[0]]
            issues.add(
                f"{where.file}: column {where.column}: dates like {example} could be day-first "
                f'or month-first — set date_format = "{day_fmt}" (or "{month_fmt}") under '
                "[input] in the config"
            )
            return None, None
        fmt, parsed = complete[0]
        return assemble(parsed), fmt

    assert best is not None
    count, fmt, parsed = best
    if count == 0:
        position = _first(codes >= 0)
        issues.add(
            f"{where.at(position)}: unrecognised date {_show(text.iloc[position])} — set "
            'date_format = "..." (strftime, e.g. "%d-%m-%Y") under [input] in the config'
        )
    else:
        failed = np.asarray(parsed.isna())
        position = fail_at(failed)
        rows = int(((codes >= 0) & failed[np.maximum(codes, 0)]).sum())
        value = text.iloc[position]
        # only suggest formats that read the value quoted (with the one that reads the rest)
        one = pd.Index([value])
        readers = [f for group in DATE_CANDIDATES for f in group if _parse(one, f).notna().all()]
        settings = " or ".join(f'["{fmt}", "{r}"]' for r in readers[:2])
        if len(readers) > 1 and not _parse(one, readers[0]).equals(_parse(one, readers[1])):
            settings += " (whichever your file uses: they read it as different days)"
        if readers:
            how = f"or, if the column mixes formats, set date_format = {settings} under [input]"
        else:
            how = "no date format reads it"
        issues.add(
            f"{where.at(position)}: cannot read date {_show(value)} ({rows:,} row(s) do not look "
            f"like {_label(fmt)}, as the other dates do) — fix the value(s), {how}"
        )
    return None, None


def _several_formats(uniques, formats, text, codes, where, issues, fail_at, assemble):
    """Dates of a column that mixes formats: each value read by exactly one of `formats`,
    or by several that agree; a value no format reads, or two read differently, is refused."""
    parsed = [_parse(uniques, f) for f in formats]
    values = np.array([p.to_numpy(dtype="datetime64[ns]") for p in parsed])
    read = ~np.isnat(values)
    label = f"date_format = {json.dumps(formats)}"
    unread = ~read.any(axis=0)
    if unread.any():
        position = fail_at(unread)
        rows = int(((codes >= 0) & unread[np.maximum(codes, 0)]).sum())
        issues.add(
            f"{where.at(position)}: cannot read date {_show(text.iloc[position])} with any of "
            f"{label} ({rows:,} row(s)) — fix the value(s) or add their format"
        )
        return None, formats
    first = values[read.argmax(axis=0), np.arange(values.shape[1])]
    disagree = (read & (values != first)).any(axis=0)
    if disagree.any():
        position = fail_at(disagree)
        value = text.iloc[position]
        which = [f for f, ok in zip(formats, read[:, codes[position]], strict=True) if ok]
        issues.add(
            f"{where.at(position)}: date {_show(value)} is read differently by "
            f'"{which[0]}" and "{which[1]}" of {label} — it is ambiguous: fix the value or '
            "leave one of the two formats out"
        )
        return None, formats
    return assemble(pd.DatetimeIndex(first)), formats


def _parse(values: pd.Index, fmt: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values, format=fmt, errors="coerce"))


def _serial_dates(
    numbers: pd.Series,
    where: _Where,
    issues: _Issues,
    native: pd.Series | None = None,
    mask: np.ndarray | None = None,
) -> pd.Series | None:
    present = numbers.notna().to_numpy()
    out_of_range = present & ~numbers.between(SERIAL_MIN, SERIAL_MAX).to_numpy()
    if out_of_range.any():
        position = _first(out_of_range)
        issues.add(
            f"{where.at(position)}: {numbers.iloc[position]:g} is not a date (Excel date numbers "
            f"lie between {SERIAL_MIN} and {SERIAL_MAX}) — fix the value, or write dates as text "
            'and set date_format = "..." under [input] in the config'
        )
        return None
    dates = pd.to_datetime(numbers, unit="D", origin=_EXCEL_EPOCH).astype("datetime64[ns]")
    if native is not None and mask is not None and mask.any():
        dates[mask] = pd.to_datetime(native[mask]).astype("datetime64[ns]")
    return dates
