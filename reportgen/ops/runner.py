"""Run a whole job: load -> analyse -> write the run folder atomically -> report.

Everything is written into a temporary folder beside the destination and moved into place
only when every step succeeded, so a failed run leaves no partial folder and never touches
an earlier run's files.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import InputError
from . import interrupt

Progress = Callable[[str], None]

#: at most this many seconds the data files wait for the report's charts to be drawn
CHARTS_WAIT = 30.0


def _make_parent(dest: Path, parent: Path) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{dest}: cannot create the output folder ({exc.strerror}) — choose another --out"
        ) from None


@contextmanager
def atomic_folder(dest: Path, commit: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `dest`, on failure it vanishes.

    The swap is the run's commit protocol: the earlier folder is moved aside, the new one
    moved in, then `commit()` (the history transaction) runs. Should that fail, the new
    folder goes and the earlier one comes back, byte for byte, so folders and history never
    disagree. Signals are held back for the few milliseconds all this takes.
    """
    dest = Path(dest)
    parent = dest.resolve().parent
    _make_parent(dest, parent)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a folder — choose another --out")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=parent))
    except OSError as exc:
        raise InputError(
            f"{parent}: cannot write here ({exc.strerror}) — choose another --out"
        ) from None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        # a stop request something on the way swallowed: the run is not made visible
        interrupt.check()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with interrupt.critical():
        old = None
        try:
            if dest.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=parent))
                os.rename(dest, old / "previous")
            os.rename(tmp, dest)
        except OSError as exc:
            if old is not None and (old / "previous").exists() and not dest.exists():
                os.rename(old / "previous", dest)
            for leftover in (tmp, old):
                if leftover is not None:
                    shutil.rmtree(leftover, ignore_errors=True)
            raise InputError(
                f"{dest}: cannot move the new run into place ({exc.strerror}) — the earlier "
                "folder is unchanged; check the folder's permissions and free space"
            ) from None
        try:
            if commit is not None:
                commit()
        except BaseException:
            os.rename(dest, tmp)
            if old is not None:
                os.rename(old / "previous", dest)
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def output_lock(dest: Path) -> Iterator[None]:
    """One run at a time per output folder: a second one ends at once with one line.

    The lock is `flock` on a hidden `.<name>.lock` beside the folder, removed again when the
    run ends (the kernel also releases the lock when a run is killed; a lock file left by
    SIGKILL is simply reused). A run that opened the file just before the holder removed it
    sees that it locked a removed file and tries again. Without `fcntl` (Windows) runs are
    not serialised. A parent folder this run had to create is removed again if the run
    leaves it empty.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    dest = Path(dest)
    parent = dest.resolve().parent
    path = parent / f".{dest.name}.lock"
    created = not parent.exists()
    _make_parent(dest, parent)
    try:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise InputError(
                    f"{parent}: cannot write here ({exc.strerror}) — choose another --out"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise InputError(
                    f"{dest}: another reportgen run (process {holder}) is writing this folder "
                    "— wait for it to finish, or choose another --out"
                ) from None
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)  # the holder removed this file as we opened it: take the new one
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            path.unlink(missing_ok=True)  # while still holding the lock
            os.close(fd)
    finally:
        if created:
            try:
                parent.rmdir()  # only if empty: the run failed before writing anything
            except OSError:
                pass


def clear_leftovers(dest: Path, say: Progress) -> None:
    """Remove what a run killed mid-way (SIGKILL, power loss) left beside `dest`.

    Called while holding `output_lock(dest)`, so no live run owns these. A run killed in
    the middle of its swap may have left the earlier folder in `.<name>.old-*/previous`
    with `dest` gone: that folder is put back first."""
    dest = Path(dest)
    parent = dest.resolve().parent
    if not parent.is_dir():
        return
    olds = sorted(parent.glob(f".{glob.escape(dest.name)}.old-*"))
    partials = sorted(parent.glob(f".{glob.escape(dest.name)}.partial-*"))
    for old in olds:
        if not dest.exists() and (old / "previous").is_dir():
            os.rename(old / "previous", dest)
            say(f"Put back {dest}, left aside by a run that was stopped while replacing it")
    for leftover in olds + partials:
        shutil.rmtree(leftover, ignore_errors=True)
    if olds or partials:
        say(
            f"Removed {len(olds) + len(partials)} temporary folder(s) left beside {dest} "
            "by a run that was stopped"
        )


def run_job(
    data: Path,
    out: Path,
    config: Config,
    progress: Progress | None = None,
    period: str | None = None,
    report: bool = True,
    refit: bool = False,
    counter=None,
) -> Path:
    """Analyse `data` and write a complete run folder at `out`. Returns `out`.

    With a period and `history.enabled`, the latest earlier run in the history database
    keeps the segments' identities (scored with its model, or refitted and matched with
    `refit=True`) and this run is recorded in the same step that puts its folder in place
    (`atomic_folder`): a failed or stopped run leaves the database and every earlier
    folder untouched.
    """
    from ..parallel import Worker

    say = progress or (lambda _m: None)
    if config.output.segments_to:  # a bad target fails now, not after the analysis
        if config.engine.name == "spark":
            from ..engine.spark import check_segments_to

            check_segments_to(config.output.segments_to)
        else:
            from ..output.database import check_target

            check_target(config.output.segments_to)
    say(f"Reading {data}")
    renderer = None
    if report:
        from ..report.brand import load_brand

        load_brand(config.report.brand).stylesheet()  # a broken brand ends the run now
        # forked now, before the analysis imports: it imports the drawing and layout
        # libraries on the idle core and renders once the analysis is done
        from ..report.render import render_run, warm

        renderer = Worker(render_run, warm, milestone="drawn", progress=say)
    try:
        with output_lock(out):
            clear_leftovers(out, say)
            return _run(data, out, config, say, period, renderer, refit, counter)
    finally:
        if renderer is not None:
            renderer.cancel()


@contextmanager
def _source(data, config: Config, say: Progress):
    """The table to analyse: a local `Source`, or with `[engine] name = "spark"` a
    `SparkSource` (with `--segments-to`, its `target`): what it keeps in Spark, and a
    failed run's staging folder at the target, go when the run ends."""
    if config.engine.name == "local":
        from ..input.scan import Source

        yield Source.from_file(data, config)
        return
    from ..engine import spark

    with spark.session_for(config) as session:
        say(f"Spark {session.version} on {session.sparkContext.master}")
        source = spark.SparkSource(str(data), config, session, config.input.table)
        try:
            if config.output.segments_to:
                source.target = spark.SegmentsTarget(session, config.output.segments_to)
                source.segments_file = source.target.shown
            yield source
        finally:
            session.sparkContext.cancelAllJobs()  # a stop mid-job: no task writes on
            if source.target is not None:
                source.target.discard()
            source.close()


def _run(data, out, config, say, period, renderer, refit, counter) -> Path:
    from . import history

    db = history.db_path(config, out) if config.history.enabled and period else None
    with _source(data, config, say) as source:
        return _run_on(source, db, out, config, say, period, renderer, refit, counter)


def _run_on(source, db, out, config, say, period, renderer, refit, counter) -> Path:
    from ..output.files import write_files
    from ..pipeline import analyse
    from . import history

    previous = history.previous_run(db, period) if db is not None else None
    if previous is not None:
        how = "refitting and matching to" if refit else "scoring with the model of"
        say(f"Keeping segment identities: {how} {previous.period} (run {previous.run_id})")
    analysis = analyse(
        source,
        config,
        progress=say,
        period=period,
        previous=previous,
        refit=refit,
        counter=counter,
    )
    if db is not None:
        from ..describe.trends import build as build_trends

        analysis.summary.trends = build_trends(history.recent_runs(db, period), analysis.summary)
    wait = config.history.wait_seconds
    target = getattr(source, "target", None)
    with history.recording(db, wait) if db is not None else nullcontext() as recorder:
        commit = _commit(target, recorder)
        with atomic_folder(out, commit) as folder:
            try:
                if renderer is not None:
                    from ..report.render import for_render

                    renderer.submit(for_render(analysis), folder, config)
                # the worker draws the charts on both cores, then lays out the report on
                # one: meanwhile, on the other, this process writes the data files and
                # stages the history row (about 2 s at 100,000 customers)
                try:
                    if renderer is not None:
                        renderer.reached(timeout=CHARTS_WAIT)
                    say("Writing segments.csv, summary.json and model.json")
                    # the history row first: its id is segments.csv's run_id
                    run_id = recorder.add(analysis, Path(out)) if recorder is not None else None
                    write_files(analysis, folder, config.output.segments_parquet, run_id)
                    if analysis.scored is not None:  # the Spark engine's, written by Spark
                        from ..engine.spark import SEGMENTS_DIR

                        where = target.staging_uri if target else str(folder / SEGMENTS_DIR)
                        say(f"Writing the segments to {target.shown if target else where}")
                        source.write_segments(analysis.model, where, period, run_id)
                    elif config.output.segments_to:
                        from ..output.database import write_table
                        from ..output.files import segment_slices

                        say(f"Replacing the table {config.output.segments_to}")
                        write_table(
                            config.output.segments_to, segment_slices(analysis, run_id), config
                        )
                    if renderer is not None:
                        renderer.result()
                except OSError as exc:  # a full disk, a quota, a folder made read-only
                    raise InputError(
                        f"{out}: cannot write the run ({exc.strerror or exc}) — free some "
                        "space or choose another --out; nothing was changed"
                    ) from None
            except BaseException:
                if renderer is not None:  # stopped before its folder is removed
                    renderer.cancel()
                raise
    if db is not None:
        say(f"Recorded in {db}")
    return Path(out)


def _commit(target, recorder) -> Callable[[], None] | None:
    """The run's commit, once its folder is in place: the Spark engine's `--segments-to`
    dataset moved into place, then the history transaction (a failure puts the earlier
    dataset back)."""
    if target is None:
        return recorder.commit if recorder is not None else None

    def commit() -> None:
        target.publish()
        try:
            if recorder is not None:
                recorder.commit()
        except BaseException:
            target.undo()
            raise
        target.finish()

    return commit


@dataclass
class Assigned:
    #: the CSV file, or with the Spark engine the Parquet dataset's folder or URI
    out: Path | str
    customers: int
    excluded: int
    sizes: dict[int, int]


def assign_job(model_path: Path, data: Path, out: Path, config: Config) -> Assigned:
    """Score `data` with a saved model.json (no refit) and write a segments CSV to `out`.

    `model_path` may be the model.json or the run folder holding it. The file is read and
    scored chunk by chunk (the same scoring function as `run`); the CSV appears only when
    every row was scored.
    """
    from ..input.load import no_data_rows
    from ..input.scan import Source
    from ..output.files import SegmentsWriter
    from ..scoring.model import model_parts, read_model
    from ..scoring.score import score, segments_table

    model_path = Path(model_path)
    if model_path.is_dir():
        model_path = model_path / "model.json"
    model = read_model(model_path)
    if config.engine.name == "spark":
        from ..engine.spark import assign_table

        rows, excluded, sizes = assign_table(model, str(model_path), data, str(out), config)
        if rows == 0:
            raise InputError(no_data_rows(str(data)))
        return Assigned(out=str(out), customers=rows, excluded=excluded, sizes=sizes)
    parts = model_parts(model, str(model_path))
    source = Source.from_file(data, config)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise InputError(f"{out}: is a folder — give a file name for --out, e.g. scores.csv")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as exc:
        raise InputError(
            f"{out}: cannot write here ({exc.strerror}) — choose another --out"
        ) from None
    counts: dict[int, int] = {}
    excluded = 0
    os.close(fd)
    writer = SegmentsWriter(Path(tmp))
    try:
        try:
            for frame, _rows in source.chunks(config.sampling.chunk_rows):
                scored = score(parts, frame.reset_index(drop=True), str(model_path)).customers
                table = segments_table(scored, parts)
                writer.write(table)
                excluded += int(table["excluded_from_fit"].sum())
                for k, v in table["segment"].value_counts().items():
                    counts[int(k)] = counts.get(int(k), 0) + int(v)
        finally:
            writer.close()
        if writer.rows == 0:
            raise InputError(no_data_rows(str(data)))
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Assigned(
        out=out, customers=writer.rows, excluded=excluded, sizes=dict(sorted(counts.items()))
    )
