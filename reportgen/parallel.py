"""Run one function in a forked child while this process goes on (2 cores, 2 lanes).

`in_child(func, *args)` starts the work at once and returns a `Pending`; `.result()` waits
for it and returns the function's value (pickled through a pipe), or raises what it raised.
Where the OS cannot fork, or REPORTGEN_NO_FORK=1, the function runs on `.result()`, in this
process: the value is the same, only the wall time differs. All the work run this way is
seeded and single-threaded, so it gives the same result in either process.

`Worker(func, warm)` forks at once, runs `warm()` (the imports of its job) in the child
while this process starts up, and runs `func` when `submit(*args)` sends it its arguments.
With `milestone="name"` the job gets a callable `name=` to call when a first part of its work
is done; `reached(timeout)` waits for that (so the parent can time its own work around it).

`Shared(items)` hands a list out item by item to this process and the children it forks
next, so two lanes share a list of unequal jobs without one of them idling at the end;
`in_two_lanes(func, items)` runs `func` over such a list in this process and one child.
"""

from __future__ import annotations

import functools
import os
import pickle
import select
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

#: prctl(2) option: the signal a child gets when its parent dies
PR_SET_PDEATHSIG = 1


class Pending:
    """One function running in a forked child; `result()` collects it, `cancel()` drops it."""

    def __init__(self, func: Callable[..., Any], args: tuple, nice: int = 0):
        self._func, self._args, self._kwargs = func, args, {}
        self._pid: int | None = None
        self._fd: int | None = None
        if _can_fork():
            parent = os.getpid()
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns into the caller's code, whatever happens
                code = 1
                try:
                    _die_with(parent)
                    os.close(read_fd)
                    if nice:
                        try:
                            os.nice(nice)
                        except OSError:  # a sandbox that forbids it: run at normal priority
                            pass
                    code = _reply(func, args, {}, write_fd)
                finally:
                    os._exit(code)
            os.close(write_fd)
            self._pid, self._fd = pid, read_fd

    def result(self) -> Any:
        if self._pid is None:  # no fork: run it here, now
            return self._func(*self._args, **self._kwargs)
        return self._collect()

    def _collect(self) -> Any:
        assert self._pid is not None and self._fd is not None
        fd, self._fd = self._fd, None  # closed below whatever happens (cancel() must not)
        with os.fdopen(fd, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        if not payload:
            raise RuntimeError("a background step ended without a result")
        ok, value = pickle.loads(payload)
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child and forget its work (when the caller fails before `result()`)."""
        if self._pid is None:
            return
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._fd is not None:
            os.close(self._fd)
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:  # already reaped by an interrupted result()
            pass
        self._pid = self._fd = None

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


def _can_fork() -> bool:
    return hasattr(os, "fork") and os.environ.get("REPORTGEN_NO_FORK") != "1"


def _die_with(parent: int) -> None:
    """In a child: be killed when the parent dies, however it dies (Linux).

    A parent stopped by SIGKILL, or a worker killed by its own parent's clean-up, must not
    leave its children drawing or writing into a folder that is being removed."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _reply(func: Callable[..., Any], args: tuple, kwargs: dict, write_fd: int) -> int:
    """In a child: run `func`, send (ok, value or exception) through `write_fd`; exit code."""
    code = 1
    try:
        value, code = (True, func(*args, **kwargs)), 0
    except BaseException as exc:  # every failure goes back to the parent
        value = (False, exc)
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        exc = value[1]
        message = f"{type(exc).__name__}: {exc}"
        payload = pickle.dumps((False, RuntimeError(message)))
    with os.fdopen(write_fd, "wb") as pipe:
        pipe.write(payload)
    return code


class Worker(Pending):
    """A child forked *early*, for one job whose arguments are known only later.

    At once the child runs `warm()` — typically the imports its job needs — on the core this
    process leaves idle while it starts up; then it waits. `submit(*args)` sends the
    arguments (pickled) and the child runs `func(*args, **fixed)`; `result()` collects the
    value as `Pending` does. `fixed` (for example a progress callback) is handed over by
    the fork itself, so it need not be picklable. Without fork it all runs on `result()`.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        warm: Callable[[], Any] | None,
        milestone: str | None = None,
        **fixed: Any,
    ):
        self._func, self._args, self._kwargs = func, (), fixed
        self._pid = self._fd = self._task = self._mark = None
        if milestone is not None:  # without fork the job runs at result(): nothing to wait for
            fixed[milestone] = lambda: None
        if not _can_fork():
            return
        parent = os.getpid()
        task_r, task_w = os.pipe()
        read_fd, write_fd = os.pipe()
        mark_r, mark_w = os.pipe() if milestone is not None else (None, None)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _die_with(parent)
                os.close(task_w)
                os.close(read_fd)
                if milestone is not None:
                    os.close(mark_r)
                    fixed[milestone] = functools.partial(_mark, mark_w)
                try:
                    if warm is not None:
                        warm()
                except Exception:  # a failed warm-up is the job's to report, not ours
                    pass
                with os.fdopen(task_r, "rb") as pipe:
                    task = pipe.read()
                if task:  # no task: the parent cancelled
                    args = pickle.loads(task)
                    code = _reply(func, args, fixed, write_fd)
            finally:
                os._exit(code)
        os.close(task_r)
        os.close(write_fd)
        if milestone is not None:
            os.close(mark_w)
        self._pid, self._fd, self._task, self._mark = pid, read_fd, task_w, mark_r

    def reached(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until the job calls its milestone, or ends."""
        if self._mark is None:
            return
        mark, self._mark = self._mark, None
        try:
            select.select([mark], [], [], timeout)
        finally:
            os.close(mark)

    def submit(self, *args: Any) -> Worker:
        if self._pid is None:
            self._args = args
            return self
        assert self._task is not None
        with os.fdopen(self._task, "wb") as pipe:
            self._task = None
            pipe.write(pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL))
        return self

    def cancel(self) -> None:
        for name in ("_task", "_mark"):
            if getattr(self, name) is not None:
                os.close(getattr(self, name))
                setattr(self, name, None)
        super().cancel()


def _mark(fd: int) -> None:
    """In a worker: tell the parent the milestone was reached (once)."""
    try:
        os.write(fd, b"1")
        os.close(fd)
    except OSError:  # called twice, or the parent stopped listening
        pass


class Shared:
    """Items taken one at a time by this process and the children it forks next, each item
    by exactly one of them, in the order given: the lanes stay busy until the list is done,
    however long each item takes (a fixed split leaves one core idle while the other lane
    finishes its longer share).

    A pipe holds the items' positions, written before any fork; reading one byte from it is
    atomic, and a read finds it empty once every item is taken. Iterate it in each lane (it
    must be made before the children that share it are forked). Without fork the first
    lane to iterate takes every item; the items are the same, only the wall time differs.
    """

    def __init__(self, items: list[Any]):
        if len(items) > 255:
            raise ValueError("Shared holds at most 255 items")
        self._items = list(items)
        read_fd, write_fd = os.pipe()
        try:
            os.write(write_fd, bytes(range(len(self._items))))
        finally:
            os.close(write_fd)
        self._fd: int | None = read_fd

    def __iter__(self):
        while self._fd is not None:
            taken = os.read(self._fd, 1)
            if not taken:
                self.close()
                return
            yield self._items[taken[0]]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.close()


def in_two_lanes(func: Callable[[Iterable[Any]], list], items: list[Any]) -> list:
    """`func(taken)` in this process and in a forked child at once, each lane taking the next
    of `items` as it finishes one (`Shared`, in the order given); this lane's results, then
    the child's. `func` returns one result per item it took, so any split gives the same
    results, only in another order."""
    queue = Shared(items)
    with in_child(func, queue) as other:
        mine = func(queue)
        return mine + other.result()


def in_child(func: Callable[..., Any], *args: Any) -> Pending:
    """Start `func(*args)` in a forked child; use the result as a context manager (or call
    `cancel()` on failure) so a caller that fails first leaves no child behind."""
    return Pending(func, args)


#: how much lower a side job's CPU priority is than the process that waits for it
SIDE_NICE = 10


def in_side_child(func: Callable[..., Any], *args: Any) -> Pending:
    """`in_child` at a lower CPU priority: for work that shares the two cores with the
    slowest lane (the report's layout) and is not waited for first, so it takes the idle
    moments instead of a third of each core."""
    return Pending(func, args, nice=SIDE_NICE)
