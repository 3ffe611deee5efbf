"""The language switcher's links (the page in each language). The language of each request is set by
``service.web.common.LocaleMiddleware``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from service.web import i18n

# The page parameters a language link keeps (the search, the list's filters and length, "why not?"); others,
# such as a profile's ``from`` or the message after a post, are dropped rather than echoed.
KEPT = frozenset({"q", "countries", "phase", "max_tz", "shown", "why", "show_declined"})


def language_links(request: Any, keep_query: bool = True) -> list[dict[str, Any]]:
    """The language switcher: this page in each page language, as query-only links (``?lang=``; the page's own
    parameters in ``KEPT`` kept unless ``keep_query`` is false, as on error pages: nothing else is echoed)."""
    current = i18n.current_locale()
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in KEPT] if keep_query else []
    return [
        {
            "code": code,
            "lang": i18n.HTML_LANG[code],
            "name": i18n.language_native_name(code),
            "url": "?" + urlencode([*kept, ("lang", code)]),
            "current": code == current,
        }
        for code in i18n.SUPPORTED
    ]
