"""SQL for the ``meta`` table: facts about the database (the vectorizer's language vocabulary)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from service import db

LANGUAGES = "vectorizer_languages"


def languages(s: Session, default: Callable[[], list[str]]) -> list[str]:
    """The stored language vocabulary; the first call stores ``default()``."""
    row = s.get(db.Meta, LANGUAGES)
    if row is not None:
        return list(row.value)
    langs = default()
    s.add(db.Meta(key=LANGUAGES, value=langs))
    return langs
