"""Stopping on SIGINT (Ctrl-C) and SIGTERM: promptly, with nothing half-written.

`installed()` (the CLI wraps every command in it) makes SIGTERM raise `Terminated` the way
SIGINT raises KeyboardInterrupt, so every `finally` and context manager on the way out does
its clean-up: the temporary run folder goes, the history transaction rolls back, forked
children are stopped. An exception raised while a C library calls back into Python can be
swallowed by that library, so the signal is also remembered, and `check()` — called right
before a run is made visible — raises it again. `critical()` holds both signals back while
the run folder is swapped and history committed, so those two never happen halfway.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: exit codes of a stopped command: 128 + the signal number, as shells report it
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

_received: int | None = None


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: no `except Exception`
    on the way out swallows it)."""


def _raise(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _handler(signum, _frame) -> None:
    global _received
    _received = signum
    _raise(signum)


@contextmanager
def installed() -> Iterator[None]:
    """SIGINT and SIGTERM raise while the block runs; the earlier handlers come back after."""
    global _received
    _received = None
    try:
        previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    except ValueError:  # not the main thread (an embedding application): leave them alone
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def received() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _received


def check() -> None:
    """Raise again a stop request that something on the way may have swallowed."""
    if _received is not None:
        _raise(_received)


@contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a short step that must not stop halfway; a signal
    that arrived before raises here, one that arrives during it is delivered after it."""
    check()
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
