"""Run one function in a forked child while this process goes on (2 cores, 2 lanes).

`in_child(func, *args)` starts the work at once and returns a `Pending`; `.result()` waits
for it and returns the function's value (pickled through a pipe), or raises what it raised.
Where the OS cannot fork, or REPORTGEN_NO_FORK=1, the function runs on `.result()`, in this
process: the value is the same, only the wall time differs. All the work run this way is
seeded and single-threaded, so it gives the same result in either process.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import Any


class Pending:
    """One function running in a forked child; `result()` collects it, `cancel()` drops it."""

    def __init__(self, func: Callable[..., Any], args: tuple):
        self._func, self._args = func, args
        self._pid: int | None = None
        self._fd: int | None = None
        if hasattr(os, "fork") and os.environ.get("REPORTGEN_NO_FORK") != "1":
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns into the caller's code, whatever happens
                code = 1
                try:
                    os.close(read_fd)
                    try:
                        value, code = (True, func(*args)), 0
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
                finally:
                    os._exit(code)
            os.close(write_fd)
            self._pid, self._fd = pid, read_fd

    def result(self) -> Any:
        if self._pid is None:
            return self._func(*self._args)
        with os.fdopen(self._fd, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self._pid, 0)
        self._pid = self._fd = None
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
        os.close(self._fd)
        os.waitpid(self._pid, 0)
        self._pid = self._fd = None

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


def in_child(func: Callable[..., Any], *args: Any) -> Pending:
    """Start `func(*args)` in a forked child; use the result as a context manager (or call
    `cancel()` on failure) so a caller that fails first leaves no child behind."""
    return Pending(func, args)
