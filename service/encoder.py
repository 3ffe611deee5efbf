"""The service's text encoder: the cached encoder, plus encoding that keeps nothing (for posted profiles)."""

from __future__ import annotations

import contextlib
import contextvars
import sqlite3
import sys
from collections.abc import Iterator, Sequence

import numpy as np

from features.blocks import description_text
from features.profiles import SchoolProfile
from features.text import CachedEncoder, text_key
from service.errors import storage_failure

_EPHEMERAL: contextvars.ContextVar[dict[str, np.ndarray] | None] = contextvars.ContextVar("ephemeral", default=None)


class ServiceEncoder:
    """A ``CachedEncoder`` that can also encode without storing (for posted profiles: nothing is kept).

    Inside ``ephemeral()``, texts missing from the caches are encoded by the model and remembered only
    for the current request.
    """

    def __init__(self, cached: CachedEncoder, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads: {threads!r} is not a positive number of threads")
        self.cached = cached
        self.threads = threads  # the model's intra-op threads in the calling (request) thread: settings.blas_threads
        self.name = cached.name
        self.dim = cached.dim
        self.languages: frozenset[str] | None = getattr(cached, "languages", None)  # None: the model does not say

    def __sklearn_clone__(self) -> ServiceEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it."""
        return self

    @contextlib.contextmanager
    def ephemeral(self) -> Iterator[None]:
        """Encode without writing to any cache, until the block ends."""
        token = _EPHEMERAL.set({})
        try:
            yield
        finally:
            _EPHEMERAL.reset(token)

    def warm(self, profiles: Sequence[SchoolProfile]) -> None:
        """Encode the profiles' descriptions now (cached, or remembered for the request inside ``ephemeral``).

        A failing cache raises ``StorageError`` (503); callers warm before changing anything.

        The model call is the slow part of vectorising a profile: doing it before any lock is taken lets the
        index vectorise the profile once, later, from the cache.
        """
        texts = [t for t in (description_text(p.description) for p in profiles) if t]
        if texts:
            try:
                self.encode(texts)
            except (sqlite3.Error, OSError) as exc:  # the cache's file: disk full, read-only, locked
                raise storage_failure("the embedding cache", exc) from exc

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encode texts (cached ones are looked up)."""
        _pin_torch_threads(self.threads)
        memo = _EPHEMERAL.get()
        if memo is None:
            return self.cached.encode(texts, progress=progress)
        keys = [text_key(self.name, t) for t in texts]
        found = {k: memo[k] for k in keys if k in memo}
        found.update({k: self.cached._memory[k] for k in keys if k not in found and k in self.cached._memory})
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing and self.cached.cache is not None:
            found.update(self.cached.cache.get_many(missing, self.dim))
        text_of = dict(zip(keys, texts, strict=True))
        todo = [k for k in dict.fromkeys(keys) if k not in found]
        if todo:
            vectors = self.cached.encoder.encode([text_of[k] for k in todo])
            new = {k: vectors[i] for i, k in enumerate(todo)}
            memo.update(new)
            found.update(new)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def _pin_torch_threads(threads: int) -> None:
    """PyTorch's intra-op thread count is per calling thread: a request thread would otherwise run the model on
    every core, against the other requests. A no-op (microseconds) when already set or torch is not loaded."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
