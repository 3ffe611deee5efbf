"""Wiring shared by the CLI, notebooks, service and benchmarks: encoder, index and ranker from a registry."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from features.profile_files import load_profiles
from features.profiles import SchoolProfile
from features.text import CachedEncoder, EmbeddingCache, SentenceTransformerEncoder, TextEncoder
from matching.core.config import RankerConfig
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker

DATA_DIR_ENV = "PARTNERMATCH_DATA_DIR"


def data_dir(path: str | Path | None = None) -> Path:
    """Where registries, caches and outputs live: ``path``, else $PARTNERMATCH_DATA_DIR, else ./var."""
    out = Path(path or os.environ.get(DATA_DIR_ENV) or "var")
    out.mkdir(parents=True, exist_ok=True)
    return out


def make_encoder(kind: str = "real", cache_dir: str | Path | None = None, reencode: bool = False) -> TextEncoder:
    """A cached text encoder: ``real`` (all-MiniLM-L6-v2), ``multilingual`` (USE multilingual v3, calibrated) or
    ``hashing`` (fast, for tests and demos).

    The cache persists in ``cache_dir/embeddings.sqlite`` (default: the data dir) and holds one model's vectors:
    another model's raise ``EncoderMismatchError`` unless ``reencode``.
    """
    if kind == "real":
        base: TextEncoder = SentenceTransformerEncoder()  # kept by name: tests monkeypatch it
    else:
        from features.encoders import make_base_encoder

        base = make_base_encoder(kind)
    cache = EmbeddingCache(data_dir(cache_dir) / "embeddings.sqlite")
    return CachedEncoder(base, cache, reencode=reencode)


def build_ranker(
    profiles: Sequence[SchoolProfile] | str | Path,
    encoder: TextEncoder | None = None,
    config: RankerConfig | None = None,
    progress: bool = True,
) -> Ranker:
    """Index a registry (profiles or a CSV/JSON path) and return its ranker."""
    if isinstance(profiles, str | Path):
        profiles = load_profiles(profiles)
    index = SchoolIndex.build(profiles, encoder or make_encoder("real"), progress=progress)
    return Ranker(index, config)
