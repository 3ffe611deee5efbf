"""``eventually()``: the one way the tests wait for something that happens in the background."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    what: str | None = None,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    Exceptions of the types in ``ignore`` count as "not yet"; any other exception (an ``AssertionError``
    inside the predicate, for one) fails at once. On timeout raises ``AssertionError`` naming what was
    awaited (``what``, else the predicate's name), the time waited and the last value or exception.
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError(f"eventually: timeout and interval must be > 0, got timeout={timeout}, interval={interval}")
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        tries += 1
        try:
            last: object = predicate()
        except ignore as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            label = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:g} s ({tries} tries) waiting for {label}; last: {last!r}")
        time.sleep(interval)
