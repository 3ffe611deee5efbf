"""School profiles and their feature vectors: validation, loading, text encoders, the vectorizer.

The names users need are exported here (see ``__all__``)::

    from features import load_profiles, SchoolVectorizer

Importing ``features`` is light: each name is imported from its module on first use, so
``import features`` loads neither scikit-learn nor the sentence model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.errors import EncoderError, FeaturesError, FieldError, ProfileFormatError, ProfileValidationError
    from features.langid import detect_language
    from features.profile_files import load_profiles, profiles_from_frame, profiles_to_frame, save_profiles
    from features.profiles import SchoolProfile, Skills, profiles_from_records, validate_profile
    from features.text import (
        CachedEncoder,
        EmbeddingCache,
        EncoderMismatchError,
        HashingEncoder,
        SentenceTransformerEncoder,
        TextEncoder,
    )
    from features.vectorizer import FeatureMatrix, SchoolVectorizer

# Where each public name lives. A test checks that every name resolves.
_HOMES: dict[str, str] = {
    "SchoolProfile": "features.profiles",
    "Skills": "features.profiles",
    "load_profiles": "features.profile_files",
    "save_profiles": "features.profile_files",
    "validate_profile": "features.profiles",
    "profiles_from_records": "features.profiles",
    "profiles_from_frame": "features.profile_files",
    "profiles_to_frame": "features.profile_files",
    "SchoolVectorizer": "features.vectorizer",
    "FeatureMatrix": "features.vectorizer",
    "TextEncoder": "features.text",
    "SentenceTransformerEncoder": "features.text",
    "HashingEncoder": "features.text",
    "CachedEncoder": "features.text",
    "EmbeddingCache": "features.text",
    "EncoderMismatchError": "features.text",
    "detect_language": "features.langid",
    "FeaturesError": "features.errors",
    "FieldError": "features.errors",
    "ProfileValidationError": "features.errors",
    "ProfileFormatError": "features.errors",
    "EncoderError": "features.errors",
}

__all__ = [
    "CachedEncoder",
    "EmbeddingCache",
    "EncoderError",
    "EncoderMismatchError",
    "FeatureMatrix",
    "FeaturesError",
    "FieldError",
    "HashingEncoder",
    "ProfileFormatError",
    "ProfileValidationError",
    "SchoolProfile",
    "SchoolVectorizer",
    "SentenceTransformerEncoder",
    "Skills",
    "TextEncoder",
    "detect_language",
    "load_profiles",
    "profiles_from_frame",
    "profiles_from_records",
    "profiles_to_frame",
    "save_profiles",
    "validate_profile",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'features' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
