"""Keep a model from reading languages it was not trained on: such a description gets a zero vector.

A text in a language the model does not cover lands almost at random in its vector space, so its cosines are
noise. ``LanguageGuard`` identifies each text's language (``features.langid``) and returns a zero row for a
confidently identified language outside the model's list; the themes block then scores that school on its theme
tags alone (a zero description row stays zero), and the other score components are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from features.langid import LanguageIdentifier, default_identifier, uncovered_language
from features.text import TextEncoder

log = logging.getLogger(__name__)


class LanguageGuard:
    """Wraps an encoder that declares ``languages``; texts in other (identified) languages encode to zeros."""

    def __init__(self, base: TextEncoder, identifier: LanguageIdentifier | None = None) -> None:
        languages = getattr(base, "languages", None)
        if not languages:
            raise ValueError(f"LanguageGuard needs an encoder that lists its languages; {base.name!r} does not")
        self.base = base
        self.languages: frozenset[str] = frozenset(languages)
        self.identifier = identifier or default_identifier()
        self.name = f"{base.name}+guard"
        self.dim = base.dim
        self.uncovered: dict[str, int] = {}  # language -> texts zeroed so far

    def __sklearn_clone__(self) -> LanguageGuard:
        """Shared, not copied, when scikit-learn clones an estimator holding it."""
        return self

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """The base model's rows; zero rows for texts in a language it does not cover."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keep = []
        for i, text in enumerate(texts):
            guess = self.identifier.detect(text)
            if guess is not None and uncovered_language(guess.code, self.languages):
                self.uncovered[guess.code] = self.uncovered.get(guess.code, 0) + 1
            else:
                keep.append(i)
        if len(keep) < len(texts):
            log.info(
                "%s: %d text(s) in languages it does not cover get no text vector (%s)",
                self.base.name,
                len(texts) - len(keep),
                ", ".join(f"{k}: {v}" for k, v in sorted(self.uncovered.items())),
            )
        if keep:
            out[keep] = self.base.encode([texts[i] for i in keep], progress=progress)
        return out
