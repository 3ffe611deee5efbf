"""Partnership requests on the page (issue 15): ask a candidate from its card, answer requests in the inbox.

- ``POST /ui/schools/{id}/requests``: the signed-in school asks ``to_school`` (form: ``to_school``, ``message``
  of at most 1,000 characters, ``csrf_token``); a blocked pair is refused with the rule that blocks it.
- ``GET /ui/schools/{id}/requests``: the school's inbox: its partners' contacts (only after both agreed),
  the requests it received ranked by fit with the score parts and "why they would suit you", and the
  requests it sent with their states.
- ``POST /ui/schools/{id}/requests/{rid}/accept|decline|withdraw``: answer (decline with an optional reason)
  or take back a request.

Every post needs the school's own session, its CSRF token and a post from this site; the operations
themselves (and their authorisation) are ``service.introductions``'. Messages are plain text and are only
ever shown escaped (Jinja autoescapes).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from service import introductions as intro
from service.auth import Principal, PrincipalDep, csrf_ok, current_session, limit_write, who_of
from service.errors import ServiceError
from service.registry import Registry
from service.web import labels, views
from service.web.common import PREFIX, closed_to, error_page, failure, registry_of, render, same_origin, settings_of
from service.web.i18n import N_
from service.web.i18n import gettext as _

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
INBOX = PREFIX + "/schools/{school_id}/requests"
MAX_MESSAGE = 1000
MAX_FORM_BYTES = 16384
DECLINE_LABELS: dict[str, str] = {
    "not_right_ages": N_("Not the right ages"),
    "no_places": N_("No places"),
    "language": N_("Language"),
    "other": N_("Other"),
}
STATE_LABELS: dict[str, str] = {
    "open": N_("Waiting for an answer"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "withdrawn": N_("Withdrawn"),
    "expired": N_("Expired"),
}
DONE_TEXT: dict[str, str] = {
    "sent": N_("Your partnership request to %(name)s is sent."),
    "accepted": N_("You accepted %(name)s’s request: you are partners now, and both schools have been e-mailed."),
    "declined": N_("You declined %(name)s’s request."),
    "withdrawn": N_("You withdrew your request to %(name)s."),
}


FAILED_ACTION: dict[str, str] = {
    "accept": N_("trying to accept the request"),
    "decline": N_("trying to decline the request"),
    "withdraw": N_("trying to withdraw the request"),
}


def inbox_url(school_id: str) -> str:
    """The school's requests page."""
    return INBOX.format(school_id=school_id)


def owns(principal: Principal, school_id: str) -> bool:
    """Whether the principal acts for this school itself (its signed-in user, or the site acting for it)."""
    return principal.owns(school_id)


# ---------------------------------------------------------------- for the school page (a Jinja global)
def intro_panel(request: Request, school_id: str) -> dict[str, Any] | None:
    """What the school page's cards need to offer "Request partnership": the session's CSRF token and the
    state of any request between this school and each other school (open or accepted), or None when the
    viewer is not this school's signed-in user."""
    info = current_session(request)
    if info is None or not owns(info.principal, school_id):
        return None
    registry, principal = registry_of(request), info.principal
    links: dict[str, dict[str, str]] = {}
    try:
        sent, _n = intro.outgoing(registry, principal, school_id, state="open", limit=200)
        received, _n = intro.incoming(registry, principal, school_id, state="open", limit=200)
        partners = intro.partner_contacts(registry, principal, school_id)
    except Exception:  # the list still shows; only the request buttons are left out
        log.exception("loading the requests of %s for its page failed", school_id)
        return None
    for item in received:
        links[item.request.from_school] = {"state": "open", "label": _link_label("open", "in")}
    for r in sent:
        links[r.to_school] = {"state": "open", "label": _link_label("open", "out")}
    for c in partners:
        links[c.school_id] = {"state": "accepted", "label": _link_label("accepted", "out")}
    return {"csrf_token": info.csrf_token, "links": links, "inbox_url": inbox_url(school_id), "max": MAX_MESSAGE}


def _link_label(state: str, way: str) -> str:
    if state == "accepted":
        return _("Partners: see their contact details on your requests page")
    if way == "in":
        return _("They asked you to partner: answer on your requests page")
    return _("Partnership request sent: waiting for an answer")


# ---------------------------------------------------------------- the inbox
@router.get(INBOX)
def inbox_page(request: Request, school_id: str, principal: PrincipalDep) -> Response:
    """The school's partners (with contacts), requests received (ranked by fit) and sent."""
    if (closed := closed_to(request, principal)) is not None:
        return closed
    if principal.role == "anonymous":
        return _refuse(request, 401, school_id)
    registry = registry_of(request)
    try:
        me = registry.profile(school_id)
    except Exception:
        why = _("No school with the id “%(id)s” is registered.") % {"id": school_id}
        return error_page(request, 404, _("School not found"), why)
    if not owns(principal, school_id) and principal.role not in ("staff", "admin"):
        return _refuse(request, 403, school_id)
    try:
        context = _inbox_context(request, registry, principal, school_id)
    except ServiceError as exc:
        return error_page(request, exc.status, _("The requests cannot be shown"), exc.detail)
    except Exception as exc:  # any failure gets a page, not a stack trace
        return failure(request, exc, N_("loading the partnership requests"))
    context["me"] = views.profile_view(me, registry.config.skill_threshold)
    return render(request, "inbox.html", context)


def _refuse(request: Request, status: int, school_id: str) -> Response:
    """401 (sign in) or 403: a school's requests are its own."""
    return error_page(
        request,
        status,
        _("Only this school can see its requests"),
        _("The partnership requests of %(id)s are shown only to its own signed-in users.") % {"id": school_id}
        + (" " + _("Sign in to see your school's requests.") if status == 401 else ""),
        sign_in=status == 401,
    )


def _inbox_context(request: Request, registry: Registry, principal: Principal, school_id: str) -> dict[str, Any]:
    scale = _scale(registry)
    received, n_open = intro.incoming(registry, principal, school_id, state="open", limit=100)
    answered, _n = intro.incoming(registry, principal, school_id, state=None, limit=100)
    sent, _n = intro.outgoing(registry, principal, school_id, state=None, limit=100)
    contacts = intro.partner_contacts(registry, principal, school_id) if owns(principal, school_id) else []
    info = current_session(request)
    return {
        "incoming": [_incoming_view(item, scale) for item in received],
        "n_incoming": n_open,
        "answered": [_request_view(i.request, "in") for i in answered if i.request.state != "open"],
        "outgoing": [_request_view(r, "out") for r in sent],
        "contacts": [_contact_view(c) for c in contacts],
        "can_act": owns(principal, school_id),
        "csrf_token": info.csrf_token if info is not None else None,
        "decline_reasons": [{"value": k, "label": _label(DECLINE_LABELS, k)} for k in intro.DECLINE_REASONS],
        "flash": _flash(request, registry),
        "action_url": inbox_url(school_id),
    }


def _scale(registry: Registry) -> float:
    """The best possible score (as the school page's bars use it)."""
    weights = registry.config.weights.as_dict()
    return float(sum(w for c, w in weights.items() if c not in views.DEDUCTIONS))


def _incoming_view(item: Any, scale: float) -> dict[str, Any]:
    school = item.school
    return {
        **_request_view(item.request, "in"),
        "rank": item.rank,
        "flag": school.get("flag", ""),
        "city": school.get("city") or "",
        "country_name": labels.country_name(school["country"]) if school.get("country") else "",
        "phase": views.phase_label(school["phase"]) if school.get("phase") else "",
        "ages": labels.ages(school["age_min"], school["age_max"]) if "age_min" in school else "",
        "bar": views.score_bar(item.score, item.contributions, scale),
        "reasons": labels.reasons_view(
            item.reasons, school.get("themes"), (item.reasons_view or {}).get("overlap_range")
        ),
    }


def _request_view(r: Any, way: str) -> dict[str, Any]:
    other = r.from_school if way == "in" else r.to_school
    name = (r.from_name if way == "in" else r.to_name) or other
    return {
        "id": r.id,
        "other": other,
        "name": name,
        "message": r.message,
        "state": r.state,
        "state_label": _label(STATE_LABELS, r.state),
        "reason": _label(DECLINE_LABELS, r.decline_reason or ""),
        "created": _date(r.created_at),
        "created_iso": r.created_at.isoformat() if r.created_at else "",
        "answered": _date(r.answered_at),
        "expires": _date(r.expires_at),
    }


def _contact_view(c: Any) -> dict[str, Any]:
    return {
        "school_id": c.school_id,
        "name": c.name,
        "email": c.contact_email,
        "country_name": views.country_label(c.country),
        "city": c.city or "",
    }


def _label(table: dict[str, str], key: str) -> str:
    """A label in the page language (an unknown key as it is)."""
    return _(table[key]) if key in table else key


def _date(value: datetime | None) -> str:
    return labels.day(value)


def _flash(request: Request, registry: Registry) -> str | None:
    """The message after a post (post, redirect, get)."""
    done, other = request.query_params.get("done", ""), request.query_params.get("other", "")
    if done not in DONE_TEXT or other not in registry.index:
        return None
    return _(DONE_TEXT[done]) % {"name": registry.profile(other).name}


# ---------------------------------------------------------------- posts
async def _read_form(request: Request) -> dict[str, str] | None:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return None
    try:
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), max_num_fields=20).items()}
    except (UnicodeDecodeError, ValueError):
        return None


def _guard(request: Request, principal: Principal, school_id: str, form: dict[str, str] | None) -> Response | None:
    """The checks every post passes: signed in as this school, from this site, with the session's CSRF token."""
    back = inbox_url(school_id)
    if principal.role == "anonymous":
        why = _("Sign in as %(id)s to send or answer requests.") % {"id": school_id}
        return error_page(request, 401, _("Sign in first"), why, sign_in=True)
    if not owns(principal, school_id):
        mine = (
            _("you are signed in for %(id)s") % {"id": principal.school_id}
            if principal.school_id
            else _("a %(role)s key") % {"role": principal.role}
        )
        why = _("Only %(id)s's own users can send or answer its requests; %(mine)s.") % {"id": school_id, "mine": mine}
        return error_page(request, 403, _("Not your school"), why)
    if not same_origin(request):
        why = _("Requests can only be sent from this site's page.")
        return error_page(request, 403, _("Not sent from this site"), why)
    if form is None:
        why = _("The form could not be read; reload the page.")
        return error_page(request, 422, _("Unreadable form"), why, back=back)
    if principal.via == "session" and not csrf_ok(current_session(request), form.get("csrf_token")):
        why = _("The form's security token is missing or old: reload the page and try again.")
        return error_page(request, 403, _("The form has expired"), why, back=back)
    return None


def _done(school_id: str, done: str, other: str) -> Response:
    query = urlencode({"done": done, "other": other})
    anchor = "outgoing" if done in ("sent", "withdrawn") else "status"
    return RedirectResponse(f"{inbox_url(school_id)}?{query}#{anchor}", status_code=303)


@router.post(INBOX)
async def create_post(request: Request, school_id: str, principal: PrincipalDep) -> Response:
    """Send a partnership request from this school to ``to_school`` with an optional short message."""
    form = await _read_form(request)
    if (refused := _guard(request, principal, school_id, form)) is not None:
        return refused
    assert form is not None  # narrowed by _guard
    return await run_in_threadpool(_create, request, principal, school_id, form)


def _create(request: Request, principal: Principal, school_id: str, form: dict[str, str]) -> Response:
    registry = registry_of(request)
    to_school = form.get("to_school", "").strip()
    message = form.get("message", "").replace("\r\n", "\n").strip()
    back = f"{PREFIX}/schools/{school_id}"
    if len(message) > MAX_MESSAGE:
        why = _("message: %(n)s characters; at most %(max)s are allowed.") % {"n": len(message), "max": MAX_MESSAGE}
        return error_page(request, 422, _("The message is too long"), why, back=back)
    try:
        limit_write(request, settings_of(request), principal)
        intro.create_request(registry, principal, school_id, to_school, message, who=who_of(request, principal))
    except ServiceError as exc:
        return _service_error(request, exc, _("The request cannot be sent"), back)
    except Exception as exc:  # any failure gets a page, not a stack trace
        return failure(request, exc, N_("sending the partnership request"))
    return _done(school_id, "sent", to_school)


@router.post(INBOX + "/{request_id}/{action}")
async def answer_post(
    request: Request, school_id: str, request_id: str, action: str, principal: PrincipalDep
) -> Response:
    """Accept or decline (with an optional reason) a request received, or withdraw one sent."""
    if action not in ("accept", "decline", "withdraw"):
        why = _("A request can be accepted, declined or withdrawn.")
        return error_page(request, 404, _("No such action"), why)
    form = await _read_form(request)
    if (refused := _guard(request, principal, school_id, form)) is not None:
        return refused
    assert form is not None  # narrowed by _guard
    if not request_id.isdigit() or len(request_id) > 18:
        why = _("There is no partnership request %(id)r.") % {"id": request_id}
        return error_page(request, 404, _("Request not found"), why)
    return await run_in_threadpool(_answer, request, principal, school_id, int(request_id), action, form)


def _answer(
    request: Request, principal: Principal, school_id: str, request_id: int, action: str, form: dict[str, str]
) -> Response:
    registry, back = registry_of(request), inbox_url(school_id)
    titles = {"accept": _("The request cannot be accepted"), "decline": _("The request cannot be declined"),
              "withdraw": _("The request cannot be withdrawn")}  # fmt: skip
    try:
        limit_write(request, settings_of(request), principal)
        who = who_of(request, principal)
        found = intro.get_request(registry, principal, request_id)
        mine = found.to_school if action in ("accept", "decline") else found.from_school
        if mine != school_id:
            why = (
                _("Only the receiving school can answer request %(id)s.")
                if action != "withdraw"
                else _("Only the sending school can withdraw request %(id)s.")
            ) % {"id": request_id}
            return error_page(request, 403, titles[action], why, back=back)
        if action == "accept":
            done = intro.accept(registry, principal, request_id, who=who)
        elif action == "decline":
            reason = form.get("reason", "").strip() or None
            done = intro.decline(registry, principal, request_id, reason, who=who)
        else:
            done = intro.withdraw(registry, principal, request_id, who=who)
    except ServiceError as exc:
        return _service_error(request, exc, titles[action], back)
    except Exception as exc:  # any failure gets a page, not a stack trace
        return failure(request, exc, FAILED_ACTION[action])
    other = done.from_school if action != "withdraw" else done.to_school
    return _done(school_id, {"accept": "accepted", "decline": "declined", "withdraw": "withdrawn"}[action], other)


def _service_error(request: Request, exc: ServiceError, title: str, back: str) -> Response:
    """The service's refusal as a page: its detail names the rule, field or school."""
    detail = exc.detail[:1].upper() + exc.detail[1:] + ("" if exc.detail.endswith(".") else ".")
    return error_page(request, exc.status, title, detail, exc.headers or None, back=back)
