"""SIGINT and SIGTERM at ten moments of a real-file run: exit 130/143 within 5 s, no folder,
no temporary folder, no history row, no process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: (progress line to wait for, extra delay, signal, to the whole process group?)
MOMENTS = [
    ("Reading and checking every row", 0.0, signal.SIGINT, True),
    ("Scoring k =", 0.2, signal.SIGTERM, False),
    ("Fitting who is likely to respond", 0.0, signal.SIGINT, False),
    ("Explaining the segments", 0.3, signal.SIGTERM, True),
    ("Stability, other algorithms", 0.0, signal.SIGINT, True),
    ("Writing segments.csv", 0.0, signal.SIGTERM, False),
    ("Drawing charts", 0.5, signal.SIGINT, True),  # the charts
    ("Drawing charts", 2.0, signal.SIGTERM, True),  # laying out the report
    ("Drawing charts", 3.5, signal.SIGINT, False),  # writing the PDFs
    ("Drawing charts", 5.0, signal.SIGTERM, False),
]


@pytest.mark.parametrize(("moment", "delay", "sig", "group"), MOMENTS)
def test_a_stopped_run_leaves_nothing(real_file, tmp_path, moment, delay, sig, group):
    out = tmp_path / "output"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reportgen", "run", "--data", str(real_file)]
        + ["--out", str(out / "2026-10"), "--period", "2026-10"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, like a shell job
        cwd=tmp_path,
    )
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if moment in line:
                break
        else:
            pytest.fail(f"the run ended before {moment!r}: {''.join(seen)[-500:]}")
        time.sleep(delay)
        sent = time.monotonic()
        (os.killpg if group else os.kill)(proc.pid, sig)
        rest = proc.stderr.read()
        code = proc.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if code == 0:  # the signal came after the end: too late to test anything
        pytest.fail(f"the run finished before the signal at {moment!r} + {delay} s")
    assert code == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], rest
    assert took < 5, took
    # progress lines ("… Writing segments.csv") may come before the stop; nothing else may
    assert [line for line in rest.strip().splitlines() if not line.startswith("… ")] == [
        f"reportgen: stopped by {sig.name} — nothing of the unfinished command was kept or recorded"
    ]
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "output"]
    assert leftovers == []
    assert _group_gone(proc.pid, within=2.0), _group(proc.pid)


def test_after_sigkill_no_process_goes_on_and_the_next_run_cleans_up(real_file, tmp_path):
    """kill -9 of the main process while the worker renders: its children die with it
    (nothing keeps writing), and the next run removes the temporary folder left behind."""
    out = tmp_path / "output"
    args = [sys.executable, "-m", "reportgen", "run", "--data", str(real_file)]
    args += ["--out", str(out / "2026-10"), "--period", "2026-10"]
    proc = subprocess.Popen(
        args,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
    )
    try:
        for line in proc.stderr:
            if "Drawing charts" in line:
                break
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _group_gone(proc.pid, within=2.0), _group(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "2026-10").exists()
    assert list(out.glob(".2026-10.partial-*"))  # what SIGKILL leaves
    rerun = subprocess.run(args + ["-q"], capture_output=True, text=True, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in out.iterdir()) == ["2026-10", "history.db"]


def _group(pgid: int) -> list[str]:
    """The live processes of a process group (zombies left for init to reap do not count:
    a container's init may never reap them)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (command)"
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            live.append(text[: text.rindex(")") + 1])
    return live


def _group_gone(pgid: int, within: float) -> bool:
    """No live process of the run's group left (children killed with it die a moment later)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not _group(pgid):
            return True
        time.sleep(0.05)
    return False


def test_a_stop_a_library_wraps_in_its_own_error_is_still_a_stop(small_file, tmp_path, monkeypatch):
    """pydantic's JSON writer turned a SIGTERM that landed inside it into a
    PydanticSerializationError, and the run ended as an 'internal error' (exit 1)."""
    from click.testing import CliRunner

    import reportgen.output.files
    from reportgen.cli import cli
    from reportgen.ops import interrupt

    def wrapping_writer(*_args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the library is working
        except interrupt.Terminated as exc:
            raise RuntimeError(f"Error serializing to JSON: {exc!r}") from None

    monkeypatch.setattr(reportgen.output.files, "write_files", wrapping_writer)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["-q", "run", "--data", str(small_file), "--out", str(out), "--no-report"]
    )
    assert result.exit_code == 143, result.output
    assert "stopped by SIGTERM" in result.stderr and "internal error" not in result.output
    assert not out.exists()
