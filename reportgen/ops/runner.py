"""Run a whole job: load -> analyse -> write the run folder atomically -> report.

Everything is written into a temporary folder beside the destination and moved into place
only when every step succeeded, so a failed run leaves no partial folder and never touches
an earlier run's files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import InputError

Progress = Callable[[str], None]


@contextmanager
def atomic_folder(dest: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `dest`, on failure it vanishes."""
    dest = Path(dest)
    parent = dest.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{dest}: cannot create the output folder ({exc.strerror}) — choose another --out"
        ) from None
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a folder — choose another --out")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=parent))
        os.rename(dest, old / "previous")
    os.rename(tmp, dest)
    os.chmod(dest, 0o755)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
    `refit=True`) and this run is recorded once its folder is in place; a failed run
    leaves the database and every earlier folder untouched.
    """
    from ..input.scan import Source
    from ..output.files import write_files
    from ..parallel import in_child
    from ..pipeline import analyse
    from . import history

    say = progress or (lambda _m: None)
    say(f"Reading {data}")
    source = Source.from_file(data, config)
    db = history.db_path(config, out) if config.history.enabled and period else None
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
    with history.recording(db) if db is not None else nullcontext() as recorder:
        with atomic_folder(out) as folder:
            say("Writing segments.csv, summary.json and model.json")
            # the data files are written by a second process while this one draws and lays
            # out the report (mostly one core): about 1.5 s less at 100,000 customers
            parquet = config.output.segments_parquet
            with in_child(write_files, analysis, folder, parquet) as writing:
                if report:
                    from ..report.render import render_run

                    render_run(analysis, folder, config, progress=say)
                writing.result()
            if recorder is not None:
                recorder.add(analysis, Path(out))
    if db is not None:
        say(f"Recorded in {db}")
    return Path(out)


@dataclass
class Assigned:
    out: Path
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
