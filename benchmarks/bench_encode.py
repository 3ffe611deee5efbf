"""Encoding throughput of the registry path against raw sentence-transformers, and the cache on a second run.

The registry path is what indexing a registry does: ``SchoolVectorizer.fit_transform`` over the
profiles with the real model behind ``CachedEncoder`` (a fresh on-disk cache), i.e. table building,
every feature block, de-duplication, chunking and cache writes included. The baseline is
``SentenceTransformer.encode`` on exactly the texts the registry path encodes (theme labels and the
distinct descriptions), with the same batch size, in the same process. After an untimed warm-up
pass, the baseline runs before and after the registry path, and the ratio uses their mean, so a
change in machine load during the run does not favour either side. Then an unchanged registry
is indexed again with a new encoder over the same cache file (a restart): it must encode nothing.

    .venv/bin/python benchmarks/bench_encode.py                 # demo registry of 3,000 schools
    .venv/bin/python benchmarks/bench_encode.py --schools 6000  # more distinct descriptions
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from _common import machine, registry, timed

from features import vocab
from features.blocks import description_text
from features.text import CachedEncoder, EmbeddingCache, SentenceTransformerEncoder
from features.vectorizer import SchoolVectorizer

T = TypeVar("T")


def clocked(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``, its wall time and the process CPU time (all threads) it used, in seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=3000, help="demo registry size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    model, t_load = timed(SentenceTransformerEncoder)
    print(f"model: all-MiniLM-L6-v2 loaded in {t_load:.1f} s, batch size {model.batch_size}")
    profiles = registry(args.schools, seed=args.seed)
    descriptions = list(dict.fromkeys(t for p in profiles if (t := description_text(p.description))))
    texts = [vocab.theme_label(t) for t in vocab.themes()] + descriptions
    chars = sum(map(len, texts)) / len(texts)
    print(
        f"registry: {len(profiles):,} demo schools; texts to encode: {len(texts):,} "
        f"({len(descriptions):,} distinct descriptions + {len(texts) - len(descriptions)} theme labels), "
        f"mean {chars:.0f} characters"
    )
    st = model.model

    def raw() -> np.ndarray:
        return st.encode(
            texts,
            batch_size=model.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    _, t_warm, _ = clocked(raw)  # warm-up: the first pass over new input shapes is slower for whoever goes first
    print(f"warm-up pass (raw, not counted): {t_warm:.1f} s")
    raw_vectors, t_raw1, c_raw1 = clocked(raw)

    with tempfile.TemporaryDirectory() as tmp:
        cache_path = Path(tmp) / "embeddings.sqlite"
        first = CachedEncoder(model, EmbeddingCache(cache_path))
        vectorizer = SchoolVectorizer(encoder=first, progress=False)
        X, t_registry, c_registry = clocked(lambda: vectorizer.fit_transform(profiles))
        _, t_raw2, c_raw2 = clocked(raw)

        again = CachedEncoder(model, EmbeddingCache(cache_path))  # a restart: a new encoder over the same cache
        X2, t_second = timed(lambda: SchoolVectorizer(encoder=again, progress=False).fit_transform(profiles))
        registry_vectors = first.encode(texts)  # from its memory: what the registry path produced
        for enc in (first, again):
            enc.cache.close()  # type: ignore[union-attr]
    rate_raw = [len(texts) / t for t in (t_raw1, t_raw2)]
    rate_registry = first.encoded_count / t_registry
    ratio = rate_registry / float(np.mean(rate_raw))
    cpu_ratio = (first.encoded_count / c_registry) / float(np.mean([len(texts) / c for c in (c_raw1, c_raw2)]))
    print(
        f"raw SentenceTransformer.encode: {t_raw1:.1f} s and {t_raw2:.1f} s "
        f"({rate_raw[0]:.1f} and {rate_raw[1]:.1f} texts/s, before and after; CPU {c_raw1:.1f} s and {c_raw2:.1f} s)"
    )
    print(
        f"registry path (SchoolVectorizer.fit_transform + CachedEncoder, cold cache): {t_registry:.1f} s, "
        f"encoded_count {first.encoded_count:,} ({rate_registry:.1f} texts/s; CPU {c_registry:.1f} s)"
    )
    print(
        f"throughput ratio registry / raw: {ratio:.3f} wall clock, {cpu_ratio:.3f} CPU time (target >= 0.9; "
        "on a shared machine the CPU-time ratio is the steadier one)"
    )
    print(
        f"same vectors: max |registry - raw| = {np.abs(registry_vectors - raw_vectors).max():.1e}; "
        f"feature matrix {X.shape}"
    )
    print(
        f"second run, unchanged registry (new encoder, same cache file): encoded_count {again.encoded_count}, "
        f"{t_second:.2f} s, identical matrix: {bool(np.array_equal(X, X2))}"
    )
    start = time.perf_counter()
    vectorizer.transform(profiles)
    print(
        f"re-transform in the same process: encoded_count still {first.encoded_count:,} "
        f"(no new texts), {time.perf_counter() - start:.2f} s"
    )


if __name__ == "__main__":
    main()
