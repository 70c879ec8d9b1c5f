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
from contextlib import contextmanager
from pathlib import Path

from .config import Config
from .errors import InputError

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
) -> Path:
    """Analyse `data` and write a complete run folder at `out`. Returns `out`."""
    from .load import load_customers
    from .pipeline import analyse
    from .result import write_files

    say = progress or (lambda _m: None)
    say(f"Reading {data}")
    loaded = load_customers(data, config)
    analysis = analyse(loaded, config, progress=say, period=period)
    with atomic_folder(out) as folder:
        write_files(analysis, folder)
        if report:
            from .render import render_run

            render_run(analysis, folder, config, progress=say)
    return Path(out)
