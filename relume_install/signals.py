"""Termination signals during an install: roll back on SIGTERM and SIGHUP as on Ctrl-C.

A closed terminal (SIGHUP) or a deployment tool's timeout (SIGTERM) would otherwise end the
process at once, mid-pip or mid-copy, with nothing rolled back. While :func:`rolled_back_on_signals`
is active these signals raise :class:`Terminated` (a KeyboardInterrupt, so every ``except
KeyboardInterrupt`` path runs the rollback), and :func:`shielded` ignores them while a rollback
runs, so a second signal cannot leave it half done.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The process received ``signum``; its exit code is 128 + signum, after the rollback."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def rolled_back_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated inside the block (main thread only; handlers restored)."""
    previous = {number: signal.signal(number, _raise) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP are ignored inside the block (a rollback must finish)."""
    numbers = (signal.SIGINT, *SIGNALS)
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
