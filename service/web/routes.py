"""The school-facing page: find your school, browse ranked candidates, filter, ask "why not?", mark candidates.

Server-rendered (Jinja2) over the app's registry: the same ``Registry.suggest/explain`` calls as the API.
Marking a candidate goes through the API's feedback function with a write key held by the server,
so no key ever reaches the browser. Every failure renders a page that says what happened.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from features import vocab
from matching.core.rules import filter_rules
from matching.errors import ConfigError, UnknownSchoolError
from service.config import Settings
from service.deps import check_read_access, check_write_key
from service.errors import AuthError, ServiceError
from service.registry import Registry
from service.routes.feedback import give_feedback
from service.schemas import FeedbackCreate
from service.web import views

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
PREFIX = "/ui"

router = APIRouter(include_in_schema=False)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
DECISION_TEXT = {"accept": "interested", "decline": "not for us"}


@cache
def templates() -> Jinja2Templates:
    """The page templates (built on first use, not at import)."""
    t = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    t.env.globals.update(
        PREFIX=PREFIX,
        COMPONENT_LABELS=views.COMPONENT_LABELS,
        phase_label=views.phase_label,
        PHASES=vocab.PHASES,
        static_version=_static_version(),
    )
    t.env.filters["sentence"] = lambda text: text[:1].upper() + text[1:]
    t.env.trim_blocks = True
    t.env.lstrip_blocks = True
    return t


def _static_version() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page, with the security headers."""
    return templates().TemplateResponse(request, name, context, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, title: str, message: str, **extra: Any) -> Response:
    """A page that says what went wrong and what to do."""
    return render(request, "error.html", {"title": title, "message": message, "status": status, **extra}, status)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _registry(request: Request) -> Registry:
    return request.app.state.registry


def _page_key(settings: Settings) -> str | None:
    """The write key the page records feedback with (held here, never sent to the browser)."""
    return settings.api_keys[0].get_secret_value() if settings.api_keys else None


def _reads_closed(request: Request) -> Response | None:
    """Reads that need a key keep the page closed too (the page never widens access)."""
    try:
        check_read_access(_settings(request), None)
    except AuthError:
        return error_page(
            request,
            403,
            "This page is turned off",
            "This server only answers reads that carry an API key, so the public browsing page is off. "
            "Ask the administrator to set PARTNERMATCH_OPEN_READS=true, or use the API with a key.",
        )
    return None


def _failure(request: Request, exc: Exception, what: str) -> Response:
    """A page for an error that is not the visitor's fault."""
    if isinstance(exc, OperationalError):
        log.error("database error while %s: %s", what, exc)
        return error_page(
            request, 503, "The service is busy", f"The database did not answer while {what}. Please try again."
        )
    log.exception("page failed while %s", what)
    return error_page(
        request,
        500,
        "Something went wrong",
        f"Something went wrong while {what}. It has been logged; please try again in a moment.",
    )


# ---------------------------------------------------------------- pages
@router.get("/")
def root() -> RedirectResponse:
    """The page is the site's front door (the API docs stay at /docs)."""
    return RedirectResponse(PREFIX, status_code=307)


@router.get(PREFIX)
def search_page(request: Request) -> Response:
    """Find your school by name or id."""
    if (closed := _reads_closed(request)) is not None:
        return closed
    q = request.query_params.get("q", "").strip()
    if len(q) > 200:
        return error_page(request, 422, "Search text too long", "Type at most 200 characters of the name or id.")
    results: list[dict[str, Any]] = []
    total = 0
    if q:
        registry = _registry(request)
        try:
            school_id, matches = views.resolve_school(registry, q, limit=20)
            if school_id is not None:
                return RedirectResponse(f"{PREFIX}/schools/{school_id}", status_code=303)
            _, total = registry.list_schools(q=q, limit=1)
        except Exception as exc:  # any failure gets a page, not a stack trace
            return _failure(request, exc, "searching the registry")
        results = [views.profile_view(p, registry.config.skill_threshold) for p in matches]
    return render(request, "search.html", {"q": q, "results": results, "total": total})


@router.get(PREFIX + "/schools/{school_id}")
def school_page(request: Request, school_id: str) -> Response:
    """A school's profile, its ranked candidates (filters, more), and "why not?" for any other school."""
    if (closed := _reads_closed(request)) is not None:
        return closed
    registry, settings = _registry(request), _settings(request)
    params = request.query_params
    try:
        filters = views.PageFilters.parse(params)
        shown = views.parse_shown(params, settings.max_k)
    except views.PageInputError as exc:
        return error_page(
            request,
            422,
            "That filter cannot be used",
            f"{exc.field}: {exc.message}.",
            back=f"{PREFIX}/schools/{school_id}",
        )
    show_declined = params.get("show_declined") == "1"
    try:
        profile = registry.profile(school_id)
    except UnknownSchoolError:
        return _unknown_school(request, school_id)
    try:
        decided = views.decisions(registry, school_id)
        listing = views.candidate_list(registry, school_id, filters, shown, settings.max_k, show_declined, decided)
        why = _why_not(registry, school_id, params.get("why", ""), filters)
        countries = views.country_choices(registry, profile.country, filters.countries)
    except (ConfigError, ServiceError) as exc:
        return error_page(request, 422, "That request cannot be answered", str(exc))
    except Exception as exc:  # any failure gets a page, not a stack trace
        return _failure(request, exc, "loading the candidates")
    keep = views.PageFilters.query_items(filters)
    context = {
        "me": views.profile_view(profile, registry.config.skill_threshold),
        "filters": filters,
        "countries": countries,
        "listing": listing,
        "shown": shown,
        "more_url": _url(school_id, [*keep, ("shown", str(shown + views.PAGE_SIZE))], show_declined),
        "declined_url": _url(school_id, [*keep, ("shown", str(shown))], not show_declined),
        "clear_url": f"{PREFIX}/schools/{school_id}",
        "keep_query": urlencode([*keep, *([("show_declined", "1")] if show_declined else [])]),
        "without_url": {r: _url(school_id, filters.without(r).query_items(), show_declined) for r in filter_rules()},
        "return_to": _url(school_id, [*keep, ("shown", str(shown))], show_declined),
        "profile_query": urlencode(
            [("from", school_id), *keep, ("shown", str(shown)), *([("show_declined", "1")] if show_declined else [])]
        ),
        "show_declined": show_declined,
        "why": why,
        "why_query": params.get("why", ""),
        "legend": views.legend(),
        "feedback_on": _page_key(settings) is not None,
        "flash": _flash(registry, params),
        "max_k": settings.max_k,
    }
    return render(request, "school.html", context)


@router.get(PREFIX + "/schools/{school_id}/profile")
def profile_page(request: Request, school_id: str) -> Response:
    """A school's public profile (never its contact e-mail), with a link back to the list it was opened from
    (``from``: the school whose list it was, with that list's filters)."""
    if (closed := _reads_closed(request)) is not None:
        return closed
    registry, settings = _registry(request), _settings(request)
    try:
        profile = registry.profile(school_id)
    except UnknownSchoolError:
        return _unknown_school(request, school_id)
    try:
        back = _back_to_list(registry, request.query_params, school_id, settings.max_k)
    except Exception as exc:  # any failure gets a page, not a stack trace
        return _failure(request, exc, "loading the profile")
    context = {
        "s": views.profile_view(profile, registry.config.skill_threshold),
        "description": [part.strip() for part in profile.description.split("\n\n") if part.strip()],
        "back": back,
    }
    return render(request, "profile.html", context)


def _back_to_list(registry: Registry, params: Any, school_id: str, max_k: int) -> dict[str, str] | None:
    """The list a profile was opened from: a registered school's page, its filters re-read (invalid ones dropped)."""
    origin = params.get("from", "")
    if not origin or origin == school_id or origin not in registry.index:
        return None
    try:
        filters = views.PageFilters.parse(params)
        keep = [*filters.query_items(), ("shown", str(views.parse_shown(params, max_k)))]
    except views.PageInputError:
        keep = []
    show_declined = params.get("show_declined") == "1"
    return {
        "name": registry.profile(origin).name,
        "url": _url(origin, keep, show_declined) + f"#card-{school_id}",
        "why_url": _url(origin, [*keep, ("why", school_id)], show_declined) + "#why-not",
    }


def _url(school_id: str, items: list[tuple[str, str]], show_declined: bool) -> str:
    if show_declined:
        items = [*items, ("show_declined", "1")]
    query = urlencode(items)
    return f"{PREFIX}/schools/{school_id}" + (f"?{query}" if query else "")


def _unknown_school(request: Request, school_id: str) -> Response:
    return error_page(
        request,
        404,
        "School not found",
        f"No school with the id “{school_id}” is registered. Search by name instead, or check the id.",
        search=True,
    )


def _why_not(registry: Registry, school_id: str, text: str, filters: views.PageFilters) -> dict[str, Any] | None:
    """The "why not?" panel for a typed id or name, or None when nothing was asked."""
    text = text.strip()[:200]
    if not text:
        return None
    other, matches = views.resolve_school(registry, text)
    if other is None:
        if not matches:
            return {"state": "none", "text": text}
        options = [{"school_id": m.school_id, "name": m.name, "country_name": views.country_label(m.country)}
                   for m in matches]  # fmt: skip
        return {"state": "choose", "text": text, "options": options}
    if other == school_id:
        return {"state": "self", "text": text}
    return {"state": "explained", "text": text, **views.why_not_view(registry, school_id, other, filters)}


def _flash(registry: Registry, params: Any) -> str | None:
    """The message after a form post without JavaScript (post, redirect, get)."""
    decision, cand = params.get("done", ""), params.get("cand", "")
    if decision not in DECISION_TEXT or cand not in registry.index:
        return None
    name = registry.profile(cand).name
    if decision == "decline":
        return f"Marked {name} as not for us; it is hidden from your list."
    return f"Marked {name} as interested."


# ---------------------------------------------------------------- feedback
def _same_origin(request: Request) -> bool:
    """Forms may only be posted from this site (a simple guard against cross-site posts)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme == request.url.scheme


@router.post(PREFIX + "/schools/{school_id}/feedback")
async def feedback_post(request: Request, school_id: str) -> Response:
    """Record "interested" or "not for us" through the API's feedback function with the server's key.

    A plain form post gets a redirect back to the list (post, redirect, get); a script asking for JSON
    gets ``{"ok", "message"}`` or ``{"ok": false, "detail"}``.
    """
    raw = await request.body()
    return await run_in_threadpool(_record_feedback, request, school_id, raw)


def _record_feedback(request: Request, school_id: str, raw: bytes) -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    settings, registry = _settings(request), _registry(request)

    def fail(status: int, title: str, message: str) -> Response:
        if wants_json:
            return JSONResponse({"ok": False, "detail": message}, status_code=status)
        return error_page(request, status, title, message, back=f"{PREFIX}/schools/{school_id}")

    if _reads_closed(request) is not None:
        return fail(403, "This page is turned off", "This server's browsing page is turned off.")
    if not _same_origin(request):
        return fail(403, "Not sent from this site", "Choices can only be recorded from this site's own page.")
    try:
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), max_num_fields=20).items()}
    except (UnicodeDecodeError, ValueError):
        return fail(422, "Unreadable form", "The form could not be read; reload the page and try again.")
    candidate_id, decision = form.get("candidate_id", ""), form.get("decision", "")
    key = _page_key(settings)
    if key is None:
        return fail(503, "Marking is off", "Marking candidates is off: this server has no write key configured.")
    try:
        check_write_key(settings, key)
        body = FeedbackCreate(school_id=school_id, candidate_id=candidate_id, decision=decision)  # type: ignore[arg-type]
        give_feedback(registry, body)
        name = registry.profile(candidate_id).name
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        return fail(422, "That choice cannot be recorded", f"Invalid {fields}: reload the page and try again.")
    except ServiceError as exc:
        return fail(exc.status, "That choice cannot be recorded", exc.detail)
    except UnknownSchoolError as exc:
        return fail(404, "School not found", str(exc))
    except Exception as exc:  # any failure gets a clear answer, not a stack trace
        if wants_json:
            log.exception("recording feedback failed")
            return fail(500, "", "the server could not record it; please try again")
        return _failure(request, exc, "recording your choice")
    if wants_json:
        message = f"Marked {name} as {DECISION_TEXT[decision]}." + (
            " It is hidden from your list." if decision == "decline" else ""
        )
        return JSONResponse({"ok": True, "candidate_id": candidate_id, "decision": decision, "message": message}, 201)
    back = _safe_return(form.get("return_to", ""), school_id)
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}{urlencode({'done': decision, 'cand': candidate_id})}", status_code=303)


def _safe_return(value: str, school_id: str) -> str:
    """Only this school's own page may be the target of the redirect after a post."""
    base = f"{PREFIX}/schools/{school_id}"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != base:
        return base
    kept = [(k, x) for k, values in parse_qs(parts.query).items() if k not in ("done", "cand") for x in values]
    query = urlencode(kept)
    return base + (f"?{query}" if query else "")
