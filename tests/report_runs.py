"""Shared, cached report runs for the render, chart and security tests.

Each analysis and each render happens once per test session (functools.cache), whichever
test module asks first. Renders capture every record logged by WeasyPrint (and by the
report's URL fetcher) so tests can require that there were none.
"""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reportgen.config import Config, load_config
from reportgen.output.files import write_files
from reportgen.result import Analysis

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILE = ROOT / "data" / "customers_sample.csv"
SMALL_FILE = ROOT / "tests" / "data" / "customers_small.tsv"
REAL_FILE = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"

_TMP = Path(tempfile.mkdtemp(prefix="reportgen-render-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Run:
    name: str
    folder: Path
    analysis: Analysis
    config: Config
    #: WARNING and worse from WeasyPrint or the report's URL fetcher while rendering
    warnings: list[str] = field(default_factory=list)
    #: one-page parts that needed a second layout pass in compact type
    compact: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [s.persona.name for s in self.analysis.summary.segments if s.persona]


def data_file(name: str) -> Path:
    path = {"sample": SAMPLE_FILE, "real": REAL_FILE, "small": SMALL_FILE}[name]
    if not path.exists():
        where = "../shared beside the repo" if name == "real" else "the repository"
        pytest.skip(f"{path.name} not found (needs {where})")
    return path


@functools.cache
def analysed(path: Path) -> Analysis:
    from reportgen.input.load import load_customers
    from reportgen.pipeline import analyse

    config = load_config()
    return analyse(load_customers(path, config), config, period="2024-06")


def capture_warnings():
    """Context manager collecting WARNING+ records of 'weasyprint' and every 'reportgen'
    logger (the fetcher's refusals, removed brand URLs, a tampered chart index)."""
    import contextlib

    @contextlib.contextmanager
    def _cm():
        handler = _Records()
        loggers = [logging.getLogger("weasyprint"), logging.getLogger("reportgen")]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield handler.records
        finally:
            for logger in loggers:
                logger.removeHandler(handler)

    return _cm()


@functools.cache
def rendered(name: str) -> Run:
    """The analysis of data set `name` ('sample', 'real') written and rendered once."""
    from reportgen.report.render import render_run

    analysis = analysed(data_file(name))
    folder = _TMP / name
    config = load_config()
    write_files(analysis, folder)
    with capture_warnings() as records:
        result = render_run(analysis, folder, config)
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    return Run(name, folder, analysis, config, warnings, result.compact)


def copy_run(run: Run, name: str) -> Path:
    """A fresh copy of a rendered run folder (for re-rendering it)."""
    target = _TMP / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run.folder, target)
    return target


def tmp_dir(name: str) -> Path:
    path = _TMP / name
    path.mkdir(parents=True, exist_ok=True)
    return path
