"""Shared fixtures: a fast fake encoder, a small random registry, and the real model (once)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from factories import make_profile, make_registry  # noqa: F401  (re-exported for older imports)

from features.profiles import SchoolProfile
from features.text import HashingEncoder


@pytest.fixture(scope="session")
def fake_encoder() -> HashingEncoder:
    """A fast deterministic encoder standing in for sentence-transformers in unit tests."""
    return HashingEncoder(dim=64)


@pytest.fixture(scope="session")
def real_encoder():
    """The real all-MiniLM-L6-v2 model, loaded once per test session (tests marked real_model)."""
    from features.text import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


@pytest.fixture
def registry() -> list[SchoolProfile]:
    """A small random registry (200 schools)."""
    return make_registry(200)
