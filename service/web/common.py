"""What every page route shares: the templates, rendering with the security headers, error pages, who is
looking (the session bar, the pre-sign-in form token), and the same-origin check of form posts."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import OperationalError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features import vocab
from matching.errors import UnknownSchoolError
from service.auth import Principal, SessionInfo, allowed, current_session
from service.config import Settings
from service.registry import Registry
from service.web import i18n, labels
from service.web.i18n import gettext as _
from service.web.language import language_links

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
PREFIX = "/ui"
SIGN_IN = PREFIX + "/sign-in"
FORM_COOKIE = "pm_form"  # the sign-in forms' token before there is a session (double-submit cookie)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@cache
def templates() -> Jinja2Templates:
    """The page templates (built on first use, not at import)."""
    t = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    t.env.add_extension("jinja2.ext.i18n")
    t.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    t.env.globals.update(
        PREFIX=PREFIX,
        SIGN_IN=SIGN_IN,
        phase_label=labels.phase_label,
        level_label=labels.level_label,
        number=labels.number,
        hours=labels.hours,
        day=labels.day,
        join=labels.join,
        plural_texts=i18n.plural_texts,
        PHASES=vocab.PHASES,
        static_version=_static_version(),
    )
    t.env.filters["sentence"] = lambda text: text[:1].upper() + text[1:]
    t.env.trim_blocks = True
    t.env.lstrip_blocks = True
    return t


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def registry_of(request: Request) -> Registry:
    """The app's registry."""
    return request.app.state.registry


def signed_in_as(request: Request) -> dict[str, str] | None:
    """The session bar: the signed-in school (id, name) and the session's CSRF token, or None."""
    info: SessionInfo | None = current_session(request)
    if info is None or info.principal.school_id is None:
        return None
    school_id = info.principal.school_id
    try:
        name = registry_of(request).profile(school_id).name
    except UnknownSchoolError:
        name = school_id
    return {"school_id": school_id, "name": name, "subject": info.principal.subject, "csrf_token": info.csrf_token}


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A page, with the security headers and the session bar."""
    locale = i18n.current_locale()
    full = {
        "session": signed_in_as(request),
        "html_lang": i18n.HTML_LANG[locale],
        "dir": i18n.text_direction(locale),
        "languages": language_links(request, keep_query=status < 400),
        **context,
    }
    return templates().TemplateResponse(
        request, name, full, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )


def error_page(
    request: Request, status: int, title: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """A page that says what went wrong and what to do."""
    context = {"title": title, "message": message, "status": status, **extra}
    return render(request, "error.html", context, status, headers)


def failure(request: Request, exc: Exception, what: str) -> Response:
    """A page for an error that is not the visitor's fault."""
    if isinstance(exc, OperationalError):
        log.error("database error while %s: %s", what, exc)
        return error_page(
            request,
            503,
            _("The service is busy"),
            _("The database did not answer while %(what)s. Please try again.") % {"what": _(what)},
        )
    log.exception("page failed while %s", what)
    return error_page(
        request,
        500,
        _("Something went wrong"),
        _("Something went wrong while %(what)s. It has been logged; please try again in a moment.") % {"what": _(what)},
    )


def private(settings: Settings) -> bool:
    """Whether the page shows nothing until sign-in (``private_page``, or reads that need a key)."""
    return settings.private_page or not settings.open_reads


def closed_to(request: Request, principal: Principal) -> Response | None:
    """The sign-in prompt (401) when the page is private and nobody is signed in; else None."""
    if not private(settings_of(request)) or allowed(principal, "read"):
        return None
    return error_page(
        request,
        401,
        _("Sign in to see this page"),
        _(
            "This server shows partner suggestions only to signed-in schools. Sign in with the link we e-mail to "
            "your school's contact address, or through the Schools Online site."
        ),
        sign_in=True,
    )


def is_https(request: Request) -> bool:
    """Whether cookies must be Secure: the request came over https, or the public URL is https."""
    return request.url.scheme == "https" or settings_of(request).base_url.startswith("https://")


def same_origin(request: Request) -> bool:
    """A form post from this site: no cross-site ``Sec-Fetch-Site`` and, when ``Origin`` is sent, this host.

    A missing ``Origin`` passes here: the CSRF token decides (this is the second line)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme == request.url.scheme


# ---------------------------------------------------------------- the sign-in forms' token
def form_token(request: Request) -> str:
    """The browser's pre-sign-in form token (the cookie's, or a new one that ``keep_form_token`` sets)."""
    token = request.cookies.get(FORM_COOKIE, "")
    if 20 <= len(token) <= 100:
        return token
    return secrets.token_urlsafe(32)


def keep_form_token(request: Request, response: Response, token: str) -> Response:
    """Set the form token's cookie (HttpOnly, SameSite=Strict, only for the sign-in pages)."""
    if request.cookies.get(FORM_COOKIE) != token:
        response.set_cookie(
            FORM_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path=SIGN_IN, max_age=3600
        )
    return response


def form_token_ok(request: Request, submitted: str | None) -> bool:
    """Whether a sign-in form carries the token its browser's cookie holds (constant-time)."""
    cookie = request.cookies.get(FORM_COOKIE)
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode("utf-8", "replace"), submitted.encode("utf-8", "replace"))


def json_or_page(request: Request, wants_json: bool, status: int, title: str, message: str, **extra: Any) -> Response:
    """A failure as ``{"ok": false, "detail"}`` for scripts, else as an error page."""
    if wants_json:
        return JSONResponse({"ok": False, "detail": message}, status_code=status, headers=extra.pop("headers", None))
    return error_page(request, status, title, message, **extra)


# ---------------------------------------------------------------- the page language (issue 17)
class LocaleMiddleware:
    """Sets the page language of each request under ``prefix``: ``?lang=``, the ``lang`` cookie,
    ``Accept-Language``, English (pure ASGI: the context variable reaches the routes). ``?lang=`` is remembered
    in the cookie, so the choice sticks across pages; an unknown one gets a 422 page naming the languages."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        query = request.query_params.get("lang")
        cookie, header = request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
        bad: i18n.UnsupportedLanguageError | None = None
        try:
            locale = i18n.choose_locale(query, cookie, header)
        except i18n.UnsupportedLanguageError as exc:
            bad, locale = exc, i18n.choose_locale(None, cookie, header)
        token = i18n.set_locale(locale)
        try:
            if bad is not None:
                title = i18n.gettext("That language is not available")
                message = i18n.gettext("lang=%(value)s is not a page language; choose one of: %(allowed)s.") % {
                    "value": bad.value,
                    "allowed": ", ".join(i18n.SUPPORTED),
                }
                await error_page(request, 422, title, message)(scope, receive, send)
                return
            if query is None or query == cookie:
                await self.app(scope, receive, send)
                return
            secure = request.url.scheme == "https" or request.app.state.settings.base_url.startswith("https://")
            cookie_value = f"{i18n.COOKIE}={locale}; Path={self.prefix}; Max-Age={LANG_COOKIE_MAX_AGE}; SameSite=Lax"
            cookie_value += "; Secure" if secure else ""

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message).append("set-cookie", cookie_value)
                await send(message)

            await self.app(scope, receive, send_with_cookie)
        finally:
            i18n.reset_locale(token)
