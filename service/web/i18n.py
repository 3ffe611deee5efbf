"""Page language: which locale a request is served in, its text direction, the message catalogues, SDG names.

Order (issue 17 item 4): ``?lang=`` query, then the ``lang`` cookie, then ``Accept-Language``
negotiated with :meth:`babel.Locale.negotiate`, else English (en-GB). The catalogues are
``locale/<lang>/LC_MESSAGES/messages.po`` (``make translations`` compiles them to ``.mo``; a missing or
stale ``.mo`` is compiled from its ``.po`` in memory, with a warning). The locale of the request being
served is a context variable set by :class:`service.web.common.LocaleMiddleware`; ``gettext`` and
friends read it, so the templates and the page's Python strings speak the same language.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

import yaml
from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

log = logging.getLogger(__name__)

SUPPORTED: tuple[str, ...] = ("en", "fr", "ar", "es", "pt")
DEFAULT = "en"
COOKIE = "lang"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).parent / "locale"
_SDG_DIR = LOCALE_DIR / "sdg"
# The ``lang`` attribute of each page language (English is British English).
HTML_LANG: dict[str, str] = {"en": "en-GB", "fr": "fr", "ar": "ar", "es": "es", "pt": "pt"}

_current: ContextVar[str] = ContextVar("page_locale", default=DEFAULT)


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
    """Short SDG goal names (1..17) in ``locale`` (every page language has a copy)."""
    path = _SDG_DIR / f"{locale}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no SDG names for {locale!r} in {_SDG_DIR}; page languages: {', '.join(SUPPORTED)}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {int(k.split("-")[0]): str(v) for k, v in data.items() if k.endswith("-short")}


# ---------------------------------------------------------------- catalogues
def po_path(locale: str) -> Path:
    """The ``.po`` catalogue of a page language."""
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> Translations:
    """The compiled catalogue of a page language: its ``.mo``, or its ``.po`` compiled in memory when the
    ``.mo`` is missing or older (a clean clone before ``make translations``)."""
    if locale not in SUPPORTED:
        raise UnsupportedLanguageError(locale)
    po = po_path(locale)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return Translations(f, domain=DOMAIN)
    log.warning("%s is missing or older than its .po: compiling in memory (run `make translations`)", mo)
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def current_locale() -> str:
    """The locale of the request being served (English outside a page request)."""
    return _current.get()


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Serve what runs inside in ``locale``."""
    if locale not in SUPPORTED:
        raise UnsupportedLanguageError(locale)
    token = _current.set(locale)
    try:
        yield
    finally:
        _current.reset(token)


def set_locale(locale: str) -> object:
    """Set the current locale (the middleware's; returns the token for ``reset_locale``)."""
    return _current.set(locale)


def reset_locale(token: object) -> None:
    """Undo ``set_locale``."""
    _current.reset(token)  # type: ignore[arg-type]


def gettext(message: str) -> str:
    """``message`` in the current page language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or (one of the) plural forms for ``n`` in the current page language."""
    return translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction only; it is translated where it is shown."""
    return message


# ---------------------------------------------------------------- plural forms for the page's script
_PLURAL_SAMPLES = (*range(0, 200), 1_000_000)


def plural_texts(singular: str, plural: str) -> dict[str, str]:
    """The forms of a counted message for each CLDR plural category of the current language, with ``{n}``
    where the number goes (``page.js`` picks one with ``Intl.PluralRules``). The message uses ``%(num)s``."""
    locale = Locale.parse(_current.get())
    out: dict[str, str] = {}
    for n in _PLURAL_SAMPLES:
        category = locale.plural_form(n)
        if category not in out:
            out[category] = ngettext(singular, plural, n).replace("%(num)s", "{n}").replace("%%", "%")
    return out


def language_native_name(locale: str) -> str:
    """A page language's name in itself (``Français``), for the language switcher."""
    name = Locale.parse(locale).get_display_name(locale) or locale
    return name[:1].upper() + name[1:]
