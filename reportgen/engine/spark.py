"""The Spark engine: the same job on a table Spark reads (README, "Scaling out").

Nothing here is a second implementation of the analysis. Spark reads the table and splits it
into partitions; on each partition an executor runs the local engine's own functions on the
partition's Arrow batches: the column conversion and checks of input/load.py, the bottom-k
sample of input/scan.py, `score` and `SegmentTotals` of scoring/. Only bounded things come
back to the driver: per-partition counts and totals, and the fit sample (at most
`sampling.fit_rows` rows, the same rows the local engine draws). The per-customer results
are written as Parquet by Spark's writer on the executors and never collected.

The passes over the table:

1. rows per partition (in the JVM; it numbers each row, so a bad value is named by its row
   as the local engine names it);
2. the scan: every partition converted and checked, counted, its bottom-k sample kept;
   the partial scans merged on the executors (treeReduce), so the driver receives one;
3. repeated customer ids (in the JVM);
4. score and summarise: each partition scored; its scored rows are kept in Spark
   (persisted) and one row of its totals per partition comes to the driver;
5. once the model is final (names, history run id): the scored rows as segments rows,
   written by Spark's writer into the run folder's segments/ or the `--segments-to` path.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import pickle
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..config import Config
from ..describe.changes import Crossed
from ..errors import InputError, Unreachable
from ..fitting.identity import PreviousRun
from ..input.load import (
    CHUNK_ROWS,
    TEXT_EXTENSIONS,
    Table,
    _fixed_format,
    _Issues,
    _match_columns,
    _sniff_text,
    check_filled,
    no_data_rows,
    validation_report,
)
from ..input.scan import BottomK, Scan, StratifiedBottomK, latest_enrolled, new_sampler
from ..scoring.aggregates import NearCounts, SegmentTotals
from ..scoring.model import ModelParts
from ..scoring.score import fitted_design, score, segments_table

EXTRA = 'pip install "reportgen[spark]"'
#: the input format of CSV files read by Spark (summary.json's run.input_format)
CSV = "csv (Spark)"
#: the folder of per-customer results in a run folder written by the Spark engine (the
#: columns of segments.csv, one Parquet file per partition of the table)
SEGMENTS_DIR = "segments"


# ------------------------------------------------------------------------ the session


def start(config: Config):
    """The Spark session of `[engine]` (an active one is reused); (session, started_here)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            f"--engine spark needs PySpark, which is not installed — {EXTRA} (Spark also "
            "needs Java 17)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    master = config.engine.master
    if master.startswith("local") and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise InputError(
            "--engine spark needs Java 17, which was not found — install it (Debian/Ubuntu: "
            "apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    logging = f"-Dlog4j2.configurationFile=file:{Path(__file__).with_name('log4j2.properties')}"
    settings = {
        "spark.driver.extraJavaOptions": logging,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **({"spark.pyspark.python": sys.executable} if master.startswith("local") else {}),
        **config.engine.settings,
    }
    builder = SparkSession.builder.master(master).appName("reportgen")
    for key, value in settings.items():
        builder = builder.config(key, value)
    # "PySpark does not yet fully support pandas >= 3": the engine's tests run on it
    warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
    try:
        _start_context(master, settings)
        session = builder.getOrCreate()
    except Exception as exc:  # py4j / PySpark raise many kinds for an unreachable master
        raise Unreachable(
            f"Spark master {master}: cannot start a session ({_first_line(exc)}) — check "
            "[engine] master and that the cluster is running"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session, True


#: what the driver's JVM prints on stderr at every start: Java 17 warns about the incubator
#: module Spark 4 adds to every JVM it launches (no option turns the warning off)
JVM_NOTICES = (b"WARNING: Using incubator modules: jdk.incubator.vector",)


def _start_context(master: str, settings: dict[str, str]) -> None:
    """Start Spark's context with the driver JVM's stderr passed on line by line, less its
    start-up notice (`JVM_NOTICES`), so a quiet run says nothing; anything else the JVM
    prints (a crash, an out-of-memory error) still reaches stderr. Spark's own log lines are
    off (log4j2.properties). An existing context is left as it is."""
    import threading

    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._active_spark_context is not None or SparkContext._gateway is not None:
        return
    conf = SparkConf().setMaster(master).setAppName("reportgen").setAll(list(settings.items()))
    gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    threading.Thread(
        target=_pass_on, args=(gateway.proc.stderr,), name="spark-jvm-stderr", daemon=True
    ).start()
    SparkContext(conf=conf, gateway=gateway)


def _pass_on(stream) -> None:
    """Copy the JVM's stderr to ours, less its start-up notices."""
    out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
    for line in iter(stream.readline, b""):
        if line.rstrip() in JVM_NOTICES:
            continue
        if out is not None:
            out.write(line)
            out.flush()
        else:
            sys.stderr.write(line.decode("utf-8", "replace"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class TaskFailed(RuntimeError):
    """reportgen's own code failed in a Spark task: a bug (exit 1)."""


def _action(rows, what: str):
    """Run a Spark action; see `SparkSource._run`."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException, PythonException

    try:
        return rows()
    except PythonException as exc:  # raised in a pandas/Arrow function of a task
        raise TaskFailed(f"{what}: a task failed\n{exc}") from None
    except Py4JJavaError as exc:  # an RDD task, or the JVM's own failure
        cause, python = exc.java_exception, None
        while cause is not None:
            if "PythonException" in cause.getClass().getName():
                python = cause
            root, cause = cause, cause.getCause()
        if python is not None:
            raise TaskFailed(f"{what}: a task failed\n{python.getMessage()}") from None
        message = (root.getMessage() or root.getClass().getSimpleName()).strip()
        raise InputError(f"{what} ({message.splitlines()[0]}) — check the files") from None
    except PySparkException as exc:  # AnalysisException and the like, raised by the driver
        raise InputError(f"{what} ({_first_line(exc)}) — check the files") from None


# ------------------------------------------------------------------------ reading


def _csv_missing(data: pd.DataFrame) -> pd.DataFrame:
    """Text Spark read from CSV, with the cells pandas' reader (the local engine's) takes for
    missing — "NA", "N/A", "null", "NaN", ... — as missing."""
    from pandas._libs.parsers import STR_NA_VALUES

    for column in data.columns:
        values = data[column]
        if not pd.api.types.is_numeric_dtype(values.dtype):
            data[column] = values.mask(values.isin(STR_NA_VALUES))
    return data


class _ArrowRows:
    """A partition's Arrow batches as raw chunks (input/load.py's `Table.database` hook)."""

    def __init__(self, batches, first_row: int, csv: bool = False):
        self.batches, self.first_row, self.csv = batches, first_row, csv

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        row = self.first_row
        for batch in self.batches:
            if batch.num_rows == 0:
                continue
            data = batch.to_pandas()
            data.columns = range(data.shape[1])
            yield _csv_missing(data) if self.csv else data, np.arange(row, row + len(data))
            row += len(data)


class _Rows:
    """Rows already on the driver, with their row numbers, as one raw chunk."""

    def __init__(self, data: pd.DataFrame, numbers: np.ndarray):
        self.data, self.numbers = data, numbers

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        if len(self.data):
            yield self.data, self.numbers


@dataclass
class _Job:
    """What every task needs (pickled with the task)."""

    table: Table
    config: Config
    offsets: dict[int, int]
    sample_rows: int = 0
    #: the bad values are listed (`validate`), not the end of the task
    listing: bool = False
    parts: ModelParts | None = None
    source: str = ""
    out: str = ""
    period: str = ""

    def chunks(self, batches, issues: _Issues | None = None):
        """The partition's rows converted and checked by the local engine's code; row
        numbers count the header as row 1, as the local engine's do. A bad value ends the
        task, unless `issues` collects it (`validate`)."""
        first = self.offsets.get(_pid(), 0) + 2
        rows = _ArrowRows(batches, first, csv=self.table.fmt == CSV)
        table = dataclasses.replace(self.table, database=rows)
        yield from table.chunks(self.config, issues or _Issues(strict=True), None)


def _pid() -> int:
    from pyspark import TaskContext

    return TaskContext.get().partitionId()


def _one(payload: Any):
    import pyarrow as pa

    return pa.RecordBatch.from_pydict({"part": [pickle.dumps(payload, protocol=5)]})


_Sampler = BottomK | StratifiedBottomK


@dataclass
class _ScanPart:
    rows: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    latest: pd.Timestamp | None = None
    sampler: _Sampler | None = None
    earliest: pd.Timestamp | None = None
    #: (partition, problems) of the bad values when the job lists them (`validate`)
    problems: list[tuple[int, list[str]]] = field(default_factory=list)
    #: (partition, message) of the first bad value in the earliest partition that had one
    error: tuple[int, str] | None = None

    def merge(self, other: _ScanPart) -> _ScanPart:
        errors = [e for e in (self.error, other.error) if e is not None]
        missing = dict(self.missing)
        for column, n in other.missing.items():
            missing[column] = missing.get(column, 0) + n
        latests = [t for t in (self.latest, other.latest) if t is not None]
        earliests = [t for t in (self.earliest, other.earliest) if t is not None]
        return _ScanPart(
            rows=self.rows + other.rows,
            missing=missing,
            latest=max(latests) if latests else None,
            sampler=_merge_samplers(self.sampler, other.sampler),
            earliest=min(earliests) if earliests else None,
            problems=sorted(self.problems + other.problems),
            error=min(errors) if errors else None,
        )


def _earliest_enrolled(frame: pd.DataFrame) -> pd.Timestamp | None:
    if schema.ENROLLED not in frame or frame.empty:
        return None
    value = frame[schema.ENROLLED].min()
    return None if pd.isna(value) else pd.Timestamp(value)


def _merge_samplers(a: _Sampler | None, b: _Sampler | None) -> _Sampler | None:
    return b if a is None else a if b is None else a.merge(b)


def _scan_partition(job: _Job, batches):
    sampling = job.config.sampling
    part = _ScanPart(sampler=new_sampler(job.sample_rows, job.config.seed, sampling.strata))
    position = job.offsets.get(_pid(), 0)
    issues = _Issues(strict=not job.listing)
    try:
        for frame, _numbers in job.chunks(batches, issues):
            part.sampler.add(frame.reset_index(drop=True), position + part.rows)
            part.rows += len(frame)
            for column, n in frame.isna().sum().items():
                part.missing[column] = part.missing.get(column, 0) + int(n)
            latest = latest_enrolled(frame)
            if latest is not None and (part.latest is None or latest > part.latest):
                part.latest = latest
            earliest = _earliest_enrolled(frame)
            if earliest is not None and (part.earliest is None or earliest < part.earliest):
                part.earliest = earliest
        part.sampler.compact()  # what travels is bounded by the sample
        if issues.items:
            part.problems = [(_pid(), issues.items)]
    except InputError as exc:
        part = _ScanPart(error=(_pid(), str(exc)))
    yield _one(part)


#: rows of the fit sample scored on the driver to learn the segments rows' column types
PROBE_ROWS = 64
#: the scored rows as Spark keeps them: each chunk's scored customers as one Arrow IPC
#: stream (`data`, lz4-compressed; nothing for the JVM to convert), and one row per
#: partition with its totals (`totals` true, `data` pickled)
SCORED = "totals boolean, data binary"


def _ipc(table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _scored_chunks(batches) -> Iterator[pd.DataFrame]:
    """The scored customers (as `score` gave them) of `SCORED` rows."""
    import pyarrow as pa

    for batch in batches:
        for data in batch.column("data").to_pylist():
            yield pa.ipc.open_stream(data).read_all().to_pandas()


def _scored_row(totals: bool, data: bytes):
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(
        {"totals": [totals], "data": [data]},
        schema=pa.schema([("totals", pa.bool_()), ("data", pa.binary())]),
    )


def _score_partition(job: _Job, batches):
    """Score the partition: its customers' rows (compact, as `score` gives them), then one
    row with its totals, or with the first bad value's message."""
    import pyarrow as pa

    assert job.parts is not None
    ids = job.parts.ids.tolist()
    totals = near = None
    rows = 0
    try:
        for frame, _numbers in job.chunks(batches):
            result = score(job.parts, frame.reset_index(drop=True), job.source)
            chunk = SegmentTotals.of_scored(result, ids, job.config.kpis.retention_recency_days)
            counts = NearCounts.of(result.customers)
            totals = chunk if totals is None else totals.merge(chunk)
            near = counts if near is None else near.merge(counts)
            table = pa.Table.from_pandas(result.customers, preserve_index=False)
            yield _scored_row(False, _ipc(table))
            rows += len(frame)
        payload: dict[str, Any] = {"totals": totals, "near": near, "rows": rows}
    except InputError as exc:
        payload = {"error": str(exc)}
    payload["partition"] = _pid()
    yield _scored_row(True, pickle.dumps(payload, protocol=5))


def _segments_batches(batches, parts: ModelParts, period: str, run_id, schema):
    """Scored rows as segments rows (scoring/score.py's `segments_table`, the columns of
    segments.csv)."""
    import pyarrow as pa

    for scored in _scored_chunks(batches):
        rows = segments_table(scored, parts, period, run_id)
        yield from pa.Table.from_pandas(rows, preserve_index=False).cast(schema).to_batches()


def _segment_pairs(batches):
    """customer_id, segment of the scored rows (the migration join)."""
    import pyarrow as pa

    for scored in _scored_chunks(batches):
        yield pa.RecordBatch.from_pydict(
            {
                "customer_id": pa.array(scored["customer_id"].astype(str), pa.string()),
                "segment": pa.array(scored["segment"].to_numpy(dtype=np.int64)),
            }
        )


def _fixed_schema(table):
    """`table`'s schema without pandas' metadata, text as Spark's string (not large_string)."""
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
        for f in table.schema
    ]
    return pa.schema(fields)


def _design_partition(job: _Job, batches):
    """The design rows K-Means is fitted on, of one partition."""
    import pyarrow as pa

    assert job.parts is not None
    for frame, _numbers in job.chunks(batches):
        X = fitted_design(job.parts, frame.reset_index(drop=True), job.source)
        values = pa.array(X.ravel(), pa.float64())
        width = X.shape[1]
        offsets = pa.array(np.arange(0, len(X) * width + 1, width, dtype=np.int32))
        yield pa.RecordBatch.from_arrays([pa.ListArray.from_arrays(offsets, values)], ["x"])


class SparkSource:
    """A customer table read by Spark: a Parquet dataset (a folder, partitioned or not), CSV
    files (a file, a folder or a glob) or a table of the Spark catalog."""

    engine = "spark"

    def __init__(
        self,
        data: str | None,
        config: Config,
        session,
        table: str | None = None,
        issues: _Issues | None = None,
    ):
        self.config, self.spark = config, session
        #: strict (the first problem ends the run) but for `validate`, which lists them
        self.issues = issues or _Issues(strict=True)
        # one Arrow batch is one of the local engine's chunks: the same memory bound per task
        batch = config.sampling.chunk_rows or 0  # 0: a partition in one batch
        key = "spark.sql.execution.arrow.maxRecordsPerBatch"
        session.conf.set(key, config.engine.settings.get(key, str(batch)))
        # dates and times as the local engine reads them, whatever session is reused
        session.conf.set("spark.sql.session.timeZone", "UTC")
        name = table or config.input.table
        meta = None
        if config.input.query:
            raise InputError(
                "--query: not with --engine spark — give --table for a table of the Spark "
                "catalog, or run a database query with the local engine"
            )
        if data and _DATABASE.match(str(data)):
            raise InputError(
                f"{_DATABASE.match(str(data)).group(0)}: a database URL — the Spark engine "
                "reads Parquet, CSV and catalog tables; use the local engine for a database"
            )
        if name:
            frame, file, fmt = self._catalog(name), name, "table (Spark)"
            headers = [str(c).strip() for c in frame.columns]
        else:
            if not data:
                raise InputError("no input — give --data (a Parquet dataset, CSV files) or --table")
            file = str(data)
            local = _local_files(file)
            if _is_parquet(file, local):
                frame, fmt = self._read(lambda r: r.parquet(file), file), "parquet (Spark)"
                headers = [str(c).strip() for c in frame.columns]
            else:
                if not local:
                    raise InputError(
                        f"{file}: no such file or folder — give a Parquet dataset, CSV "
                        "files or a glob (e.g. 'customers/*.csv')"
                    )
                meta = _sniff_text(Path(local[0]), local[0], config)
                options = {
                    "header": True,
                    "sep": meta.delimiter or ",",
                    "inferSchema": False,
                    "escape": '"',
                    "encoding": "UTF-8",
                    # a short or long line ends the run, as with the local engine; every
                    # file's header must be the first file's
                    "mode": "FAILFAST",
                    "enforceSchema": False,
                }
                frame = self._read(lambda r: r.options(**options).csv(file), file)
                headers, fmt = meta.headers, CSV
        if "__index_level_0__" in frame.columns:  # pandas' index, written by to_parquet
            frame = frame.drop("__index_level_0__")
            headers = [h for h in headers if h != "__index_level_0__"]
        self.frame, self.file = frame, file
        matched, extras, missing_required, missing_optional = _match_columns(
            headers, config.columns, file, self.issues
        )
        self.table = Table(
            Path("."),
            file,
            fmt,
            _fingerprint(frame, file),
            headers,
            matched,
            extras,
            missing_required,
            missing_optional,
            meta,
        )
        self.offsets: dict[int, int] = {}
        self.rows = 0
        #: the first and last enrollment date (`validate`), after `scan`
        self.earliest: pd.Timestamp | None = None
        self.latest: pd.Timestamp | None = None
        self.job: _Job | None = None
        #: the fit sample's first rows: what the scored rows' columns are is read off them
        self.probe = pd.DataFrame()
        #: the scored customers (a Spark DataFrame of `score`'s columns), after `score_all`
        self.scored = None
        self.cached = None
        self.parts: ModelParts | None = None
        #: `--segments-to`: where the segments go instead of the run folder's segments/
        self.target: SegmentsTarget | None = None

    #: what the run's input_sha256 hashes
    fingerprint_of = "of the files' names, sizes and modification times, not of the rows"
    #: where the segments are in the run folder (Parquet, one file per partition)
    segments_file = f"{SEGMENTS_DIR}/"

    @property
    def path(self) -> str:
        return self.file

    def description(self) -> str:
        """'Spark 4.0.1 (local[2], 7 partitions)'."""
        partitions = len(self.offsets) or self.frame.rdd.getNumPartitions()
        master = self.spark.sparkContext.master
        plural = "s" if partitions != 1 else ""
        return f"Spark {self.spark.version} ({master}, {partitions:,} partition{plural})"

    def _open(self, how, name: str, problem: str, fix: str):
        """A DataFrame from Spark's reader; a path or table it cannot open is one line."""
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        try:
            return how()
        except (PySparkException, Py4JJavaError) as exc:
            raise InputError(f"{name}: {problem} ({_first_line(exc)}) — {fix}") from None

    def _catalog(self, name: str):
        no_table = "no such table in the Spark catalog"
        return self._open(lambda: self.spark.table(name), name, no_table, "check database.table")

    def _read(self, how, file: str):
        fix = "give a Parquet dataset or CSV files"
        return self._open(lambda: how(self.spark.read), file, "Spark cannot read it", fix)

    # -------------------------------------------------------------------- the passes

    def _run(self, rows, what: str):
        """An action. Spark's own failures (a file it cannot read, a malformed CSV record)
        end in one line (exit 2); a failure of reportgen's code in a task is a bug (exit 1,
        with the task's traceback); anything else is raised as it is."""
        return _action(rows, f"{self.file}: Spark could not {what}")

    def scan(self, sample_rows: int, seed: int, chunk_rows=None, progress=None) -> Scan:
        """Pass 1-3: number the rows, check and count them, draw the sample, refuse
        repeated ids. With the source's `issues` not strict (`validate`), the bad values
        are listed there rather than ending the scan."""
        from pyspark.sql import functions as F

        frame = self.frame
        counts = self._run(
            lambda: dict(
                frame.select(F.spark_partition_id().alias("p")).groupBy("p").count().collect()
            ),
            "count the rows",
        )
        total = 0
        for p in range(frame.rdd.getNumPartitions()):
            self.offsets[p], total = total, total + int(counts.get(p, 0))
        config = self._with_date_format(self.config)
        job = _Job(self.table, config, self.offsets, sample_rows, listing=not self.issues.strict)
        schema_ = "part binary"
        merged = _ScanPart()  # a table of no partitions has no rows
        if self.offsets:
            merged = self._run(
                lambda: (
                    frame.mapInArrow(lambda b: _scan_partition(job, b), schema_)
                    .rdd.map(lambda r: pickle.loads(r[0]))
                    .treeReduce(lambda a, b: a.merge(b))
                ),
                "read the rows",
            )
        if merged.error is not None:
            raise InputError(merged.error[1])
        issues = self.issues
        for _partition, problems in merged.problems:
            issues.items.extend(problems)
        if self.table.headers and merged.rows == 0 and not self.table.missing_required:
            raise InputError(no_data_rows(self.file))
        check_filled(merged.missing, merged.rows, self.file, issues)
        if schema.ID in self.table.matched:
            try:
                self._unique_ids()
            except InputError as exc:
                if issues.strict:
                    raise
                issues.items.append(str(exc))
        if progress is not None:
            progress(merged.rows)
        self.job, self.rows = job, merged.rows
        self.earliest, self.latest = merged.earliest, merged.latest
        sample = merged.sampler.result()[0] if merged.sampler else pd.DataFrame()
        self.probe = sample.head(PROBE_ROWS).reset_index(drop=True)
        info = self.table.info(merged.rows, merged.missing)
        return Scan(info, merged.rows, sample, merged.latest)

    def _numbered(self, column, starts: dict[int, int]):
        """`column` and each row's position in read order (`row`, 0 = the first row), for
        the partitions in `starts` (partition -> rows before it)."""
        from pyspark.sql import functions as F

        p = F.spark_partition_id()
        within = F.monotonically_increasing_id() - F.shiftleft(p.cast("long"), 33)
        pairs = [F.lit(x) for item in sorted(starts.items()) for x in item]
        before = F.try_element_at(F.create_map(*pairs), p) if pairs else F.lit(None)
        return self.frame.select(column, (before + within).alias("row")).where(
            F.col("row").isNotNull()
        )

    def _with_date_format(self, config: Config) -> Config:
        """The enrollment-date format, found on the first chunk of rows as the local engine
        finds it (its dates only come to the driver, in read order), then required of
        every partition."""
        from pyspark.sql import functions as F

        self.table.date_format = config.input.date_format
        if schema.ENROLLED not in self.table.matched or config.input.date_format:
            return config
        column = self.frame.columns[self.table.matched[schema.ENROLLED]]
        chunk = config.sampling.chunk_rows or CHUNK_ROWS
        starts = {p: s for p, s in self.offsets.items() if s < chunk}
        dates = self._run(
            lambda: (
                self._numbered(F.col(f"`{column}`").alias("d"), starts)
                .where(F.col("row") < chunk)
                .toArrow()
            ),
            "read the first rows",
        ).to_pandas()
        dates = dates.sort_values("row")
        raw = pd.DataFrame({self.table.matched[schema.ENROLLED]: dates["d"].to_numpy()})
        if self.table.fmt == CSV:
            raw = _csv_missing(raw)
        head = dataclasses.replace(
            self.table,
            matched={schema.ENROLLED: self.table.matched[schema.ENROLLED]},
            database=_Rows(raw, dates["row"].to_numpy() + 2),
        )
        for _ in head.chunks(config, _Issues(strict=True), None):
            pass  # a date no format reads, or an ambiguous column, fails here with its row
        self.table.date_format = head.date_format
        fixed = _fixed_format(head.date_format)
        if fixed is None:
            return config
        return config.model_copy(
            update={"input": config.input.model_copy(update={"date_format": fixed})}
        )

    def _unique_ids(self) -> None:
        """Every customer id once, compared as the loader reads them (input/load.py's
        `_to_id`: stripped, and 5524.0 is 5524 when every id is a whole number); the
        message is the local engine's `check_unique_ids`."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegralType

        column = self.frame.columns[self.table.matched[schema.ID]]
        raw = F.col(f"`{column}`")
        if isinstance(self.frame.schema[column].dataType, IntegralType):
            ids = self._numbered(raw.cast("string").alias("id"), self.offsets)
        else:
            text = F.regexp_replace(raw.cast("string"), r"(?U)^\s+|\s+$", "")
            ids = self._numbered(text.alias("id"), self.offsets).where(F.col("id") != "")
            whole = r"^-?(?:0|[1-9]\d{0,17})(?:\.0+)?$"
            other = self._run(
                lambda: ids.where(~F.col("id").rlike(whole)).limit(1).count(),
                "compare the customer ids",
            )
            if not other:  # every id a whole number: 5524.0 is the id 5524
                ids = ids.withColumn("id", F.regexp_replace("id", r"\.0+$", ""))
        repeated = self._run(
            lambda: (
                ids.groupBy("id")
                .agg(F.count("*").alias("n"), F.min("row").alias("first"))
                .filter("n > 1")
                .orderBy("first")
                .limit(1)
                .collect()
            ),
            "compare the customer ids",
        )
        if not repeated:
            return
        first, n = repeated[0]["id"], int(repeated[0]["n"])
        rows = ids.filter(F.col("id") == first).orderBy("row").limit(5).collect()
        listed = ", ".join(str(r["row"] + 2) for r in rows)
        more = f" and {n - 5} more" if n > 5 else ""
        raise InputError(
            f"{self.file}: column {schema.ID}: customer id {first} appears more than once "
            f"(rows {listed}{more}) — ids must be unique; remove or fix the duplicate rows"
        )

    def score_all(
        self, parts: ModelParts, config: Config, period: str | None = None
    ) -> tuple[SegmentTotals, NearCounts]:
        """Pass 4: score every partition with `parts` and merge the partitions' totals. The
        scored customers stay in Spark (`self.scored`, persisted: memory, then the
        executors' disks) for the migration and for `write_segments`; none comes back."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        assert self.job is not None, "scan first"
        job = dataclasses.replace(self.job, parts=parts, source=self.file)
        if self.cached is not None:
            self.cached.unpersist()
        rows = self.frame.mapInArrow(lambda b: _score_partition(job, b), SCORED)
        self.cached = rows.persist(StorageLevel.MEMORY_AND_DISK)
        results = self._run(
            lambda: [
                pickle.loads(r[0]) for r in self.cached.where("totals").select("data").collect()
            ],
            "score the rows",
        )
        results.sort(key=lambda r: r["partition"])  # the sums are the same from run to run
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise InputError(errors[0])
        if sum(r["rows"] for r in results) != self.rows:
            raise RuntimeError(f"scored {sum(r['rows'] for r in results)} of {self.rows} rows")
        self.scored = self.cached.where(~F.col("totals")).select("data")
        self.parts = parts
        totals = near = None
        for r in results:
            if r["totals"] is None:
                continue
            totals = r["totals"] if totals is None else totals.merge(r["totals"])
            near = r["near"] if near is None else near.merge(r["near"])
        assert totals is not None and near is not None
        return totals, near

    def write_segments(self, model: dict, dest: str, period: str | None, run_id) -> int:
        """Pass 5, once the model is final (persona names, actions, its version, the history
        run id): the scored customers as segments rows (segments.csv's columns), written as
        Parquet into `dest` by Spark's writer, one file per partition. `dest` must not exist
        (a run folder's segments/, or a `SegmentsTarget`'s staging path). Returns the number
        of customers written."""
        import pyarrow as pa
        from pyspark.sql.pandas.types import from_arrow_schema

        from ..scoring.model import model_parts

        assert self.scored is not None, "score first"
        parts = model_parts(model)
        scored = score(parts, self.probe, self.file).customers
        probe = segments_table(scored, parts, period or "", run_id)
        arrow = _fixed_schema(pa.Table.from_pandas(probe, preserve_index=False))
        rows = self.scored.mapInArrow(
            lambda b: _segments_batches(b, parts, period or "", run_id, arrow),
            from_arrow_schema(arrow),
        )
        _action(lambda: rows.write.parquet(dest), f"{dest}: Spark could not write the segments")
        _check_written(self.spark, dest, self.rows)
        return self.rows

    def close(self) -> None:
        """Drop the scored customers Spark keeps (memory and the executors' disks)."""
        if self.cached is not None:
            self.cached.unpersist()
            self.cached = self.scored = None

    def fit_all(self, blank: ModelParts, k: int) -> tuple[np.ndarray, np.ndarray]:
        """K-Means with Spark MLlib (k-means||) on the design rows of every customer inside
        the outlier limits, computed on the executors by `fitted_design` (`[engine] fit =
        "all"`); (centroids, sizes). The rows are cached for MLlib's iterations."""
        from pyspark import StorageLevel
        from pyspark.ml.clustering import KMeans
        from pyspark.ml.functions import array_to_vector

        assert self.job is not None, "scan first"
        job = dataclasses.replace(self.job, parts=blank, source=self.file)
        rows = self.frame.mapInArrow(lambda b: _design_partition(job, b), "x array<double>")
        rows = rows.select(array_to_vector("x").alias("features"))
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
        best = None
        try:
            # as the local fit: clustering.n_init starts, the lowest within-segment sum of
            # squares kept; scikit-learn's 300 iterations and tolerance 1e-4 at most
            for start in range(self.config.clustering.n_init):
                kmeans = KMeans(
                    k=k, seed=self.config.seed + start, initMode="k-means||", maxIter=300, tol=1e-4
                )
                model = self._run(lambda m=kmeans: m.fit(rows), "fit K-Means on every row")
                if best is None or model.summary.trainingCost < best.summary.trainingCost:
                    best = model
        finally:
            rows.unpersist()
        assert best is not None
        centres = np.array([np.asarray(c) for c in best.clusterCenters()], dtype=float)
        if len(centres) != k:
            raise InputError(
                f"{self.file}: Spark MLlib found only {len(centres)} distinct segment centres "
                f'for k = {k} (too few distinct customers) — set [engine] fit = "sample"'
            )
        return centres, np.asarray(best.summary.clusterSizes, dtype=np.int64)

    def cross(self, previous: PreviousRun) -> Crossed:
        """This run's customers against the previous run's, joined in Spark: only the
        (previous, current) counts come back to the driver."""
        from pyspark.sql import functions as F

        assert self.scored is not None, "score first"
        pairs = self.scored.mapInArrow(_segment_pairs, "customer_id string, segment long")
        now = pairs.select("customer_id", F.col("segment").alias("now"))
        before = _previous_segments(self.spark, previous)
        rows = self._run(
            lambda: (
                now.join(before, "customer_id", "full_outer")
                .groupBy("before", "now")
                .count()
                .collect()
            ),
            "compare with the previous run's segments",
        )
        pairs = {
            (int(r["before"]), int(r["now"])): int(r["count"])
            for r in rows
            if r["before"] is not None and r["now"] is not None
        }
        new = sum(int(r["count"]) for r in rows if r["before"] is None)
        departed = sum(int(r["count"]) for r in rows if r["now"] is None)
        return Crossed(pairs, new, departed)


def _previous_segments(session, previous: PreviousRun):
    """customer_id, before: the previous run's segments (where the Spark engine wrote them,
    else the rows history.db holds)."""
    from pyspark.sql import functions as F

    from ..fitting.identity import check_segments_of

    if previous.segments_folder is not None:
        where = previous.segments_folder
        rows = _action(
            lambda: session.read.parquet(where),
            f"{where}: the {previous.period} run's segments cannot be read",
        )
        first = _action(
            lambda: rows.select("run_id", "period").limit(1).collect(),
            f"{where}: the {previous.period} run's segments cannot be read",
        )
        found = first[0].asDict() if first else {}
        check_segments_of(found, where, previous.period, previous.run_id)
    else:
        rows = session.createDataFrame(
            pd.DataFrame(
                {
                    "customer_id": previous.assignments.index.astype(str),
                    "segment": previous.assignments.to_numpy(dtype="int64"),
                }
            )
        )
    return rows.select(
        F.col("customer_id").cast("string").alias("customer_id"),
        F.col("segment").cast("long").alias("before"),
    )


#: SQLAlchemy URLs (the local engine's databases), not file systems Spark reads
_DATABASE = re.compile(r"^(sqlite|postgres(ql)?|mysql|mariadb|mssql|oracle)(\+\w+)?:")


def _local_files(data: str) -> list[str]:
    """The local files `data` names (a file, a folder's files, a glob); [] for a URI."""
    if "://" in data and not data.startswith("file://"):
        return []
    path = data.removeprefix("file://")
    if os.path.isdir(path):
        hidden = (".", "_")  # Spark's _SUCCESS, .crc files
        files = Path(path).rglob("*")
        return sorted(str(p) for p in files if p.is_file() and not p.name.startswith(hidden))
    if glob.has_magic(path):
        return sorted(glob.glob(path))
    return [path] if os.path.isfile(path) else []


def _is_parquet(data: str, local: list[str]) -> bool:
    """CSV when the files (or the URI) end in .csv/.tsv/.txt, else a Parquet dataset."""
    if local:
        return not any(f.lower().endswith(TEXT_EXTENSIONS) for f in local)
    return not data.lower().rstrip("/").endswith(TEXT_EXTENSIONS)


def _fingerprint(frame, file: str) -> str:
    """The input's identity: its files' names, sizes and modification times (a hash of
    every byte would be another full read of a data lake)."""
    digest = hashlib.sha256(file.encode())
    try:
        names = sorted(frame.inputFiles())
    except Exception:
        names = []
    for name in names:
        digest.update(name.encode())
        local = name.removeprefix("file://")
        if os.path.exists(local):
            stat = os.stat(local)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _check_written(session, dest: str, rows: int) -> None:
    """The files Spark's writer committed hold every row, seen from this machine when
    `dest` is a local folder (on a cluster, a folder only the executors see is not one)."""
    local = _local_path(dest)
    if local is None:
        found = session.read.parquet(dest).count()
    else:
        import pyarrow.parquet as pq

        files = sorted(Path(local).glob("part-*.parquet"))
        found = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if found != rows:
        raise InputError(
            f"{dest}: the executors' files are not all there ({found:,} of {rows:,} rows) — "
            "with a cluster, --out must be a folder every executor and this machine share, "
            "or give --segments-to a shared path (hdfs://, s3a://)"
        )


def _local_path(where: str) -> str | None:
    """The local path `where` names, None for a URI of another file system."""
    where = str(where)
    if where.startswith("file:"):
        return where.removeprefix("file://").removeprefix("file:")
    return None if "://" in where else where


@contextmanager
def session_for(config: Config):
    """The session of `[engine]` for one job, stopped at its end if this job started it
    (a stopped job's tasks are cancelled first)."""
    session, started = start(config)
    try:
        yield session
    finally:
        session.sparkContext.cancelAllJobs()
        if started:
            session.stop()


def validate_table(data: str | None, config: Config) -> dict[str, Any]:
    """`reportgen validate --engine spark`: the checks of `run`'s scan (passes 1-3) and the
    local engine's findings; every problem is listed (the executors list each partition's
    bad values instead of stopping at the first)."""
    issues = _Issues(strict=False)
    with session_for(config) as session:
        source = SparkSource(data, config, session, config.input.table, issues)
        rows, missing = 0, {}
        try:
            scanned = source.scan(0, config.seed)
            rows, missing = scanned.rows, scanned.info.missing
        except InputError as exc:
            issues.items.append(str(exc))
        table = source.table
        info = table.info(rows, missing)
        return validation_report(
            info,
            table.missing_required,
            table.missing_optional,
            source.earliest,
            source.latest,
            config,
            issues,
        )


def assign_table(model: dict, model_path: str, data: str | None, out: str, config: Config):
    """`reportgen assign --engine spark`: every customer scored with a saved model and
    written as a Parquet dataset at `out` (a folder or URI), in place only when complete;
    (customers, excluded, sizes by segment id)."""
    from ..scoring.model import model_parts

    if str(out).lower().endswith((".csv", ".tsv", ".txt")):
        raise InputError(
            f"--out {out}: with --engine spark the segments are a Parquet dataset — give a "
            "folder or URI (e.g. scores/ or s3a://bucket/scores)"
        )
    check_segments_to(out, "--out")
    parts = model_parts(model, model_path)
    with session_for(config) as session:
        source = SparkSource(data, config, session, config.input.table)
        target = SegmentsTarget(session, out, "--out")
        try:
            source.scan(PROBE_ROWS, config.seed)
            totals, _near = source.score_all(parts, config)
            source.write_segments(model, target.staging_uri, None, None)
            target.publish()
            target.finish()
        finally:
            session.sparkContext.cancelAllJobs()  # a stop mid-job: no task writes on
            target.discard()
            source.close()
    sizes = {int(s): int(n) for s, n in zip(totals.segment_ids, totals.sizes, strict=True)}
    return source.rows, sum(totals.exclusions.values()), sizes


def check_segments_to(where: str, option: str = "--segments-to") -> None:
    """`--segments-to` with the Spark engine names a folder or URI, not a database table."""
    match = _DATABASE.match(str(where))
    if match:
        raise InputError(
            f"{option} {where}: a database table is written by the local engine — with "
            "--engine spark give a folder or URI for a Parquet dataset (hdfs://…, s3a://…)"
        )


class SegmentsTarget:
    """`--segments-to PATH` with the Spark engine: the segments as a Parquet dataset at a
    folder or URI of any file system Spark writes (hdfs://, s3a://, abfss://, a local
    folder). Spark's writer fills a hidden folder beside it; the run's commit moves the
    earlier dataset aside and this one into place, and removes the earlier one once the
    history is committed (`undo` puts it back if that fails). A failed run removes its
    hidden folder and leaves the earlier dataset as it was. On object stores (s3a) a
    "move" is a copy: the swap is then not instantaneous."""

    def __init__(self, session, where: str, option: str = "--segments-to"):
        self.shown, self.option = str(where), option
        local = _local_path(self.shown)
        if local is not None:  # as an absolute path: the next month finds it from anywhere
            self.shown = str(Path(local).resolve())
        self.uri = Path(self.shown).as_uri() if local is not None else self.shown
        jvm = session.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        dest = self._path(self.uri)
        try:
            self.fs = dest.getFileSystem(session.sparkContext._jsc.hadoopConfiguration())
            if self.fs.exists(dest) and not self.fs.getFileStatus(dest).isDirectory():
                raise InputError(
                    f"{option} {self.shown}: is a file — give a folder (or URI) for the "
                    "segments' Parquet dataset"
                )
        except InputError:
            raise
        except Exception as exc:  # py4j: no file system for the scheme, a refused login
            raise InputError(
                f"{option} {self.shown}: Spark cannot write there ({_first_line(exc)}) "
                "— check the path, and that the cluster has the file system's connector "
                "(e.g. hadoop-aws for s3a://) and its credentials"
            ) from None
        tag = os.urandom(4).hex()
        parent, name = dest.getParent(), dest.getName()
        self.staging = self._path(parent, f".{name}.partial-{tag}")
        self.old = self._path(parent, f".{name}.old-{tag}")
        self.dest = dest
        self.published = False

    @property
    def staging_uri(self) -> str:
        return self.staging.toString()

    def publish(self) -> None:
        """The new dataset in place, the earlier one kept aside until `finish`."""
        problem = None
        try:
            if self.fs.exists(self.dest) and not self.fs.rename(self.dest, self.old):
                problem = "the earlier segments could not be moved aside"
            elif not self.fs.rename(self.staging, self.dest):
                problem = "the file system refused the move"
                if self.fs.exists(self.old):
                    self.fs.rename(self.old, self.dest)
        except Exception as exc:  # py4j: the file system's own failure
            problem = _first_line(exc)
        if problem is not None:
            raise InputError(
                f"{self.option} {self.shown}: cannot move the new segments into place "
                f"({problem}) — check the permissions there; the run was not recorded"
            )
        self.published = True

    def undo(self) -> None:
        """After `publish`, the earlier dataset back (the run did not commit)."""
        if not self.published:
            return
        self.fs.delete(self.dest, True)
        if self.fs.exists(self.old):
            self.fs.rename(self.old, self.dest)
        self.published = False

    def finish(self) -> None:
        self.fs.delete(self.old, True)

    def discard(self) -> None:
        """What this run left: its hidden folder (a failed run), the earlier dataset's."""
        try:
            self.fs.delete(self.staging, True)
            if not self.published:
                return
            self.fs.delete(self.old, True)
        except Exception:  # a cleanup that fails leaves a hidden folder, not a wrong result
            pass
