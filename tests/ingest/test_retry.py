"""The one retry helper of the ingestion worker: backoff schedule, final errors, stopping; no broker needed."""

from __future__ import annotations

import threading

import pytest

from rca.ingest.retry import Stopped, backoff_delay, retry


def test_backoff_doubles_from_a_fifth_of_a_second_to_ten() -> None:
    assert [backoff_delay(n) for n in range(1, 9)] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    assert backoff_delay(10_000) == 10.0


def test_retry_until_it_works_reporting_each_failure() -> None:
    failures: list[BaseException] = []
    calls = iter([OSError("down"), OSError("still down"), "done"])

    def call() -> str:
        outcome = next(calls)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    stop = threading.Event()
    original = stop.wait
    stop.wait = lambda timeout=None: original(0)  # type: ignore[method-assign]  # no real sleeping
    assert retry(call, errors=OSError, stop=stop, on_error=failures.append) == "done"
    assert [str(f) for f in failures] == ["down", "still down"]


def test_final_errors_and_other_errors_propagate_at_once() -> None:
    stop = threading.Event()
    with pytest.raises(PermissionError):
        retry(_raise(PermissionError()), errors=OSError, stop=stop, on_error=_fail, unless=(PermissionError,))
    with pytest.raises(KeyError):
        retry(_raise(KeyError("x")), errors=OSError, stop=stop, on_error=_fail)


def test_a_stop_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    failures: list[BaseException] = []
    with pytest.raises(Stopped):
        retry(_raise(OSError()), errors=OSError, stop=stop, on_error=failures.append)
    assert len(failures) == 1


def _raise(exc: BaseException):
    def call() -> None:
        raise exc

    return call


def _fail(exc: BaseException) -> None:
    raise AssertionError(f"not a retryable failure: {exc!r}")
