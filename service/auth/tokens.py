"""The two ways a school user signs in: a one-time link mailed to the school's contact, and a short-lived
token signed by the Schools Online site (a JWT, EdDSA or RS256, checked against the site's public key)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from service import db, store
from service.auth.principal import Principal
from service.config import Settings
from service.errors import AuthError, NotFoundError
from service.store import Sessions

TOKEN_BYTES = 32
SIGN_IN_PATH = "/ui/sign-in/"
ALLOWED_ALGORITHMS = frozenset({"EdDSA", "RS256"})  # never "none", never a shared-secret HS* algorithm


def digest(secret: str) -> str:
    """The SHA-256 hex digest stored in place of a token or session id."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class SignInLink:
    """A sign-in link just issued: the token (only here, never stored), the URL to mail, the contact address."""

    token: str
    url: str
    email: str
    expires_at: datetime
    school_id: str


def issue_sign_in_link(settings: Settings, sessions: Sessions, school_id: str) -> SignInLink:
    """A new one-time link for the school's registered contact, valid ``sign_in_link_minutes``.

    Raises ``NotFoundError`` if the school is unknown or has no contact address (a page answers the same
    either way, so nobody learns which schools exist)."""
    with sessions.begin(feed=False) as s:
        row = store.schools.row(s, school_id)
        email = row.to_profile().contact_email if row is not None else None
        if not email:
            raise NotFoundError(f"school_id {school_id!r}: no such school with a contact e-mail address")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = db.utcnow() + timedelta(minutes=settings.sign_in_link_minutes)
        store.auth.add_link(s, digest(token), school_id, email, expires)
        store.auth.prune_links(s, db.utcnow() - timedelta(days=1))
    return SignInLink(token, f"{settings.base_url}{SIGN_IN_PATH}{token}", email, expires, school_id)


def redeem_sign_in_link(settings: Settings, sessions: Sessions, token: str) -> Principal:
    """The school user a link signs in (the link is used up); ``AuthError`` 403 if it is unknown, used or expired."""
    now = db.utcnow()
    with sessions.begin(feed=False) as s:
        row = store.auth.link(s, digest(token))
        if row is None:
            raise AuthError(403, "this sign-in link is unknown: ask for a new one")
        if row.used_at is not None:
            raise AuthError(403, "this sign-in link has been used already: ask for a new one")
        if row.expires_at <= now:
            raise AuthError(
                403, f"this sign-in link has expired (links last {settings.sign_in_link_minutes} minutes): ask again"
            )
        if not store.auth.use_link(s, row.token_hash, now):
            raise AuthError(403, "this sign-in link has been used already: ask for a new one")
        return Principal("school", row.school_id, row.email, "session")


def site_public_key(settings: Settings) -> str:
    """The site's public key (PEM): ``site_jwt_public_key`` itself, or the file it names."""
    value = settings.site_jwt_public_key
    if not value:
        raise AuthError(403, "sign-in through the site is not configured (site_jwt_public_key is not set)")
    if "-----BEGIN" in value:
        return value
    path = Path(value)
    if not path.is_file():
        raise AuthError(403, "sign-in through the site is not configured (site_jwt_public_key names no file)")
    return path.read_text(encoding="utf-8")


def verify_site_token(settings: Settings, token: str) -> Principal:
    """The school user a site token names; ``AuthError`` 403 naming the reason if the token is not acceptable.

    Checked: the signature against the site's public key with the configured algorithms only (EdDSA, RS256),
    ``iss``, ``aud``, ``exp`` and ``iat`` present and right, a lifetime of at most ``site_token_max_seconds``,
    and the claims ``school_id`` and ``sub``."""
    if not settings.site_jwt_issuer or not settings.site_jwt_audience:
        raise AuthError(403, "sign-in through the site is not configured (site_jwt_issuer / site_jwt_audience)")
    algorithms = [a for a in settings.site_jwt_algorithms if a in ALLOWED_ALGORITHMS]
    if not algorithms:
        raise AuthError(403, "sign-in through the site is not configured (site_jwt_algorithms: EdDSA or RS256)")
    key = site_public_key(settings)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.site_jwt_audience,
            issuer=settings.site_jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(403, "the site's token has expired") from None
    except jwt.InvalidAudienceError:
        raise AuthError(403, "the site's token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise AuthError(403, "the site's token has the wrong issuer") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(403, f"the site's token uses an algorithm not accepted here (allowed: {algorithms})") from None
    except jwt.InvalidSignatureError:
        raise AuthError(403, "the site's token has a bad signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(403, f"the site's token lacks the {exc.claim!r} claim") from None
    except jwt.PyJWTError as exc:
        raise AuthError(403, f"the site's token is not valid ({type(exc).__name__})") from None
    lifetime = float(claims["exp"]) - float(claims["iat"])
    if lifetime > settings.site_token_max_seconds:
        raise AuthError(
            403, f"the site's token lives {lifetime:.0f} s; at most {settings.site_token_max_seconds} s are accepted"
        )
    school_id, subject = claims.get("school_id"), claims.get("sub")
    if not isinstance(school_id, str) or not school_id or len(school_id) > 64:
        raise AuthError(403, "the site's token lacks a valid 'school_id' claim")
    if not isinstance(subject, str) or not subject:
        raise AuthError(403, "the site's token lacks a valid 'sub' claim")
    return Principal("school", school_id, subject[:320], "session")
