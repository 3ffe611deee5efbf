"""Choosing a text encoder by kind: ``real`` (all-MiniLM-L6-v2, English), ``multilingual``, ``hashing``.

``multilingual`` is USE multilingual v3, calibrated to all-MiniLM-L6-v2's cosine scale and guarded: a description
in a language it does not cover gets no text vector (the school is matched on its theme tags and the rest).

``make_base_encoder(kind)`` returns the uncached model; ``matching.core.engine.make_encoder`` wraps it in the
disk cache. ``covered_languages(encoder)`` says which description languages an encoder understands.
"""

from __future__ import annotations

from typing import Literal

from features.text import HashingEncoder, SentenceTransformerEncoder, TextEncoder

EncoderKind = Literal["real", "multilingual", "hashing"]
ENCODER_KINDS: tuple[str, ...] = ("real", "multilingual", "hashing")
MULTILINGUAL_MODEL = "use-multilingual-v3"  # the chosen one: see docs/concepts/multilingual.md


def encoder_name(kind: str) -> str:
    """The name ``make_base_encoder(kind)``'s encoder records in the embedding cache, without loading the model."""
    if kind == "real":
        from features.text import MODEL_NAME

        return MODEL_NAME
    if kind == "hashing":
        return HashingEncoder().name
    if kind == "multilingual":
        from features.encoders.calibration import load_calibration

        return f"{MULTILINGUAL_MODEL}+cal-{load_calibration(MULTILINGUAL_MODEL).tag}+guard"
    raise ValueError(f"encoder: {kind!r} is not one of {', '.join(ENCODER_KINDS)}")


def make_base_encoder(kind: str) -> TextEncoder:
    """The encoder for ``kind`` (loaded now, offline); an unknown kind names the allowed ones."""
    if kind == "real":
        return SentenceTransformerEncoder()
    if kind == "hashing":
        return HashingEncoder()
    if kind == "multilingual":
        from features.encoders.calibration import CalibratedEncoder, load_calibration
        from features.encoders.guard import LanguageGuard
        from features.encoders.multilingual import UseMultilingualEncoder

        return LanguageGuard(CalibratedEncoder(UseMultilingualEncoder(), load_calibration(MULTILINGUAL_MODEL)))
    raise ValueError(f"encoder: {kind!r} is not one of {', '.join(ENCODER_KINDS)}")


def covered_languages(encoder: object) -> frozenset[str] | None:
    """ISO 639-1 codes of the languages ``encoder`` was trained on; None when it does not say (any language
    is as good as another, e.g. the hashing stand-in). Wrappers (cache, calibration) are looked through."""
    seen = 0
    while encoder is not None and seen < 5:
        langs = getattr(encoder, "languages", None)
        if langs:
            return frozenset(langs)
        inner = [getattr(encoder, a, None) for a in ("encoder", "base", "cached")]
        encoder = next((e for e in inner if e is not None), None)
        seen += 1
    return None
