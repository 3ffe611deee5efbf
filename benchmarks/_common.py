"""Shared helpers for the benchmark scripts: registries, encoders, timing, memory. Not part of the library."""

from __future__ import annotations

import gc
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from features.profiles import SchoolProfile
from features.text import CachedEncoder, EmbeddingCache, HashingEncoder, TextEncoder

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "var" / "bench"


def registry(n: int, seed: int = 0) -> list[SchoolProfile]:
    """The seeded demo registry of ``n`` schools (``matching.demo.generator.generate_registry``)."""
    from matching.demo.generator import generate_registry

    return generate_registry(n, seed=seed)


def encoder(kind: str) -> TextEncoder:
    """``real``: all-MiniLM-L6-v2 behind a disk cache in var/bench (so the demo's ~2,200 distinct
    descriptions are encoded once, ever); ``hashing``: HashingEncoder(dim=384), the same matrix shape."""
    if kind == "hashing":
        return CachedEncoder(HashingEncoder(dim=384))
    if kind != "real":
        raise SystemExit(f"--encoder: {kind!r} is not one of real, hashing")
    from features.text import SentenceTransformerEncoder

    return CachedEncoder(SentenceTransformerEncoder(), EmbeddingCache(CACHE_DIR / "embeddings.sqlite"))


def machine() -> str:
    """A one-line description of where the figures come from."""
    import numpy

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {cpus} CPUs (load {load:.1f}), "
        f"python {platform.python_version()}, numpy {numpy.__version__}"
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """``fn()`` and its wall time in seconds."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def stats_ms(seconds: list[float] | np.ndarray) -> str:
    """``median / p99 (max)`` of timings, in milliseconds."""
    a = np.asarray(seconds) * 1e3
    return f"median {np.median(a):6.2f} ms   p99 {np.percentile(a, 99):6.2f} ms   max {a.max():6.2f} ms"
