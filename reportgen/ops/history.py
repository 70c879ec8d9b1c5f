"""The run history: an embedded SQLite database of every successful run.

Tables (schema version 1):

- ``runs``: one row per successful run — period, created_at (UTC), input path and sha256,
  config hash, k, customers, mode ("first", "refit" or "scored"), the previous run it was
  compared with, the run folder, tool version, ``segments`` (JSON: id, size, share, persona
  name/slug/colour, centroid in original units, KPIs, profile) and ``model`` (the run's
  model.json, so a later month can score with it even if the folder was moved).
- ``ids``: every customer id ever seen, stored once (text -> integer).
- ``customers``: (run, customer, segment) as integers — enough to compute migrations.

A run is recorded in one transaction that commits only after its folder is in place
(`recording` with runner.atomic_folder), so a failed run leaves the database as it was; a
rerun of a period into the same folder replaces that period's row.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import InputError

if TYPE_CHECKING:  # listing runs needs none of these: `reportgen history` starts fast
    import pandas as pd

    from ..fitting.identity import PreviousRun
    from ..result import Analysis

SCHEMA_VERSION = "1"
DB_NAME = "history.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    period TEXT NOT NULL,
    created_at TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    k INTEGER NOT NULL,
    customers INTEGER NOT NULL,
    mode TEXT NOT NULL,
    previous_run_id INTEGER REFERENCES runs(id),
    folder TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    segments TEXT NOT NULL,
    model TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_period ON runs(period, id);
CREATE TABLE IF NOT EXISTS ids (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS customers (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    customer INTEGER NOT NULL REFERENCES ids(id),
    segment INTEGER NOT NULL,
    PRIMARY KEY (run_id, customer)
) WITHOUT ROWID;
"""


def db_path(config: Config, out: Path | None = None) -> Path:
    """The history database: `history.db` in the config, else beside the run folders.

    With the default layout (`output/<period>/`) that is `output/history.db`.
    """
    if config.history.db:
        return Path(config.history.db)
    if out is not None:
        return Path(out).parent / DB_NAME
    return Path("output") / DB_NAME


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the effective configuration, without the delivery settings ([smtp])."""
    relevant = {k: v for k, v in config.items() if k != "smtp"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _damaged(path: Path, exc: Exception, waited: float | None = None) -> InputError:
    code = getattr(exc, "sqlite_errorname", "")
    if code in ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN"):
        return InputError(
            f"{path}: cannot write the history database ({exc}) — free some space or make "
            "the folder writable, or set history.db in the config; nothing was changed"
        )
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        how_long = f" (waited {waited:g} s)" if waited is not None else ""
        return InputError(
            f"{path}: the history database is locked by another program{how_long} — close "
            "what holds it open (a BI tool, an sqlite3 shell, another run) and run again, or "
            "raise history.wait_seconds; nothing was changed"
        )
    return InputError(
        f"{path}: not a usable reportgen history database ({exc}) — move it away (a new one is "
        "started) or set history.db in the config"
    )


@contextmanager
def _read(path: Path) -> Iterator[sqlite3.Connection | None]:
    """Read-only connection, or None when the database does not exist yet."""
    path = Path(path)
    if not path.is_file():
        yield None
        return
    # read-write where allowed, never created: SQLite can then roll back what a killed run
    # left half-written (a "hot journal"), which a read-only connection cannot
    mode = "rw" if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK) else "ro"
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + f"?mode={mode}", uri=True)
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables == 0:  # created by a first run that was killed before it committed
            conn.close()
            yield None
            return
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from None
    try:
        if version is None or version[0] != SCHEMA_VERSION:
            raise InputError(
                f"{path}: history schema version {version[0] if version else '?'} is not "
                f"supported (expects {SCHEMA_VERSION}) — set history.db to a new file"
            )
        conn.row_factory = sqlite3.Row
        yield conn
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from None
    finally:
        conn.close()


# --------------------------------------------------------------------------- writing


def _segments_json(analysis: Analysis) -> list[dict[str, Any]]:
    from ..scoring.model import centroids_original

    centroids = centroids_original(analysis.model) if analysis.model else {}
    out = []
    for seg in analysis.summary.segments:
        persona = seg.persona
        colour = getattr(seg, "colour", None) or getattr(persona, "colour", None)
        out.append(
            {
                "id": seg.id,
                "size": seg.size,
                "share": seg.share,
                "persona": persona.name if persona else None,
                "slug": persona.slug if persona else None,
                "colour": colour,
                "centroid": centroids.get(seg.id, {}),
                "kpis": seg.kpis.model_dump() if seg.kpis else {},
                "profile": seg.profile,
            }
        )
    return out


class Recorder:
    """Adds one run inside the open transaction of `recording`."""

    def __init__(self, path: Path, wait: float = 30.0):
        self.path = Path(path)
        self.wait = wait
        self.existed = self.path.exists()
        self.conn: sqlite3.Connection | None = None
        self.run_id: int | None = None
        # Set before connecting: a stop (SIGTERM) between sqlite3.connect creating the file
        # and `self.conn` being assigned must still remove the file this run created.
        self.opened = False

    def add(self, analysis: Analysis, folder: Path) -> int:
        """Stage `analysis` (written to `folder`) in the transaction; returns its run id."""
        summary = analysis.summary
        if not summary.run.period:
            raise InputError("a run without a period cannot be recorded — pass --period YYYY-MM")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.opened = True
            conn = self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.wait)
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)  # DDL is transactional in SQLite
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None:
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
            elif version[0] != SCHEMA_VERSION:
                raise InputError(
                    f"{self.path}: history schema version {version[0]} is not supported "
                    f"(expects {SCHEMA_VERSION}) — set history.db to a new file"
                )
            self.run_id = _insert(conn, analysis, folder)
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc, self.wait) from None
        return self.run_id

    def commit(self) -> None:
        """Make the staged run visible (called once its folder is in place)."""
        if self.conn is None:
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc, self.wait) from None


def _insert(conn: sqlite3.Connection, analysis: Analysis, folder: Path) -> int:
    summary = analysis.summary
    run = summary.run
    changes = summary.changes
    mode = changes.mode if changes else "first"
    where = str(Path(folder).resolve())
    # a rerun of a period into the same folder replaces that folder: its earlier rows
    # describe files that no longer exist, so they go in the same transaction
    for (old,) in conn.execute(
        "SELECT id FROM runs WHERE period = ? AND folder = ?", (run.period, where)
    ).fetchall():
        conn.execute("DELETE FROM customers WHERE run_id = ?", (old,))
        conn.execute("DELETE FROM runs WHERE id = ?", (old,))
    cursor = conn.execute(
        "INSERT INTO runs(period, created_at, input_path, input_sha256, config_hash, k, "
        "customers, mode, previous_run_id, folder, tool_version, segments, model) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run.period,
            datetime.now(UTC).replace(microsecond=0).isoformat(),
            run.input_path,
            run.input_sha256,
            config_hash(run.config),
            summary.model.k,
            summary.data_quality.rows_in,
            mode,
            changes.previous_run_id if changes else None,
            where,
            run.tool_version,
            json.dumps(_segments_json(analysis)),
            json.dumps(analysis.model, sort_keys=True),
        ),
    )
    run_id = int(cursor.lastrowid)
    if analysis.scored is not None:  # a Spark run: its per-customer rows are in Parquet
        return run_id
    ids = analysis.customers["customer_id"].astype(str).tolist()
    segments = analysis.customers["segment"].astype(int).tolist()
    # set-based: one bulk insert into a scratch table, then two ordered inserts
    conn.execute("CREATE TEMP TABLE incoming (customer_id TEXT NOT NULL, segment INTEGER)")
    try:
        conn.executemany("INSERT INTO incoming VALUES (?, ?)", zip(ids, segments, strict=True))
        conn.execute(  # in key order: the index grows at its end instead of everywhere
            "INSERT OR IGNORE INTO ids(customer_id) "
            "SELECT customer_id FROM incoming ORDER BY customer_id"
        )
        conn.execute(
            "INSERT INTO customers(run_id, customer, segment) "
            "SELECT ?, ids.id, incoming.segment FROM incoming JOIN ids USING (customer_id) "
            "ORDER BY ids.id",
            (run_id,),
        )
    finally:
        conn.execute("DROP TABLE incoming")
    return run_id


@contextmanager
def recording(path: Path, wait: float = 30.0) -> Iterator[Recorder]:
    """Yield a `Recorder`; what it added is kept only if `Recorder.commit()` was called (the
    run folder's swap calls it, see runner.atomic_folder) and the block succeeds.

    On any failure the transaction rolls back, leaving the database exactly as it was (a
    database this run created is removed again). While it waits for a lock (another run,
    a reader holding a transaction) SQLite retries for `wait` seconds.
    """
    recorder = Recorder(path, wait)
    try:
        yield recorder
    except BaseException:
        if recorder.conn is not None:
            if recorder.conn.in_transaction:
                recorder.conn.execute("ROLLBACK")
            recorder.conn.close()
        if recorder.opened and not recorder.existed:
            recorder.path.unlink(missing_ok=True)
            Path(f"{recorder.path}-journal").unlink(missing_ok=True)
        raise
    if recorder.conn is not None:
        try:
            if recorder.conn.in_transaction:  # added but never committed: not kept
                recorder.conn.execute("ROLLBACK")
        finally:
            recorder.conn.close()


# --------------------------------------------------------------------------- reading


def _segments(row: sqlite3.Row) -> list[dict[str, Any]]:
    return json.loads(row["segments"])


def previous_run(path: Path, period: str) -> PreviousRun | None:
    """The latest recorded run of a period before `period` (YYYY-MM), or None."""
    from ..fitting.identity import PreviousRun, PreviousSegment

    with _read(path) as conn:
        if conn is None:
            return None
        row = conn.execute(
            "SELECT * FROM runs WHERE period < ? ORDER BY period DESC, id DESC LIMIT 1", (period,)
        ).fetchone()
        if row is None:
            return None
        used: set[int] = set()
        for (segments,) in conn.execute("SELECT segments FROM runs WHERE period < ?", (period,)):
            used |= {int(s["id"]) for s in json.loads(segments)}
        assignments = assignments_of(conn, int(row["id"]))
    segments_folder = None
    if assignments.empty and row["customers"]:  # a Spark run: no rows here, see segments/
        segments_folder = _segments_folder(Path(row["folder"]), row["period"], int(row["id"]))
    segments = [
        PreviousSegment(
            id=int(s["id"]),
            size=int(s["size"]),
            share=float(s["share"]),
            persona=s.get("persona"),
            slug=s.get("slug"),
            colour=s.get("colour"),
            centroid=s.get("centroid") or {},
            kpis=s.get("kpis") or {},
            profile=s.get("profile") or {},
        )
        for s in _segments(row)
    ]
    return PreviousRun(
        run_id=int(row["id"]),
        period=row["period"],
        created_at=row["created_at"],
        folder=row["folder"],
        model=json.loads(row["model"]),
        segments=segments,
        assignments=assignments,
        used_ids=used,
        segments_folder=segments_folder,
    )


def _segments_folder(folder: Path, period: str, run_id: int) -> str:
    """Where a run of the Spark engine put its per-customer rows (its folder's segments/, or
    the `--segments-to` path its summary.json names), checked to be that run's when it is
    a local folder (a later run into the same place replaces it; a URI is checked by Spark
    as it reads it, engine/spark.py)."""
    import pyarrow.parquet as pq

    from ..fitting.identity import check_segments_of

    fix = "restore that run's folder, or start a new history ([history] db = a new file)"
    where = folder / "segments"
    try:
        run = json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("run", {})
        named = str(run.get("segments_file") or "segments/")
    except (OSError, ValueError):
        named = "segments/"
    if named != "segments/":
        if "://" in named and not named.startswith("file:"):
            return named
        where = Path(named.removeprefix("file://").removeprefix("file:"))
    parts = sorted(where.glob("part-*.parquet")) if where.is_dir() else []
    if not parts:
        raise InputError(
            f"{where}: the {period} run's segments are gone (a Spark run keeps them only "
            f"there) — {fix}"
        )
    first = pq.ParquetFile(parts[0]).read_row_group(0, columns=["run_id", "period"])
    found = first.slice(0, 1).to_pylist()[0] if first.num_rows else {}
    check_segments_of(found, where, period, run_id)
    return str(where)


def recent_runs(path: Path, period: str, limit: int = 11) -> list[tuple[str, list[dict]]]:
    """(period, segments) of the latest run of each of the `limit` periods before `period`,
    oldest first (empty when the database does not exist)."""
    with _read(path) as conn:
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT period, segments FROM runs WHERE id IN (SELECT MAX(id) FROM runs "
            "WHERE period < ? GROUP BY period) ORDER BY period DESC LIMIT ?",
            (period, limit),
        ).fetchall()
    return [(row["period"], _segments(row)) for row in reversed(rows)]


def assignments_of(conn: sqlite3.Connection, run_id: int) -> pd.Series:
    """customer_id (str) -> segment id for one run."""
    import pandas as pd

    rows = conn.execute(
        "SELECT ids.customer_id, customers.segment FROM customers "
        "JOIN ids ON ids.id = customers.customer WHERE customers.run_id = ? "
        "ORDER BY customers.customer",
        (run_id,),
    ).fetchall()
    return pd.Series(
        [int(r[1]) for r in rows], index=pd.Index([r[0] for r in rows], name="customer_id")
    )


def run_assignments(path: Path, run_id: int) -> pd.Series:
    """customer_id -> segment of a recorded run (empty when the database does not exist)."""
    import pandas as pd

    with _read(path) as conn:
        if conn is None:
            return pd.Series(dtype=int)
        return assignments_of(conn, run_id)


def list_runs(path: Path) -> list[dict[str, Any]]:
    """Every recorded run, oldest first, as plain data (what `reportgen history --json` prints)."""
    with _read(path) as conn:
        if conn is None:
            return []
        rows = conn.execute("SELECT * FROM runs ORDER BY period, id").fetchall()
    out = []
    for row in rows:
        out.append(
            {
                "id": row["id"],
                "period": row["period"],
                "created_at": row["created_at"],
                "k": row["k"],
                "customers": row["customers"],
                "mode": row["mode"],
                "previous_run_id": row["previous_run_id"],
                "input_path": row["input_path"],
                "input_sha256": row["input_sha256"],
                "config_hash": row["config_hash"],
                "folder": row["folder"],
                "tool_version": row["tool_version"],
                "segments": _segments(row),
            }
        )
    return out


def format_runs(runs: list[dict[str, Any]]) -> str:
    """A plain-text table of `list_runs` for the terminal."""
    header = ["RUN", "PERIOD", "CREATED (UTC)", "MODE", "K", "CUSTOMERS", "INPUT", "FOLDER"]
    table = [header]
    for r in runs:
        table.append(
            [
                str(r["id"]),
                r["period"],
                r["created_at"].replace("T", " ").replace("+00:00", ""),
                r["mode"],
                str(r["k"]),
                f"{r['customers']:,}",
                r["input_sha256"][:12],
                _short(r["folder"]),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n:
            run = runs[n - 1]
            segs = ", ".join(
                f"{s['id']} {s.get('persona') or 'Segment ' + str(s['id'])} ({s['size']:,})"
                for s in run["segments"]
            )
            lines.append(f"    segments: {segs}")
    return "\n".join(lines)


def _short(folder: str) -> str:
    try:
        rel = os.path.relpath(folder)
    except ValueError:
        return folder
    return folder if rel.startswith("..") else rel
