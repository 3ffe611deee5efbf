"""Keeping the event loop responsive while a thread builds many objects (a bulk import).

A full garbage collection walks every tracked object and stops every thread meanwhile: during a
30,000-school import the collector ran several times for 1-2 s each, and ``/health`` waited. Inside
``no_collections()`` the cyclic collector is off (reference counting still frees nearly everything);
at the end, what survived (the new profiles and index rows, alive as long as the process) is moved out
of the collector's reach with ``gc.freeze()``, as the app does after start-up, and the collector is on
again once no bulk job is inside. Reentrant and thread-safe.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_inside = 0


@contextlib.contextmanager
def no_collections() -> Iterator[None]:
    """No cyclic garbage collection until the block (and every other such block) ends."""
    global _inside
    with _lock:
        _inside += 1
        if _inside == 1:
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                gc.freeze()
                gc.enable()
