"""One way to retry an operation on the broker or the store: exponential backoff until it works or a stop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

INITIAL_DELAY = 0.2
MAX_DELAY = 10.0


class Stopped(Exception):
    """A stop was requested while waiting to retry."""


def backoff_delay(failures: int, initial: float = INITIAL_DELAY, maximum: float = MAX_DELAY) -> float:
    """Seconds to wait after ``failures`` failures in a row (1, 2, ...): ``initial`` doubling up to ``maximum``."""
    return min(initial * 2.0 ** min(max(failures - 1, 0), 30), maximum)


def retry(
    call: Callable[[], T],
    *,
    errors: type[BaseException] | tuple[type[BaseException], ...],
    stop: threading.Event,
    on_error: Callable[[BaseException], None],
    unless: tuple[type[BaseException], ...] = (),
) -> T:
    """``call()`` until it returns, waiting :func:`backoff_delay` after each failure.

    Parameters
    ----------
    call
        The operation.
    errors
        Failures worth retrying (a connection refused, a timeout); anything else propagates.
    stop
        Set to give up; it interrupts a wait at once.
    on_error
        Called with each failure before the wait (counting, logging).
    unless
        Subclasses of ``errors`` that are final and propagate (the database rejecting the content).

    Raises
    ------
    Stopped
        When ``stop`` is set while waiting.
    """
    failures = 0
    while True:
        try:
            return call()
        except errors as exc:
            if isinstance(exc, unless):
                raise
            failures += 1
            on_error(exc)
            if stop.wait(backoff_delay(failures)):
                raise Stopped from None
