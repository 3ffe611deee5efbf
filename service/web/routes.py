"""The school-facing page: find your school, browse ranked candidates, filter, ask "why not?", mark candidates.

Server-rendered (Jinja2) over the app's registry: the same ``Registry.suggest/explain`` calls as the API.
A school's own choices ("interested", "not for us") are shown to, and recorded by, that school's signed-in
users (and staff) only: a form post needs the session's CSRF token and comes from this site; it is written
as the signed-in school and audited. Every failure renders a page that says what happened.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from matching.core.rules import filter_rules
from matching.errors import ConfigError, UnknownSchoolError
from service.auth import Principal, PrincipalDep, allowed, client_address, csrf_ok, current_session, limit_write
from service.errors import ServiceError
from service.registry import Registry
from service.schemas import FeedbackCreate
from service.web import views
from service.web.common import (
    PREFIX,
    SECURITY_HEADERS,
    STATIC_DIR,
    closed_to,
    error_page,
    failure,
    json_or_page,
    registry_of,
    render,
    same_origin,
    settings_of,
)
from service.web.i18n import N_
from service.web.i18n import gettext as _

__all__ = ["PREFIX", "SECURITY_HEADERS", "STATIC_DIR", "router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
DECISIONS = frozenset({"accept", "decline"})


# ---------------------------------------------------------------- pages
@router.get("/")
def root() -> RedirectResponse:
    """The page is the site's front door (the API docs stay at /docs)."""
    return RedirectResponse(PREFIX, status_code=307)


@router.get(PREFIX)
def search_page(request: Request, principal: PrincipalDep) -> Response:
    """Find your school by name or id."""
    if (closed := closed_to(request, principal)) is not None:
        return closed
    q = request.query_params.get("q", "").strip()
    if len(q) > 200:
        return error_page(request, 422, _("Search text too long"), _("Type at most 200 characters of the name or id."))
    results: list[dict[str, Any]] = []
    total = 0
    if q:
        registry = registry_of(request)
        try:
            school_id, matches = views.resolve_school(registry, q, limit=20)
            if school_id is not None:
                return RedirectResponse(f"{PREFIX}/schools/{school_id}", status_code=303)
            _found, total = registry.list_schools(q=q, limit=1)
        except Exception as exc:  # any failure gets a page, not a stack trace
            return failure(request, exc, N_("searching the registry"))
        results = [views.profile_view(p, registry.config.skill_threshold) for p in matches]
    return render(request, "search.html", {"q": q, "results": results, "total": total})


@router.get(PREFIX + "/schools/{school_id}")
def school_page(request: Request, school_id: str, principal: PrincipalDep) -> Response:
    """A school's profile, its ranked candidates (filters, more), and "why not?" for any other school.

    The school's own choices (hidden declines, "interested" marks, ``show_declined=1``) are shown only to
    that school's signed-in users and to staff; everyone else sees the plain ranking."""
    if (closed := closed_to(request, principal)) is not None:
        return closed
    registry, settings = registry_of(request), settings_of(request)
    params = request.query_params
    try:
        filters = views.PageFilters.parse(params)
        shown = views.parse_shown(params, settings.max_k)
    except views.PageInputError as exc:
        return error_page(
            request,
            422,
            _("That filter cannot be used"),
            f"{exc.field}: {exc.message}.",
            back=f"{PREFIX}/schools/{school_id}",
        )
    show_declined = params.get("show_declined") == "1"
    owner = allowed(principal, "feedback.read", school_id)
    if show_declined and not owner:
        return _not_yours(request, principal, school_id)
    try:
        profile = registry.profile(school_id)
    except UnknownSchoolError:
        return _unknown_school(request, school_id)
    try:
        decided = views.decisions(registry, school_id) if owner else {}
        listing = views.candidate_list(registry, school_id, filters, shown, settings.max_k, show_declined, decided)
        why = _why_not(registry, school_id, params.get("why", ""), filters)
        countries = views.country_choices(registry, profile.country, filters.countries)
    except (ConfigError, ServiceError) as exc:
        return error_page(request, 422, _("That request cannot be answered"), str(exc))
    except Exception as exc:  # any failure gets a page, not a stack trace
        return failure(request, exc, N_("loading the candidates"))
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
        "owner": owner,
        "feedback_on": allowed(principal, "feedback.write", school_id),
        "csrf_token": _csrf_of(request),
        "flash": _flash(registry, params) if owner else None,
        "max_k": settings.max_k,
    }
    return render(request, "school.html", context)


@router.get(PREFIX + "/schools/{school_id}/profile")
def profile_page(request: Request, school_id: str, principal: PrincipalDep) -> Response:
    """A school's public profile (never its contact e-mail), with a link back to the list it was opened from
    (``from``: the school whose list it was, with that list's filters)."""
    if (closed := closed_to(request, principal)) is not None:
        return closed
    registry, settings = registry_of(request), settings_of(request)
    try:
        profile = registry.profile(school_id)
    except UnknownSchoolError:
        return _unknown_school(request, school_id)
    try:
        back = _back_to_list(registry, request.query_params, school_id, settings.max_k, principal)
    except Exception as exc:  # any failure gets a page, not a stack trace
        return failure(request, exc, N_("loading the profile"))
    context = {
        "s": views.profile_view(profile, registry.config.skill_threshold),
        "description": [part.strip() for part in profile.description.split("\n\n") if part.strip()],
        "description_lang": profile.description_language or "",
        "back": back,
    }
    return render(request, "profile.html", context)


def _back_to_list(
    registry: Registry, params: Any, school_id: str, max_k: int, principal: Principal
) -> dict[str, str] | None:
    """The list a profile was opened from: a registered school's page, its filters re-read (invalid ones dropped)."""
    origin = params.get("from", "")
    if not origin or origin == school_id or origin not in registry.index:
        return None
    try:
        filters = views.PageFilters.parse(params)
        keep = [*filters.query_items(), ("shown", str(views.parse_shown(params, max_k)))]
    except views.PageInputError:
        keep = []
    show_declined = params.get("show_declined") == "1" and allowed(principal, "feedback.read", origin)
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
        _("School not found"),
        _("No school with the id “%(id)s” is registered. Search by name instead, or check the id.") % {"id": school_id},
        search=True,
    )


def _not_yours(request: Request, principal: Principal, school_id: str) -> Response:
    """403 (401 when nobody is signed in): a school's choices are its own (and staff's)."""
    status = 401 if principal.role == "anonymous" else 403
    return error_page(
        request,
        status,
        _("Only this school can see its choices"),
        _("The schools %(id)s marked “not for us” are shown only to %(id)s's signed-in users and to programme staff.")
        % {"id": school_id}
        + (" " + _("Sign in to see your own school's choices.") if status == 401 else ""),
        back=f"{PREFIX}/schools/{school_id}",
        sign_in=status == 401,
    )


def _csrf_of(request: Request) -> str | None:
    """The session's CSRF token for the page's forms (None without a session)."""
    info = current_session(request)
    return info.csrf_token if info is not None else None


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
    if decision not in DECISIONS or cand not in registry.index:
        return None
    name = registry.profile(cand).name
    return _flash_text(decision, name)


def _flash_text(decision: str, name: str) -> str:
    if decision == "decline":
        return _("Marked %(name)s as not for us; it is hidden from your list.") % {"name": name}
    return _("Marked %(name)s as interested.") % {"name": name}


# ---------------------------------------------------------------- feedback
@router.post(PREFIX + "/schools/{school_id}/feedback")
async def feedback_post(request: Request, school_id: str, principal: PrincipalDep) -> Response:
    """Record "interested" or "not for us" as the signed-in school (or staff with a key), audited.

    Needs: the school's signed-in user (or staff), the session's CSRF token in the form (``csrf_token``)
    and a post from this site. A plain form post gets a redirect back to the list (post, redirect, get);
    a script asking for JSON gets ``{"ok", "message"}`` or ``{"ok": false, "detail"}``.
    """
    raw = await request.body()
    return await run_in_threadpool(_record_feedback, request, school_id, raw, principal)


def _record_feedback(request: Request, school_id: str, raw: bytes, principal: Principal) -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    settings, registry = settings_of(request), registry_of(request)
    back = f"{PREFIX}/schools/{school_id}"

    def fail(status: int, title: str, message: str, **extra: Any) -> Response:
        return json_or_page(request, wants_json, status, title, message, back=back, **extra)

    if principal.role == "anonymous":
        why = _("Sign in as %(id)s to mark candidates.") % {"id": school_id}
        return fail(401, _("Sign in to mark candidates"), why, sign_in=True)
    if not allowed(principal, "feedback.write", school_id):
        mine = (
            _("you are signed in for %(id)s") % {"id": principal.school_id}
            if principal.school_id
            else _("a %(role)s key") % {"role": principal.role}
        )
        why = _("Only %(id)s's own users and staff can mark its candidates; %(mine)s.") % {
            "id": school_id,
            "mine": mine,
        }
        return fail(403, _("Not your school"), why)
    if not same_origin(request):
        return fail(403, _("Not sent from this site"), _("Choices can only be recorded from this site's own page."))
    try:
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), max_num_fields=20).items()}
    except (UnicodeDecodeError, ValueError):
        return fail(422, _("Unreadable form"), _("The form could not be read; reload the page and try again."))
    if principal.via == "session" and not csrf_ok(current_session(request), form.get("csrf_token")):
        return fail(403, _("The form has expired"), _("The form's security token is missing or old: reload the page."))
    candidate_id, decision = form.get("candidate_id", ""), form.get("decision", "")
    try:
        limit_write(request, settings, principal)
        body = FeedbackCreate(school_id=school_id, candidate_id=candidate_id, decision=decision)  # type: ignore[arg-type]
        who = principal.who(client_address(request))
        registry.add_feedback(body.school_id, body.candidate_id, body.decision, body.comment, who=who)
        name = registry.profile(candidate_id).name
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        why = _("Invalid %(fields)s: reload the page and try again.") % {"fields": fields}
        return fail(422, _("That choice cannot be recorded"), why)
    except ServiceError as exc:
        return fail(exc.status, _("That choice cannot be recorded"), exc.detail, headers=exc.headers or None)
    except UnknownSchoolError as exc:
        return fail(404, _("School not found"), str(exc))
    except Exception as exc:  # any failure gets a clear answer, not a stack trace
        if wants_json:
            log.exception("recording feedback failed")
            return fail(500, "", _("the server could not record it; please try again"))
        return failure(request, exc, N_("recording your choice"))
    if wants_json:
        message = _flash_text(decision, name)
        return JSONResponse({"ok": True, "candidate_id": candidate_id, "decision": decision, "message": message}, 201)
    target = _safe_return(form.get("return_to", ""), school_id)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}{urlencode({'done': decision, 'cand': candidate_id})}", status_code=303)


def _safe_return(value: str, school_id: str) -> str:
    """Only this school's own page may be the target of the redirect after a post."""
    base = f"{PREFIX}/schools/{school_id}"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != base:
        return base
    kept = [(k, x) for k, values in parse_qs(parts.query).items() if k not in ("done", "cand") for x in values]
    query = urlencode(kept)
    return base + (f"?{query}" if query else "")
