"""Signing in to the page, both ways: a one-time link mailed to the school's contact address (standalone),
and the Schools Online site's signed token exchanged for a session (embedded); and signing out.

- ``GET/POST /ui/sign-in``: ask for a link by school id. The answer is the same whether or not the school
  exists (and the link is made and mailed after the answer, so its timing says nothing either).
- ``GET /ui/sign-in/{token}``: a page with a button; ``POST`` uses the link up and starts a session (mail
  scanners that open links do not sign anyone in).
- ``POST /ui/session``: the site's token (form field ``token``) for a session.
- ``POST /ui/sign-out``: ends the session (its CSRF token required).

A new session id at every sign-in (no fixation); the cookie is HttpOnly, SameSite=Lax, Secure under https.
The sign-in forms carry a token matched against a cookie (there is no session yet to hold one).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from matching.errors import UnknownSchoolError
from service.auth import (
    SESSION_COOKIE,
    Principal,
    PrincipalDep,
    client_address,
    csrf_ok,
    current_session,
    end_session,
    issue_sign_in_link,
    limit_jwt_exchange,
    limit_sign_in,
    redeem_sign_in_link,
    session_cookie_kwargs,
    start_session,
    verify_site_token,
)
from service.config import Settings
from service.errors import AuthError, NotFoundError, ServiceError
from service.mail import Mailer, MailError, sign_in_mail
from service.registry import Registry
from service.web.common import (
    FORM_COOKIE,
    PREFIX,
    SIGN_IN,
    error_page,
    form_token,
    form_token_ok,
    is_https,
    keep_form_token,
    registry_of,
    render,
    same_origin,
    settings_of,
)
from service.web.i18n import gettext as _

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 8192
MAX_ID = 64


async def _form(request: Request) -> dict[str, str] | None:
    """A small url-encoded form (last value of each field), or None if it cannot be read."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return None
    try:
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), max_num_fields=10).items()}
    except (UnicodeDecodeError, ValueError):
        return None


def _sign_in_page(
    request: Request, status: int = 200, error: str | None = None, school: str = "", sent: bool = False, **extra: Any
) -> Response:
    token = form_token(request)
    headers = extra.pop("headers", None)
    context = {"error": error, "school": school, "sent": sent, "form_token": token,
               "minutes": settings_of(request).sign_in_link_minutes, **extra}  # fmt: skip
    return keep_form_token(request, render(request, "sign_in.html", context, status, headers), token)


def _refused(request: Request, title: str, message: str, status: int = 403) -> Response:
    return error_page(request, status, title, message, sign_in=True)


# ---------------------------------------------------------------- ask for a link
@router.get(SIGN_IN)
def sign_in_form(request: Request, principal: PrincipalDep) -> Response:
    """The form that asks for a sign-in link (``signed_out=1``: after signing out)."""
    return _sign_in_page(request, signed_out=request.query_params.get("signed_out") == "1")


@router.post(SIGN_IN)
async def ask_for_link(request: Request, background: BackgroundTasks, principal: PrincipalDep) -> Response:
    """Mail a sign-in link to the school's contact address, if there is one (the answer never says).

    ``principal``: resolved for the page header only (a signed-in user may sign in for another school)."""
    form = await _form(request)
    if form is None:
        return _sign_in_page(request, 422, _("The form could not be read; reload the page and try again."))
    if not same_origin(request) or not form_token_ok(request, form.get("form_token")):
        why = _("The form has expired or was not sent from this site: please try again.")
        return _sign_in_page(request, 403, why, form.get("school", "")[:MAX_ID])
    school = form.get("school", "").strip()
    if not school or len(school) > MAX_ID:
        why = (
            _("Type your school's id.")
            if not school
            else _("A school id has at most %(n)s characters.") % {"n": MAX_ID}
        )
        return _sign_in_page(request, 422, why, school[:MAX_ID])
    settings = settings_of(request)
    try:
        Mailer(settings).check()
        limit_sign_in(request, settings, school)
    except ServiceError as exc:
        return _sign_in_page(request, exc.status, exc.detail, school, headers=exc.headers or None)
    background.add_task(send_sign_in_link, settings, registry_of(request), school)
    return _sign_in_page(request, 200, school=school, sent=True)


def send_sign_in_link(settings: Settings, registry: Registry, school_id: str) -> None:
    """Make a link for the school and mail it to its contact (run after the answer; failures are logged)."""
    try:
        link = issue_sign_in_link(settings, registry.sessions, school_id)
    except NotFoundError:
        log.info("sign-in link asked for %r: no such school with a contact address; nothing sent", school_id)
        return
    except Exception:
        log.exception("making a sign-in link for %r failed; nothing sent", school_id)
        return
    try:
        name = registry.profile(school_id).name
    except UnknownSchoolError:
        name = school_id
    try:
        Mailer(settings).send(sign_in_mail(link.email, name, link.url, settings.sign_in_link_minutes))
    except MailError as exc:
        log.error("the sign-in link for %r was not delivered: %s", school_id, exc.detail)


# ---------------------------------------------------------------- use a link
@router.get(SIGN_IN + "/{token}")
def link_page(request: Request, token: str, principal: PrincipalDep) -> Response:
    """The page a mailed link opens: one button that signs in (the link is used up only by that post)."""
    form = form_token(request)
    context = {"token": token, "form_token": form}
    return keep_form_token(request, render(request, "sign_in_link.html", context), form)


@router.post(SIGN_IN + "/{token}")
async def use_link(request: Request, token: str) -> Response:
    """Use the link up and sign in: a new session, then the school's own page."""
    form = await _form(request)
    if form is None or not same_origin(request) or not form_token_ok(request, form.get("form_token")):
        why = _("Open the link from your e-mail again and press the button.")
        return _refused(request, _("The form has expired"), why)
    settings, registry = settings_of(request), registry_of(request)
    try:
        principal = await run_in_threadpool(redeem_sign_in_link, settings, registry.sessions, token)
    except AuthError as exc:
        return _refused(request, _("This link cannot sign you in"), _sentence(exc.detail))
    return await run_in_threadpool(_signed_in, request, principal)


# ---------------------------------------------------------------- the site's token
@router.post(PREFIX + "/session")
async def site_session(request: Request) -> Response:
    """Exchange the Schools Online site's signed token (form field ``token``) for a session.

    Posted by the site from the user's browser (so from the site's origin: the token, signed by the site
    and short-lived, is the proof here, not the origin)."""
    settings = settings_of(request)
    try:
        limit_jwt_exchange(request, settings)
    except ServiceError as exc:
        return error_page(request, exc.status, _("Too many sign-ins"), exc.detail, exc.headers or None)
    form = await _form(request)
    token = (form or {}).get("token", "").strip()
    if not token:
        return _refused(request, _("No sign-in token"), _("The site sent no token (form field “token”)."), 422)
    try:
        principal = verify_site_token(settings, token)
    except AuthError as exc:
        return _refused(request, _("The site's sign-in was refused"), _sentence(exc.detail))
    if principal.school_id not in registry_of(request).index:
        why = _("The site signed you in for %(id)s, which is not registered here.") % {"id": principal.school_id}
        return _refused(request, _("School not registered"), why)
    return await run_in_threadpool(_signed_in, request, principal)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _signed_in(request: Request, principal: Principal) -> Response:
    """Start a new session (ending the browser's old one), set its cookie, go to the school's page."""
    settings, registry = settings_of(request), registry_of(request)
    old = request.cookies.get(SESSION_COOKIE)
    who = principal.who(client_address(request))
    if old:
        end_session(registry.sessions, old)
    session_id, _csrf = start_session(settings, registry.sessions, principal, who=who)
    response = RedirectResponse(f"{PREFIX}/schools/{principal.school_id}", status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, **session_cookie_kwargs(settings, is_https(request)))
    response.delete_cookie(FORM_COOKIE, path=SIGN_IN)
    return response


# ---------------------------------------------------------------- sign out
@router.post(PREFIX + "/sign-out")
async def sign_out(request: Request, principal: PrincipalDep) -> Response:
    """End the session (the form must carry its CSRF token) and forget the cookie."""
    form = await _form(request) or {}
    info = current_session(request)
    if info is not None:
        if not same_origin(request) or not csrf_ok(info, form.get("csrf_token")):
            why = _("Reload the page and press “Sign out” again.")
            return error_page(request, 403, _("The form has expired"), why)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        who = principal.who(client_address(request))
        await run_in_threadpool(end_session, registry_of(request).sessions, cookie, who)
    response = RedirectResponse(f"{SIGN_IN}?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
