"""Page language: which locale a request is served in, its text direction, SDG names.

Order (issue 17 item 4): ``?lang=`` query, then the ``lang`` cookie, then ``Accept-Language``
negotiated with :meth:`babel.Locale.negotiate`, else English. Not yet wired into the page
(templates still English-only); see docs/guides/page.md once the catalogues land.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from babel import Locale

SUPPORTED: tuple[str, ...] = ("en", "fr", "ar", "es", "pt")
DEFAULT = "en"
COOKIE = "lang"
_SDG_DIR = Path(__file__).parent / "locale" / "sdg"


class UnsupportedLanguageError(ValueError):
    """A ``?lang=`` value the page has no catalogue for."""

    def __init__(self, value: str) -> None:
        super().__init__(f"lang={value!r} is not a page language; allowed: {', '.join(SUPPORTED)}")
        self.value = value


def _accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, by descending q (q=0 dropped)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and q > 0:
            ranked.append((-q, i, tag.strip().replace("-", "_")))
    return [tag for _, _, tag in sorted(ranked)]


def choose_locale(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language for a request; a bad explicit ``?lang=`` raises, a bad cookie is ignored."""
    if query:
        if query not in SUPPORTED:
            raise UnsupportedLanguageError(query)
        return query
    if cookie in SUPPORTED:
        return cookie
    found = Locale.negotiate(_accept_language(accept_language), list(SUPPORTED), sep="_")
    return str(found.language) if found is not None else DEFAULT


def text_direction(locale: str) -> str:
    """``rtl`` or ``ltr`` for ``<html dir=...>``, from CLDR."""
    return Locale.parse(locale).text_direction


@cache
def sdg_names(locale: str) -> dict[int, str]:
    """Short SDG goal names (1..17) in ``locale``; English where the copy has no such language."""
    path = _SDG_DIR / f"{locale}.yml"
    if not path.exists():
        path = _SDG_DIR / f"{DEFAULT}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {int(k.split("-")[0]): str(v) for k, v in data.items() if k.endswith("-short")}
